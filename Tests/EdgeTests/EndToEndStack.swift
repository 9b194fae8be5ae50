import EtcdTestSupport
import Foundation
import NetTestSupport
import XCTest

/// The whole product in network namespaces, for the end-to-end tests:
///
/// ```
///  alice   (wireguard-go, 10.99.0.2) 172.31.1.1 ── 172.31.1.2 ┐
///  bob     (ztpd client,  10.99.0.3) 172.31.2.1 ── 172.31.2.2 ├ edge (ztpd + policy, 10.99.0.1) 10.10.0.1 ── 10.10.0.7 origin
///  mallory (wireguard-go, 10.99.0.9) 172.31.3.1 ── 172.31.3.2 ┘
/// ```
///
/// The edge runs ztpd with a policy directory written here (fresh keys from `wg genkey`;
/// alice and bob are identities with `allowed_ips`, so ztpd adds them as peers; mallory is
/// not in the policy) and forwards between its tunnel and the origin, which runs TCP echo
/// servers on 10.10.0.7:5432, :22, :7000 and :8080 and a UDP echo on :53, and routes the
/// tunnel subnet back via the edge. Clients reach 10.10.0.0/24 through their tunnel.
/// The edge's XDP guard is attached to its link to alice (`to-alice`), and the policy blocks
/// 172.31.1.64/26 there: every test's traffic from alice crosses the XDP program.
final class EndToEndStack: @unchecked Sendable {
    static let db = "10.10.0.7"
    static let edgePort = 51820
    /// Outer sources the policy blocks (on alice's link), and one inside them.
    static let blockedPrefix = "172.31.1.64/26"
    static let blockedSource = "172.31.1.66"
    /// A second address of alice's namespace that floods the edge's port.
    static let flooderSource = "172.31.1.50"

    let lab: NetworkLab
    let ztpc: String
    let alice: WireGuardKeyPair
    let bob: WireGuardKeyPair
    let mallory: WireGuardKeyPair
    let edgeKeys: WireGuardKeyPair
    let edgeInterface: String
    let aliceInterface: String
    let bobInterface: String
    let malloryInterface: String
    let policyDirectory: String
    let controlSocket: String
    let decisionLogPath: String

    /// How the edge's outputs are wired.
    struct Options {
        /// The decision log is a FIFO the test reads (``decisionLogReader``) instead of a file.
        var decisionLogFIFO = false
        /// The edge's standard output and error go to ``edgeOutput`` instead of `edge.log`.
        var edgeOutputPipe = false
        /// The edge follows a fleet instead of reading the policy directory: a 3-member etcd
        /// cluster runs in the edge's namespace (on its loopback), the base policy is published
        /// to it with `ztpc publish` before the edge starts, and the edge starts with `etcd:` in
        /// its daemon config and no local policy, so its first bundle comes from etcd.
        var followsFleet = false
    }

    /// With ``Options/followsFleet``: the fleet's etcd cluster, inside the edge's namespace.
    private(set) var etcd: EtcdCluster?

    let options: Options
    /// The edge's ztpd process.
    private(set) var edgeProcess: Process?
    /// With ``Options/edgeOutputPipe``: the pipe the edge logs into.
    let edgeOutput = Pipe()
    /// With ``Options/decisionLogFIFO``: the read end of the FIFO, opened before the edge starts
    /// (non-blocking), so that the edge's open for writing does not wait.
    private(set) var decisionLogReader: Int32 = -1

    /// The policy the tests start from; a test that changes it puts it back.
    var basePolicy: String { policy() }

    /// The policy text, with `extraRules` (YAML list items, indented by two) after the base rules.
    func policy(extraRules: [String] = []) -> String {
        """
        policy: e2e
        defaults:
          cache_ttl: 5s
          rate_limit: 1000/s
        identities:
          alice: { key: "\(alice.publicKey)", user: alice@example.com, tags: [managed], allowed_ips: 10.99.0.2/32 }
          bob:   { key: "\(bob.publicKey)", user: bob@example.com, tags: [unmanaged], allowed_ips: 10.99.0.3/32 }
        groups:
          eng: [alice@example.com, bob@example.com]
        hosts:
          db: \(Self.db)
        block:
          - \(Self.blockedPrefix)
        rules:
          - name: db-managed
            rule: allow group:eng -> db:5432/tcp if tag:managed
          - name: no-ssh
            rule: deny group:eng -> db:22/tcp
          - name: dns
            rule: allow group:eng -> db:53/udp
          - name: ping
            rule: allow group:eng -> db:*/icmp
          - name: flood
            rule: allow user:alice@example.com -> db:7000/tcp rate 5/s
        \(extraRules.map { "  " + $0 }.joined(separator: "\n"))
        tests:
          - allow alice -> \(Self.db):5432/tcp
          - deny bob -> \(Self.db):5432/tcp
          - deny alice -> \(Self.db):22/tcp

        """
    }

