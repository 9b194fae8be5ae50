// Addresses and prefixes are NetPrimitives' types; policies are written in them, so a module that
// reads policies gets them with PolicyLang.
@_exported import NetPrimitives
