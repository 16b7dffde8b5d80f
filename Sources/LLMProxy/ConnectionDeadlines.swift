import NIOCore
import ProxyCore

/// The deadlines of one client connection, decided without sockets: how long it may sit idle
/// between requests, how long a request head may take once its first byte arrived, how long a
/// body may go without progress, and how many parts a body may come in. The HTTP parser
/// enforces none of these; without them a few thousand connections that never finish their
/// headers hold the gateway's file descriptors for ever (slowloris).
///
/// Requests and responses may overlap (a response can end before the client finished sending
/// a body it no longer needs), so the request side and the response side are tracked apart; a
/// connection is between requests only when both are done.
struct ConnectionDeadlines {
    struct Limits: Equatable {
        var head: TimeAmount
        var body: TimeAmount
        var keepAlive: TimeAmount
        var maxBodyParts: Int

        /// Body parts per request. Ten MiB in TCP segments is under ten thousand parts; a
        /// client sending hundreds of thousands of one-byte chunks is wasting our CPU.
        static let defaultMaxBodyParts = 65_536
    }

    enum Expiry: Equatable {
        /// No request started within the keep-alive timeout.
        case idle
        /// A request head did not complete within the head timeout.
        case head
        /// A body went without a byte for the body timeout.
        case body
        /// A body came in more parts than allowed.
        case tooManyParts
    }

    private enum RequestSide: Equatable {
        /// No byte of the next request yet, since `since`.
        case waiting(since: NIODeadline)
        /// Bytes of a head arrived, the first at `since`.
        case head(since: NIODeadline)
        /// Head decoded; the body is arriving.
        case body(lastProgress: NIODeadline, parts: Int)
        /// The request ended.
        case done
    }

    let limits: Limits
    private var request: RequestSide
    /// Whether the response to the current request has ended (or none is due yet).
    private var responseDone = true
    /// Bytes arrived while the previous exchange was still in progress (a pipelined request).
    private var bytesPending = false

    init(limits: Limits, now: NIODeadline) {
        self.limits = limits
        // A new connection is held to the head timeout, not the keep-alive one: a client
        // that connects and says nothing is not keeping anything alive.
        request = .head(since: now)
    }

    /// How often the connection's timer looks at the deadlines: one timer per connection,
    /// never re-armed per request, so the hot path pays nothing for it.
    var checkInterval: TimeAmount { min(limits.head, min(limits.body, limits.keepAlive)) }

    mutating func bytesArrived(at now: NIODeadline) {
        switch request {
        case .waiting: request = .head(since: now)
        case .body(_, let parts): request = .body(lastProgress: now, parts: parts)
        case .done: bytesPending = true
        case .head: break
        }
    }

    mutating func headReceived(at now: NIODeadline) {
        request = .body(lastProgress: now, parts: 0)
        responseDone = false
        bytesPending = false
    }

    /// Returns `.tooManyParts` when the body has come in more parts than allowed.
    mutating func bodyPartReceived(at now: NIODeadline) -> Expiry? {
        guard case .body(_, let parts) = request else { return nil }
        let count = parts + 1
        request = .body(lastProgress: now, parts: count)
        return count > limits.maxBodyParts ? .tooManyParts : nil
    }

    mutating func requestEnded(at now: NIODeadline) {
        request = .done
        if responseDone { betweenRequests(at: now) }
    }

    mutating func responseEnded(at now: NIODeadline) {
        responseDone = true
        if request == .done { betweenRequests(at: now) }
    }

    private mutating func betweenRequests(at now: NIODeadline) {
        request = bytesPending ? .head(since: now) : .waiting(since: now)
        bytesPending = false
    }

    /// When the current phase runs out, or nil while a response is being produced (the
    /// upstream timeouts govern that part).
    var deadline: NIODeadline? {
        switch request {
        case .waiting(let since): return since + limits.keepAlive
        case .head(let since): return since + limits.head
        case .body(let last, _): return last + limits.body
        case .done: return nil
        }
    }

    func expired(at now: NIODeadline) -> Expiry? {
        guard let deadline, now >= deadline else { return nil }
        switch request {
        case .waiting: return .idle
        case .head: return .head
        case .body: return .body
        case .done: return nil
        }
    }

    /// When the connection's timer should next look.
    func nextCheck(at now: NIODeadline) -> NIODeadline {
        let tick = now + checkInterval
        guard let deadline else { return tick }
        return min(tick, max(deadline, now))
    }
}
