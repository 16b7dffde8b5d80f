import AsyncHTTPClient
import Dialects
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ProxyConfig

/// The gateway's two HTTP clients, configured alike (timeouts, system trust store plus an
/// optional CA file): the lean pool that carries every forwarded request, and
/// AsyncHTTPClient for background work (health checks, model lists, discovery).
package final class UpstreamClient: Sendable {
    package let http: HTTPClient
    /// The pool every forwarded request goes through, plain HTTP or TLS.
    package let pool: HTTP1ConnectionPool
    let firstByteTimeout: TimeAmount

    package init(config: UpstreamClientConfig, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
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
        self.pool = HTTP1ConnectionPool(
            group: eventLoopGroup, connectTimeout: .milliseconds(Int64(config.connectTimeout * 1000)),
            firstByteTimeout: firstByteTimeout, idleTimeout: .milliseconds(Int64(config.idleTimeout * 1000)),
            maxIdlePerHost: config.maxConnectionsPerHost, caFile: config.caFile)
    }

    /// The HTTP/1.1 request head the lean pool sends for `plan`.
    package static func http1Head(_ plan: UpstreamRequestPlan, base: UpstreamURL, method: HTTPMethod, bodyLength: Int?) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(plan.headers.count + 2)
        headers.add(name: "host", value: base.hostHeader)
        for header in plan.headers { headers.add(name: header.name, value: header.value) }
        if let bodyLength {
            headers.add(name: "content-length", value: String(bodyLength))
        } else if method == .POST || method == .PUT || method == .PATCH {
            headers.add(name: "content-length", value: "0")
        }
        return HTTPRequestHead(version: .http1_1, method: method, uri: plan.target, headers: headers)
    }

    package func shutdown() async throws {
        pool.shutdown()
        try await http.shutdown()
    }

    /// How an upstream failure reaches the client, and whether another endpoint may be
    /// tried (only when the request cannot have reached the upstream).
    package static func classify(_ error: any Error, endpoint: String) -> (error: GatewayError, retryable: Bool) {
        // Forwarded requests fail only in the pool (PoolError) or below it (NIO, TLS).
        let noHead = GatewayError.gatewayTimeout("The upstream \(endpoint) sent no response within the first-byte timeout")
        let silent = GatewayError.gatewayTimeout("The upstream \(endpoint) stopped sending data (idle timeout)")
        let closed = GatewayError.badGateway("The upstream \(endpoint) closed the connection before answering")
        if let poolError = error as? PoolError {
            switch poolError {
            case .firstByteTimeout: return (noHead, false)
            case .idleTimeout: return (silent, false)
            case .notSent: return (closed, true)
            case .closedBeforeResponse, .closedMidBody: return (closed, false)
            case .handshakeTimeout: return (.gatewayTimeout("The TLS handshake with the upstream \(endpoint) timed out"), true)
            case .nonPublicAddress:
                return (.hostNotAllowed("The upstream \(endpoint) resolves to a private or loopback address, which this route may not reach"), false)
            }
        }
        if error is NIOConnectionError || error is IOError || error is ChannelError {
            return (.badGateway("Cannot connect to the upstream \(endpoint)"), true)
        }
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return (.badGateway("TLS with the upstream \(endpoint) failed: \(error)"), true)
        }
        return (.badGateway("The request to the upstream \(endpoint) failed: \(error)"), false)
    }
}