    init(options: Options = Options()) throws {
        self.options = options
        let tools = try NetEnvironment.require(
            tools: ["ip", "wg", "wireguard-go", "ping", "python3", "sysctl"], for: "END-TO-END TEST")
        let ztpd = try NetEnvironment.builtProduct("ztpd")
        ztpc = try NetEnvironment.builtProduct("ztpc")
        alice = try .generate()
        bob = try .generate()
        mallory = try .generate()
        edgeKeys = try .generate()
        lab = try NetworkLab(roles: ["alice", "bob", "mallory", "edge", "origin"])
        let s = lab.suffix
        edgeInterface = "ztpe\(s)"
        aliceInterface = "wga\(s)"
        bobInterface = "ztpb\(s)"
        malloryInterface = "wgm\(s)"
        policyDirectory = lab.path("policies")
        controlSocket = lab.path("edge.sock")
        decisionLogPath = lab.path("decisions.jsonl")
        do {
            try build(ztpd: ztpd, wireguardGo: tools["wireguard-go"]!)
        } catch {
            lab.tearDown()
            throw error
        }
    }

    private func build(ztpd: String, wireguardGo: String) throws {
        // Underlay and origin links; only the edge forwards.
        try lab.link("alice", "172.31.1.1/24", "edge", "172.31.1.2/24")
        try lab.link("bob", "172.31.2.1/24", "edge", "172.31.2.2/24")
        try lab.link("mallory", "172.31.3.1/24", "edge", "172.31.3.2/24")
        try lab.link("edge", "10.10.0.1/24", "origin", "\(Self.db)/24")
        try lab.route("origin", ["10.99.0.0/24", "via", "10.10.0.1"])
        try lab.sysctl("edge", "net.ipv4.ip_forward", "1")

        _ = try lab.write("origin.py", Self.originScript)
        _ = try lab.write("probe.py", Self.probeScript)
        try lab.spawn("origin", ["python3", lab.path("origin.py"), Self.db, "5432", "22", "7000", "8080"], log: "origin.log")

        // The edge.
        _ = try lab.write("policies/e2e.yaml", basePolicy)
        let key = try lab.write("edge.key", edgeKeys.privateKey + "\n")
        if options.decisionLogFIFO {
            guard mkfifo(decisionLogPath, 0o600) == 0 else { throw NetLabError("mkfifo \(decisionLogPath): errno \(errno)") }
            decisionLogReader = open(decisionLogPath, O_RDONLY | O_NONBLOCK)
            guard decisionLogReader >= 0 else { throw NetLabError("open \(decisionLogPath): errno \(errno)") }
        }
        var policySource = ["--policies", policyDirectory]
        if options.followsFleet {
            let cluster = try EtcdCluster.start(size: 3, namespace: lab.namespace("edge"))
            etcd = cluster
            try publish()
            try FileManager.default.createDirectory(atPath: lab.path("state"), withIntermediateDirectories: true)
            let config = try lab.write("edge.yaml", """
                state_dir: \(lab.path("state"))
                etcd:
                  endpoints: [\(cluster.clientURLs.joined(separator: ", "))]
                  name: e2e-edge

                """)
            policySource = ["--daemon-config", config]
        }
        let edge = try lab.spawn(
            "edge",
            [
                ztpd, edgeInterface, "--foreground", "--private-key", key, "--listen-port", "\(Self.edgePort)",
            ] + policySource + [
                "--address", "10.99.0.1/24", "--metrics", "127.0.0.1:9586", "--control-socket", controlSocket,
                "--decision-log", decisionLogPath, "--allow-log-sample", "1", "--log-level", "debug",
                "--xdp-interface", "to-alice",
            ], log: "edge.log", output: options.edgeOutputPipe ? edgeOutput : nil)
        edgeProcess = edge
        if options.edgeOutputPipe { startRelayingEdgeOutput() }
        guard eventually(15, { FileManager.default.fileExists(atPath: controlSocket) || !edge.isRunning }), edge.isRunning
        else { throw NetLabError("the edge's ztpd did not start:\n\(lab.log("edge.log"))") }

        // alice: wireguard-go, configured with wg.
        try startWireGuardGo("alice", interface: aliceInterface, keys: alice, address: "10.99.0.2/24",
                             endpoint: "172.31.1.2:\(Self.edgePort)", binary: wireguardGo)
        // mallory: wireguard-go too; the edge learns its key only through UAPI, in the test that needs it.
        try startWireGuardGo("mallory", interface: malloryInterface, keys: mallory, address: "10.99.0.9/24",
                             endpoint: "172.31.3.2:\(Self.edgePort)", binary: wireguardGo)

        // bob: ztpd as a plain WireGuard client from a wg-style file.
        let bobConfig = try lab.write("bob.conf", """
            [Interface]
            PrivateKey = \(bob.privateKey)

            [Peer]
            PublicKey = \(edgeKeys.publicKey)
            Endpoint = 172.31.2.2:\(Self.edgePort)
            AllowedIPs = 10.99.0.1/32, 10.10.0.0/24

            """)
        let bobProcess = try lab.spawn("bob", [ztpd, bobInterface, "--foreground", "--config", bobConfig, "--address", "10.99.0.3/24"], log: "bob.log")
        let bobSocket = "/var/run/wireguard/\(bobInterface).sock"
        guard eventually(15, { FileManager.default.fileExists(atPath: bobSocket) || !bobProcess.isRunning }), bobProcess.isRunning
        else { throw NetLabError("bob's ztpd did not start:\n\(lab.log("bob.log"))") }
        try lab.route("bob", ["10.10.0.0/24", "dev", bobInterface])

        // Sessions up before any test: both clients reach the origin.
        for who in ["alice", "bob"] {
            guard eventually(15, { (try? lab.exec(who, ["ping", "-c", "1", "-W", "1", Self.db]).succeeded) == true }) else {
                throw NetLabError("\(who) cannot ping the origin through the edge\(diagnostics())")
            }
        }
    }

