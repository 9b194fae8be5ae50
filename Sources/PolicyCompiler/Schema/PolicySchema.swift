import Foundation

/// A JSON Schema (draft-07, which yaml-language-server and most editors read) of a policy
/// file's YAML front, so that editors validate and complete policy files.
///
/// It checks shapes and the form of scalars (names, keys, durations, rates, that a rule line
/// starts with a verdict and has an arrow); the rule language itself is `ztpc check`'s job.
/// Grammar.md §2 is the normative description this follows.
package enum PolicySchema {
    static let name = "^[A-Za-z][A-Za-z0-9_.@-]{0,252}$"
    static let key = "^[A-Za-z0-9+/]{43}=$"
    static let duration = "^[0-9]{1,9}(ms|s|m|h)$"
    static let rate = "^[0-9]{1,8}/[smh]$"
    static let address = "^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"
    static let ruleLine = "^\\s*(allow|deny)\\s.*->"
    static let testLine = "^\\s*(allow|deny)\\s+\\S+\\s*->\\s*\\S+"

    private static func string(_ pattern: String? = nil, _ description: String) -> [String: Any] {
        var s: [String: Any] = ["type": "string", "description": description]
        if let pattern { s["pattern"] = pattern }
        return s
    }

    private static func object(_ properties: [String: [String: Any]], required: [String] = [], description: String) -> [String: Any] {
        var o: [String: Any] = ["type": "object", "properties": properties, "additionalProperties": false, "description": description]
        if !required.isEmpty { o["required"] = required }
        return o
    }

    private static func map(of value: [String: Any], description: String) -> [String: Any] {
        ["type": "object", "propertyNames": ["pattern": name], "additionalProperties": value, "description": description]
    }

    private static func oneOrMany(_ item: [String: Any]) -> [String: Any] {
        ["oneOf": [item, ["type": "array", "items": item, "minItems": 1]]]
    }

    /// The schema as a JSON object.
    package static var document: [String: Any] {
        let address = string(address, "an IPv4 or IPv6 address or CIDR prefix, host bits clear")
        let identity = object(
            [
                "key": string(key, "the WireGuard public key, base64 as `wg pubkey` prints it"),
                "user": string(nil, "the user, matched by user: subjects and by group membership"),
                "tags": ["type": "array", "items": string(name, "a tag"), "description": "matched by tag: subjects and conditions"],
                "allowed_ips": oneOrMany(address).merging(["description": "the peer's tunnel addresses"]) { a, _ in a },
            ], required: ["key"], description: "a WireGuard peer and who holds it")
        let rule: [String: Any] = [
            "oneOf": [
                string(ruleLine, "a rule: allow|deny SUBJECTS -> TARGETS [rate R] [ttl D] [if CONDITION]"),
                object(
                    ["rule": string(ruleLine, "the rule line"), "name": string(name, "the rule's name, for its id POLICY/NAME")],
                    required: ["rule"], description: "a named rule"),
            ]
        ]
        return [
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "https://ztp.example/schemas/policy.schema.json",
            "title": "ztp policy file",
            "type": "object",
            "required": ["policy"],
            "additionalProperties": false,
            "properties": [
                "policy": string(name, "the policy's name: the prefix of its rule ids"),
                "description": string(nil, "free text"),
                "defaults": object(
                    [
                        "cache_ttl": string(duration, "decision lifetime of this file's rules without ttl (5s)"),
                        "rate_limit": string(rate, "evaluations per client of this file, and the rate of its rules without rate (100/s)"),
                    ], description: "defaults for this file only"),
                "identities": map(of: identity, description: "identity name to its key, user and tags"),
                "groups": map(
                    of: ["type": "array", "items": string("^(group:|user:)?\\S.*$", "a user, user:TEXT or group:NAME")],
                    description: "group name to its members"),
                "hosts": map(of: oneOrMany(address), description: "host alias to its addresses and prefixes"),
                "block": ["type": "array", "items": address, "description": "outer source prefixes dropped before the tunnel"],
                "rules": ["type": "array", "items": rule, "description": "the rules, one line of the rule language each"],
                "tests": ["type": "array", "items": string(testLine, "allow|deny PEER -> DESTINATION [at INSTANT]"), "description": "expected decisions"],
            ],
        ]
    }

    /// The schema as pretty-printed JSON text with sorted keys, the same on every run.
    package static var json: String {
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
