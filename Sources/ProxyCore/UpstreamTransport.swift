import NIOCore
import Upstreams

/// How a driver reaches an upstream for one attempt: a pooled HTTP/1.1 connection (plain or
/// TLS) or the in-process mock, behind one interface, so the driver has one code path and
/// tests can script an upstream without a socket.
///
/// Called on `loop`; `started` or `failed` is called on the same loop (inline or later), and
/// the response then goes to `sink` — never before `started`.
package protocol UpstreamTransport: Sendable {
    func send(
        _ attempt: ForwardPlan.Attempt, to endpoint: Endpoint, freshConnection: Bool, on loop: any EventLoop,
        sink: any UpstreamResponseSink, started: @escaping (any UpstreamExchange) -> Void, failed: @escaping (any Error) -> Void)
}

/// The gateway's transport: the lean connection pool for HTTP and HTTPS upstreams, the mock
/// exchange for `mock` providers.
package struct PooledTransport: UpstreamTransport {
    let pool: HTTP1ConnectionPool

    package init(pool: HTTP1ConnectionPool) { self.pool = pool }

    package func send(
        _ attempt: ForwardPlan.Attempt, to endpoint: Endpoint, freshConnection: Bool, on loop: any EventLoop,
        sink: any UpstreamResponseSink, started: @escaping (any UpstreamExchange) -> Void,
        failed: @escaping (any Error) -> Void
    ) {
        if let answer = attempt.mock, let config = attempt.mockConfig {
            started(MockExchange.start(answer, latencyMs: config.latencyMilliseconds, pauseMs: config.chunkDelayMilliseconds, on: loop, sink: sink))
            return
        }
        let lease = freshConnection ? pool.connect(endpoint.baseURL, on: loop) : pool.lease(endpoint.baseURL, on: loop)
        lease.hop(to: loop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let (connection, reused)):
                if let exchange = connection.startExchange(head: attempt.head, body: attempt.body, reused: reused, sink: sink) {
                    started(exchange)
                }
            case .failure(let error):
                failed(error)
            }
        }
    }
}