    private func startWireGuardGo(
        _ role: String, interface: String, keys: WireGuardKeyPair, address: String, endpoint: String, binary: String
    ) throws {
        let process = try lab.spawn(role, [binary, interface], log: "\(role).log", environment: ["WG_PROCESS_FOREGROUND": "1"])
        let socket = "/var/run/wireguard/\(interface).sock"
        guard eventually(10, { FileManager.default.fileExists(atPath: socket) || !process.isRunning }), process.isRunning else {
            throw NetLabError("wireguard-go did not start for \(role):\n\(lab.log("\(role).log"))")
        }
        let key = try lab.write("\(role).key", keys.privateKey + "\n")
        let set = try lab.exec(role, [
            "wg", "set", interface, "private-key", key, "peer", edgeKeys.publicKey, "endpoint", endpoint,
            "allowed-ips", "10.99.0.1/32,10.10.0.0/24",
        ])
        guard set.succeeded else { throw NetLabError("wg set for \(role): \(set)") }
        try lab.ip(["-n", lab.namespace(role), "addr", "add", address, "dev", interface])
        try lab.ip(["-n", lab.namespace(role), "link", "set", interface, "up"])
        try lab.route(role, ["10.10.0.0/24", "dev", interface])
    }

    func tearDown() {
        lab.tearDown()
        etcd?.shutdown()
        etcd = nil
        if decisionLogReader >= 0 { close(decisionLogReader) }
        decisionLogReader = -1
    }

    private let relayLock = NSLock()
    private var relayStop = false
    private let relayDone = DispatchSemaphore(value: 0)

