import SystemSupport

/// Serves `GET /metrics` (and `/`) in the Prometheus text format on a TCP address; 404 for
/// other paths. Clients are served concurrently, each within `requestTimeout` from accept to
/// the last byte of the answer, so idle or slow connections never hold up a scrape.
///
/// Why no HTTP server library: FlyingFox 0.27.1 (the small, dependency-free one on this
/// machine's package list) bounds neither the request line nor the header size (its line reader
/// grows without limit), has no deadline for reading a request (its timeout covers only the
/// handler) and no cap on connections, and keeps idle keep-alive connections open forever:
/// the very problems of issue 15 item 4. Hummingbird 2 would do, but brings SwiftNIO and
/// minutes of build time for one GET route. A request-head parser over SystemSupport's bounded
/// line reader (``HTTPRequestHead``) is about sixty lines and has exactly those limits.
package final class MetricsHTTPServer: Sendable {
    private let render: @Sendable () -> [UInt8]
    private let server: StreamServer
    /// The address asked for.
    package let address: HostPort
    /// The port listened on (the kernel's choice when `address` names port 0).
    package let port: UInt16

    /// Listens on `address`; `render` produces the metrics text for each scrape.
    /// - Parameters:
    ///   - maxConnections: connections served at once; more are closed at once. Enough for a
    ///     few hundred idle connections without turning scrapes away.
    /// - Throws: ``IOError`` when the address is not numeric or cannot be bound.
    package init(
        address: HostPort, requestTimeout: Duration = .seconds(5), maxConnections: Int = 512,
        render: @escaping @Sendable () -> [UInt8]
    ) throws(IOError) {
        self.address = address
        self.render = render
        let listener = try TCPListener(host: address.host, port: address.port, backlog: 256)
        port = listener.port
        server = StreamServer(
            listener: listener, name: "ztp-metrics", maxConnections: maxConnections, requestTimeout: requestTimeout
        ) { connection in
            Self.answer(connection, render: render)
        }
    }

    /// Starts serving on a thread of its own.
    package func start() { server.start() }

    /// Stops accepting and ends the connections in progress.
    package func stop() { server.stop() }

    /// One request per connection, answered with `Connection: close`.
    private static func answer(_ connection: Connection, render: () -> [UInt8]) {
        let response: [UInt8]
        do {
            let head = try HTTPRequestHead.read(from: connection)
            switch (head.method, head.path) {
            case ("GET", "/metrics"), ("GET", "/"), ("HEAD", "/metrics"), ("HEAD", "/"):
                let body = render()
                let header = Self.header(
                    "200 OK", contentLength: body.count, extra: "Content-Type: text/plain; version=0.0.4\r\n")
                response = header + (head.method == "HEAD" ? [] : body)
            case (_, "/metrics"), (_, "/"):
                response = Self.header("405 Method Not Allowed", contentLength: 0, extra: "Allow: GET, HEAD\r\n")
            default:
                response = Self.header("404 Not Found", contentLength: 0)
            }
        } catch HTTPRequestHead.Failure.malformed {
            response = Self.header("400 Bad Request", contentLength: 0)
        } catch HTTPRequestHead.Failure.tooLarge {
            response = Self.header("431 Request Header Fields Too Large", contentLength: 0)
        } catch {
            return
        }
        try? connection.write(response)
    }

    private static func header(_ status: String, contentLength: Int, extra: String = "") -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\n\(extra)Content-Length: \(contentLength)\r\nConnection: close\r\n\r\n".utf8)
    }
}
