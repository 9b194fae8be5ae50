import PolicyLang
