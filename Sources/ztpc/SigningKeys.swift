import PolicyCompiler

/// The keys of every `--sign PATH`, read before anything else is done, so that a refused key file
/// (missing, readable by others, not a key) stops the command before it compiles, writes or asks
/// etcd anything. Shared by `compile` and `publish`.
func loadSigningKeys(_ paths: [String]) throws -> [SigningKey] {
    try paths.map { path in
        do {
            return try SigningKey(keyFile: path)
        } catch {
            throw UsageFailure("--sign: \(error)")
        }
    }
}