    /// Copies the edge's output pipe into `edge.log` until ``hangUpEdgeOutput()``, so that the
    /// pipe never fills while the test wants the edge to write freely.
    private func startRelayingEdgeOutput() {
        let fd = edgeOutput.fileHandleForReading.fileDescriptor
        let log = lab.path("edge.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil, attributes: [.posixPermissions: 0o600])
        let thread = Thread { [self] in
            let out = FileHandle(forWritingAtPath: log)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                relayLock.lock()
                let stop = relayStop
                relayLock.unlock()
                if stop { break }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 100) > 0 else { continue }
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                try? out?.write(contentsOf: Data(buffer[0..<n]))
            }
            try? out?.close()
            relayDone.signal()
        }
        thread.start()
    }

    /// Stops reading the edge's output and closes the only read end of its pipe: every later
    /// write of the edge to standard output or error meets a pipe with no reader (EPIPE).
    func hangUpEdgeOutput() {
        relayLock.lock()
        relayStop = true
        relayLock.unlock()
        relayDone.wait()
        try? edgeOutput.fileHandleForReading.close()
    }

    /// Closes the test's read end of the decision-log FIFO: from then on nobody reads it.
    func closeDecisionLogReader() {
        if decisionLogReader >= 0 { close(decisionLogReader) }
        decisionLogReader = -1
    }

    // MARK: Traffic (each bounded by its timeout)

    /// A TCP connection from `who` to the origin, one byte sent and echoed; true on success.
    func tcp(_ who: String, port: Int, timeout: Double = 1.5) throws -> Bool {
        try probe(who, ["tcp", Self.db, "\(port)", "\(timeout)"]).succeeded
    }

    /// A UDP datagram from `who` to the origin's echo on :53; true if it came back.
    func udp(_ who: String, timeout: Double = 1.5) throws -> Bool {
        try probe(who, ["udp", Self.db, "53", "\(timeout)"]).succeeded
    }

    func probe(_ who: String, _ arguments: [String], timeout: Double = 20) throws -> Command.Result {
        try lab.exec(who, ["python3", lab.path("probe.py")] + arguments, timeout: timeout)
    }

    // MARK: Observing the edge

    /// `ztpc status --json`, parsed.
    func status() throws -> [String: Any] {
        let r = try Command.run(ztpc, ["status", "--socket", controlSocket, "--json"], timeout: 10)
        guard r.succeeded, let doc = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any] else {
            throw NetLabError("ztpc status --json: \(r)")
        }
        return doc
    }

    /// `ztpc status` as a person reads it.
    func statusText() throws -> String {
        try Command.run(ztpc, ["status", "--socket", controlSocket], timeout: 10).output
    }

    func policyCounter(_ key: String) throws -> Int {
        (try status()["policy"] as? [String: Any])?[key] as? Int ?? -1
    }

    func dropped(_ reason: String) throws -> Int {
        ((try status()["decisions"] as? [String: Any])?["dropped"] as? [String: Any])?[reason] as? Int ?? 0
    }

    /// The Prometheus text from the edge's metrics endpoint (127.0.0.1 inside the edge namespace).
    func metrics() throws -> String {
        let r = try lab.exec("edge", [
            "python3", "-c",
            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9586/metrics', timeout=3).read().decode())",
        ], timeout: 10)
        guard r.succeeded else { throw NetLabError("metrics: \(r)") }
        return r.output
    }

    /// The value of a metric line that starts with `series` (name and labels), or nil.
    func metric(_ series: String) throws -> Double? {
        try metrics().split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// The XDP program's counters on the edge, by reason (`drop_blocked`, `pass_transport`, ...).
    func xdpCounters() throws -> [String: Int] {
        ((try status()["xdp"] as? [String: Any])?["counters"] as? [String: Any] ?? [:]).compactMapValues { $0 as? Int }
    }

    /// The decision log's records.
    func decisions() -> [[String: Any]] {
        lab.log("decisions.jsonl").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    // MARK: Policy edits

    /// Writes the policy file as an editor would (a new file renamed over the old one) and waits
    /// up to 5 s for the edge to load it (`expectLoad`) or refuse it. Returns the seconds between
    /// the write and the moment status showed the outcome.
    @discardableResult
    func writePolicy(_ text: String, expectLoad: Bool = true) throws -> Double {
        let generation = try policyCounter("generation"), failures = try policyCounter("reload_failures")
        let t0 = Date()
        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(policyDirectory)/e2e.yaml"), options: .atomic)
        let seen = try eventually(5) {
            expectLoad ? try policyCounter("generation") > generation : try policyCounter("reload_failures") > failures
        }
        guard seen else {
            throw NetLabError("the edge did not \(expectLoad ? "load" : "refuse") the edited policy within 5 s\(diagnostics())")
        }
        return Date().timeIntervalSince(t0)
    }

    /// Puts the base policy back if the file differs from it.
    /// With ``Options/followsFleet``: `ztpc publish` of the policy directory to the fleet, run in
    /// the edge's namespace (where etcd listens); returns when publish has returned.
    func publish() throws {
        guard let etcd else { throw NetLabError("publish: this stack does not follow a fleet") }
        let result = try lab.exec("edge", [ztpc, "publish", policyDirectory, "--etcd", etcd.clientURLs.joined(separator: ",")], timeout: 60)
        guard result.succeeded else { throw NetLabError("ztpc publish: \(result)") }
    }

    func restoreBasePolicy() throws {
        let current = try? String(contentsOfFile: "\(policyDirectory)/e2e.yaml", encoding: .utf8)
        if current != basePolicy { try writePolicy(basePolicy) }
    }

    func diagnostics() -> String {
        ["edge.log", "bob.log", "alice.log", "mallory.log", "origin.log"].map { "\n--- \($0) ---\n\(lab.log($0).suffix(6000))" }
            .joined()
    }

    // MARK: Scripts

    /// The origin: a TCP echo server on each port given, a UDP echo on :53.
    static let originScript = #"""
        import socket, sys, threading
        host, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
        def tcp(port):
            l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind((host, port)); l.listen(128)
            while True:
                c, _ = l.accept()
                threading.Thread(target=echo, args=(c,), daemon=True).start()
        def echo(c):
            c.settimeout(30)
            try:
                while True:
                    data = c.recv(64)
                    if not data: break
                    c.sendall(data)
            except OSError: pass
            finally: c.close()
        def udp():
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((host, 53))
            while True:
                data, peer = u.recvfrom(2048); u.sendto(data, peer)
        for p in ports: threading.Thread(target=tcp, args=(p,), daemon=True).start()
        threading.Thread(target=udp, daemon=True).start()
        print("origin up", flush=True)
        threading.Event().wait()
        """#

    /// Client probes. `tcp HOST PORT TIMEOUT`: connect, send one byte, read it back.
    /// `udp HOST PORT TIMEOUT`: one datagram echoed. `flood HOST PORT N WAIT`: N connects
    /// started at once, counted after WAIT seconds. `until HOST PORT DEADLINE`: fresh connects
    /// (0.1 s each) until one works; prints the wall-clock time it did. `hold HOST PORT FILE`:
    /// connect and exchange a byte, print "held", wait for FILE to exist, then send another byte
    /// and print "cut" (exit 0) if no echo comes back within 1.5 s, "echoed" (exit 1) if one does.
    static let probeScript = #"""
        import select, socket, sys, time
        mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        def tcp(timeout):
            try:
                s = socket.create_connection((host, port), timeout=timeout)
                s.sendall(b"z"); ok = s.recv(1) == b"z"; s.close(); return ok
            except OSError as e:
                return False
        if mode == "tcp":
            ok = tcp(float(sys.argv[4])); print("tcp ok" if ok else "tcp failed"); sys.exit(0 if ok else 1)
        if mode == "udp":
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(float(sys.argv[4]))
            try:
                u.sendto(b"ping", (host, port)); ok = u.recvfrom(64)[0] == b"ping"
            except OSError:
                ok = False
            print("udp ok" if ok else "udp failed"); sys.exit(0 if ok else 1)
        if mode == "flood":
            n, wait = int(sys.argv[4]), float(sys.argv[5])
            socks = []
            for _ in range(n):
                s = socket.socket(); s.setblocking(False)
                s.connect_ex((host, port)); socks.append(s)
            deadline = time.time() + wait
            pending = set(socks); connected = 0
            while pending and time.time() < deadline:
                _, w, _ = select.select([], list(pending), [], max(0, deadline - time.time()))
                for s in w:
                    pending.discard(s)
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0: connected += 1
            for s in socks: s.close()
            print("connected %d of %d" % (connected, n)); sys.exit(0)
        if mode == "until":
            deadline = time.time() + float(sys.argv[4])
            while time.time() < deadline:
                if tcp(0.1):
                    print("connected at %.3f" % time.time()); sys.exit(0)
            print("never connected"); sys.exit(1)
        if mode == "hold":
            import os
            s = socket.create_connection((host, port), timeout=2); s.sendall(b"a")
            if s.recv(1) != b"a": print("no first echo"); sys.exit(2)
            print("held", flush=True)
            deadline = time.time() + 20
            while not os.path.exists(sys.argv[4]):
                if time.time() > deadline: print("no trigger"); sys.exit(2)
                time.sleep(0.02)
            s.settimeout(1.5); s.sendall(b"b")
            try:
                echoed = s.recv(1) == b"b"
            except OSError:
                echoed = False
            print("echoed" if echoed else "cut"); sys.exit(1 if echoed else 0)
        """#
}
