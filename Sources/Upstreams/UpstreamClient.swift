import AsyncHTTPClient
import Dialects
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ProxyConfig

/// The one HTTP client every upstream request goes through: keep-alive pools sized for a
/// gateway's concurrency, the configured timeouts, and the system trust store (plus an
/// optional CA file).
public final class UpstreamClient: Sendable {
    public let http: HTTPClient
    /// The lean pool for plain-HTTP upstreams, when `upstream.fast_path` is on.
    public let pool: HTTP1ConnectionPool?
    let firstByteTimeout: TimeAmount

    public init(config: UpstreamClientConfig, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .milliseconds(Int64(config.connectTimeout * 1000)), read: .milliseconds(Int64(config.idleTimeout * 1000)))
        var connectionPool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: config.maxConnectionsPerHost)
        // A refused connection must fail now, not be retried until the connect timeout:
        // the gateway moves on to another endpoint instead.
        connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool = connectionPool
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .automatic
        if let caFile = config.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caFile)]
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
        firstByteTimeout = .milliseconds(Int64(config.firstByteTimeout * 1000))
        self.pool = config.fastPath
            ? HTTP1ConnectionPool(group: eventLoopGroup, connectTimeout: .milliseconds(Int64(config.connectTimeout * 1000)),
                                  firstByteTimeout: firstByteTimeout, idleTimeout: .milliseconds(Int64(config.idleTimeout * 1000)),
                                  maxIdlePerHost: config.maxConnectionsPerHost)
            : nil
    }

    /// Sends a request and returns once the response head has arrived (or the first-byte
    /// timeout passed). The body then streams from the returned response.
    public func send(_ plan: UpstreamRequestPlan, to base: UpstreamURL, method: HTTPMethod, body: ByteBuffer?) async throws -> UpstreamResponse {
        if let pool, base.scheme == "http" {
            let head = Self.http1Head(plan, base: base, method: method, bodyLength: body?.readableBytes)
            let response = try await pool.execute(host: base.host, port: base.port, head: head, body: body)
            return UpstreamResponse(status: response.head.status, headers: response.head.headers, body: UpstreamBody(.pooled(response.body)))
        }
        var request = HTTPClientRequest(url: plan.url)
        request.method = method
        request.headers.reserveCapacity(plan.headers.count)
        for header in plan.headers { request.headers.add(name: header.name, value: header.value) }
        if let body { request.body = .bytes(body) }
        let response = try await http.execute(request, deadline: .now() + firstByteTimeout)
        return UpstreamResponse(status: response.status, headers: response.headers, body: UpstreamBody(.client(response.body)))
    }

    /// The HTTP/1.1 request head the lean pool sends for `plan`.
    public static func http1Head(_ plan: UpstreamRequestPlan, base: UpstreamURL, method: HTTPMethod, bodyLength: Int?) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(plan.headers.count + 2)
        headers.add(name: "host", value: base.port == 80 ? base.host : "\(base.host):\(base.port)")
        for header in plan.headers { headers.add(name: header.name, value: header.value) }
        if let bodyLength {
            headers.add(name: "content-length", value: String(bodyLength))
        } else if method == .POST || method == .PUT || method == .PATCH {
            headers.add(name: "content-length", value: "0")
        }
        return HTTPRequestHead(version: .http1_1, method: method, uri: plan.target, headers: headers)
    }

    public func shutdown() async throws {
        pool?.shutdown()
        try await http.shutdown()
    }

    /// How an upstream failure reaches the client, and whether another endpoint may be
    /// tried (only when the request cannot have reached the upstream).
    public static func classify(_ error: any Error, endpoint: String) -> (error: GatewayError, retryable: Bool) {
        // The two clients name the same failures differently; each maps onto one message.
        let noHead = GatewayError.gatewayTimeout("The upstream \(endpoint) sent no response within the first-byte timeout")
        let silent = GatewayError.gatewayTimeout("The upstream \(endpoint) stopped sending data (idle timeout)")
        let closed = GatewayError.badGateway("The upstream \(endpoint) closed the connection before answering")
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded: return (noHead, false)
            case .readTimeout: return (silent, false)
            case .connectTimeout, .tlsHandshakeTimeout:
                return (.gatewayTimeout("Connecting to the upstream \(endpoint) timed out"), true)
            case .remoteConnectionClosed: return (closed, false)
            default:
                return (.badGateway("The request to the upstream \(endpoint) failed: \(clientError)"), false)
            }
        }
        if let poolError = error as? PoolError {
            switch poolError {
            case .firstByteTimeout: return (noHead, false)
            case .idleTimeout: return (silent, false)
            case .notSent: return (closed, true)
            case .closedBeforeResponse, .closedMidBody: return (closed, false)
            }
        }
        if error is NIOConnectionError || error is IOError || error is ChannelError {
            return (.badGateway("Cannot connect to the upstream \(endpoint)"), true)
        }
        if error is NIOSSLError {
            return (.badGateway("TLS with the upstream \(endpoint) failed: \(error)"), true)
        }
        return (.badGateway("The request to the upstream \(endpoint) failed: \(error)"), false)
    }
}
