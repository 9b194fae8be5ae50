import Edge
import Tunnel

extension FuzzTargets {
    /// The daemon's two configuration parsers on the same text: the YAML edge configuration
    /// (`EdgeConfig.parse`) and the wg-style tunnel configuration (`TunnelConfiguration(parsing:)`).
    /// The seed corpus holds both kinds.
    ///
    /// Invariants: an error names the file (edge) or a line the text has, or 0 for the whole file (tunnel); an accepted
    /// configuration holds only values inside the ranges the parser promises.
    public static func daemonConfig(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let path = "fuzz.yaml"
        do {
            let c = try EdgeConfig.parse(text, path: path)
            precondition((1...15).contains(c.interface.utf8.count) && !c.interface.contains("/"), "bad interface name accepted")
            precondition(c.listenPort >= 1 && (16...(1 << 24)).contains(c.cacheSize), "out-of-range number accepted")
            precondition((1...1_000_000).contains(c.allowLogSample) && (0...60_000).contains(c.coalesceWindowMilliseconds)
                && (0...1_000).contains(c.maxCoalescedHandshakes) && (0...65_535).contains(c.persistentKeepaliveSeconds),
                "out-of-range number accepted")
            precondition(c.policies == nil || c.bundle == nil, "both policies and bundle accepted")
            precondition(c.trustedPublishers == nil || c.policies == nil, "trusted_publishers accepted with a policy directory")
            precondition(c.stateDirectory.hasPrefix("/"), "relative state_dir accepted")
            precondition(c.xdp.map { !$0.interface.isEmpty } ?? true, "xdp without interface accepted")
        } catch {
            precondition(error.description.hasPrefix(path), "edge config error does not name the file: \(error)")
        }

        let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
        do {
            let c = try TunnelConfiguration(parsing: text)
            precondition(c.mtu.map { (576...65535).contains($0) } ?? true, "bad MTU accepted")
        } catch {
            // Line 0 stands for the whole file (no [Interface] PrivateKey).
            precondition((0...lineCount).contains(error.line), "tunnel config error at a line the text lacks: \(error)")
        }
    }
}
