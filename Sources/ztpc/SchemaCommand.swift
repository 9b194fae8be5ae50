import ArgumentParser
import PolicyCompiler

/// `ztpc schema`: the JSON Schema of policy files, for editors.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print a JSON Schema (draft-07) of policy files, for editors to validate and complete them.",
        discussion: """
            With yaml-language-server (VS Code's YAML extension, Neovim, Helix): save it, e.g. \
            ztpc schema > ztp-policy.schema.json, and start each policy file with \
            '# yaml-language-server: $schema=./ztp-policy.schema.json', or map policies/*.yaml to it \
            in the editor's yaml.schemas setting. The schema checks the YAML front; ztpc check checks the rules.
            """)

    func run() throws {
        Console.out(PolicySchema.json)
    }
}
