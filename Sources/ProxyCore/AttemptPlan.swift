import Dialects
import Upstreams

/// Which endpoint a forwarded request goes to next, and when to stop: the one state machine
/// for endpoint choice, retry, failover and health feedback. It returns actions and keeps
/// no sockets, so every retry rule is tested without a network.
///
/// Rules: at most ``maxAttempts`` endpoints per request, each tried once, chosen by weight
/// among the available ones; a failure moves on only when the request cannot have reached
/// the upstream (refused connect, TLS failure, a pooled connection found closed before a
/// byte went out — which is retried once on a fresh connection to the same endpoint first).
/// Once a response head arrived nothing is retried.
package struct AttemptPlan: Sendable {
    /// Endpoints tried per request: the first choice plus up to two others.
    package static let maxAttempts = 3

    package enum Step: Sendable, Equatable {
        /// Send the request to `endpoint`; `freshConnection` asks for a new connection
        /// instead of an idle pooled one.
        case send(Endpoint, freshConnection: Bool)
        /// Give up and answer the client with this error.
        case fail(GatewayError)

        package static func == (lhs: Step, rhs: Step) -> Bool {
            switch (lhs, rhs) {
            case (.send(let a, let fa), .send(let b, let fb)): return a === b && fa == fb
            case (.fail(let a), .fail(let b)): return a == b
            default: return false
            }
        }
    }

    /// Why an attempt failed before a response head arrived.
    package struct Failure: Sendable {
        package var error: GatewayError
        /// The request cannot have reached the upstream: another endpoint may take it.
        package var retryable: Bool
        /// Not one byte was written (a pooled connection found closed): the same endpoint may
        /// be asked again on a new connection.
        package var notSent: Bool

        package init(error: GatewayError, retryable: Bool, notSent: Bool = false) {
            self.error = error
            self.retryable = retryable
            self.notSent = notSent
        }
    }

    let providers: [Provider]
    let random: @Sendable () -> Double
    package private(set) var tried: [Endpoint] = []
    private var freshRetryUsed = false
    private var lastError: GatewayError?

    package init(providers: [Provider], random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.providers = providers
        self.random = random
    }

    /// The endpoint of the attempt in flight.
    package var current: Endpoint? { tried.last }

    /// The first attempt, or the next after a retryable failure.
    package mutating func next() -> Step {
        guard tried.count < Self.maxAttempts,
              let endpoint = EndpointSelector.pick(from: providers, excluding: tried, random: random()) else {
            if let lastError { return .fail(lastError) }
            let count = providers.reduce(0) { $0 + $1.endpoints.count }
            return .fail(.upstreamUnavailable("All \(count) upstream endpoint(s) for this route are unhealthy; try again shortly"))
        }
        tried.append(endpoint)
        return .send(endpoint, freshConnection: false)
    }

    /// The attempt in flight failed before a response head: what to do instead.
    package mutating func failed(_ failure: Failure) -> Step {
        if failure.notSent, !freshRetryUsed, let endpoint = current {
            freshRetryUsed = true
            return .send(endpoint, freshConnection: true)
        }
        current?.health.recordFailure(failure.error.message)
        lastError = failure.error
        return failure.retryable ? next() : .fail(failure.error)
    }

    /// The attempt in flight got a response head: feeds the endpoint's health.
    package func responded(status: Int, firstByte: Duration) {
        guard let endpoint = current else { return }
        endpoint.health.recordLatency(firstByte)
        if status >= 500 { endpoint.health.recordFailure("HTTP \(status)") } else { endpoint.health.recordSuccess() }
    }

    /// The response broke off after its head (nothing can be retried then).
    package func failedMidResponse(_ error: GatewayError) {
        current?.health.recordFailure(error.message)
    }
}
