import Dialects
import Guards
import HTTPTypes
import NIOCore
import ProxyConfig
import Store

/// What the request log says about one request. Filled in as the request moves along the
/// data path and written once, when the last byte of the response has gone out (or failed).
/// Holds no key, token or body.
package struct RequestRecord: Sendable {
    package let id: String
    package let method: String
    package let path: String
    package let start: ContinuousClock.Instant
    package var dialect: String?
    package var rule: String?
    package var model: String?
    package var endpoint: String?
    package var status: Int = 0
    package var stream = false
    package var bytesIn = 0
    package var bytesOut = 0
    package var firstByte: Duration?
    package var errorCode: ErrorCode?
    package var attempts = 0
    /// Every upstream attempt that did not answer the client, as `endpoint:outcome`
    /// (`openai#0:503`, `anthropic#0:upstream_error`): in the log when there was a retry.
    package var trail: [String] = []
    /// The managed key that opened the request, if one did.
    package var identity: ClientIdentity?
    /// The key check passed (or none was needed). Only such requests are stored as
    /// analytics events: rejections before it are counted by the metrics alone, so
    /// unauthenticated traffic cannot fill the store.
    package var authenticated = false
    /// Wall-clock start, for analytics (ms since 1970).
    package let startMs = WallClock.nowMs()
    package var promptTokens: Int?
    package var completionTokens: Int?
    package var totalTokens: Int?
    /// Input tokens served from the provider's prompt cache (part of `promptTokens`).
    package var cachedTokens: Int?
    /// Output tokens spent reasoning (part of `completionTokens`).
    package var reasoningTokens: Int?
    /// `client→upstream` request shapes when the request was translated (for logs).
    package var translation: String?

    /// The request was refused by a guard: which one (for metrics and the log).
    package var rejectedBy: String?
    /// What the guards took, settled once when the request is accounted for.
    package var reservation: Reservation?
    /// The browser origin the answer allows (CORS), when the request came from one that
    /// `security.cors_origins` lists.
    package var corsOrigin: String?
    /// The prices the request's cost is worked out with (its configuration's).
    package var pricing: PriceTable?
    /// Where the request came from, for the detectors (nil for the HTTP application's own surfaces).
    package var origin: RequestOrigin?
    /// What the response cache did for the request (nil: it was not asked).
    package var cache: CacheStatus?
    /// Time that was not the gateway's: attempts waiting on their upstream (from the send to
    /// its head or its failure) and back-off timers before a retry.
    package var upstreamTime: Duration = .zero
    /// The gateway's own time up to the response head: from arrival to the head leaving,
    /// less ``upstreamTime``. Sent as `x-llmproxy-overhead-ms`, logged as `overhead_ms`.
    package var overhead: Duration?
    /// A streamed answer's head went out (counted by the metrics' active streams until the
    /// record is finished).
    package var streamOpened = false
    /// The request's trace span, when tracing is on (ended by the recorder's trace observer).
    package var span: (any RequestSpan)?
    /// The OpenTelemetry GenAI name of what the request asks (`chat`, `embeddings`,
    /// `generate_content`, `text_completion`); nil for other operations.
    package var genAIOperation: String?

    package enum CacheStatus: String, Sendable {
        /// Answered from the cache: no upstream, no cost.
        case hit
        /// Looked up (or a fresh answer asked for) and forwarded; the answer may be kept.
        case miss
        /// The client said `Cache-Control: no-store`: neither read nor kept.
        case bypass
    }

    /// The request's cost in US dollars, from its tokens; nil when it reported none or the
    /// model has no price.
    package var costUSD: Double? {
        guard let pricing, promptTokens != nil || completionTokens != nil else { return nil }
        // A cached answer costs nothing upstream: its tokens are what the client got.
        if cache == .hit { return 0 }
        return pricing.costIfPriced(model: model, usage: TokenUsage(input: Int64(promptTokens ?? 0), output: Int64(completionTokens ?? 0)))
    }

    /// What the request used, for settling its reservation.
    package var outcome: Reservation.Outcome {
        // A cached answer spends nothing from budgets and token rates.
        let tokens =
            cache == .hit ? 0 : totalTokens ?? ((promptTokens != nil || completionTokens != nil) ? (promptTokens ?? 0) + (completionTokens ?? 0) : nil)
        // The upstream worked when it answered with success (even if the client then left
        // or the stream broke), or when the request was cut off before its head arrived
        // after being sent (an attempt was made and no gateway refusal was recorded).
        let worked = cache != .hit && ((firstByte != nil && status < 400) || (firstByte == nil && attempts > 0 && errorCode == .clientClosed))
        return Reservation.Outcome(tokens: tokens.map(Int64.init), costUSD: costUSD, upstreamWorked: worked)
    }

    /// Takes the token counts a response carried.
    package mutating func take(_ usage: UsageScanner) {
        promptTokens = usage.promptTokens
        completionTokens = usage.completionTokens
        totalTokens = usage.totalTokens
    }

    /// Takes the normalised counts a translated response carried.
    package mutating func take(_ counts: TokenCounts) {
        guard counts.input != nil || counts.output != nil else { return }
        promptTokens = counts.input
        completionTokens = counts.output
        totalTokens = counts.total
        cachedTokens = counts.cachedInput
        reasoningTokens = counts.reasoning
    }

    /// The analytics event for this request.
    package var event: RequestEvent {
        let endMs = startMs + (ContinuousClock.now - start).wholeMilliseconds
        return RequestEvent(
            requestID: id, keyID: identity?.keyID, username: identity?.username, startMs: startMs, endMs: endMs,
            status: status, success: status < 400 && errorCode == nil, model: model, route: rule, upstream: endpoint,
            dialect: dialect, stream: stream, ttfbMs: firstByte.map(Self.milliseconds), promptTokens: promptTokens,
            completionTokens: completionTokens, totalTokens: totalTokens, bytesIn: bytesIn, bytesOut: bytesOut, errorCode: errorCode?.description,
            costUSD: costUSD, cachedTokens: cachedTokens, reasoningTokens: reasoningTokens)
    }

    package init(id: String, method: String, path: String, start: ContinuousClock.Instant) {
        self.id = id
        self.method = method
        self.path = path
        self.start = start
    }

    /// Works out ``overhead`` as the head leaves and writes it to the head's fields (in
    /// milliseconds, rounded as the request log rounds it, so the two agree).
    package mutating func stampOverhead(_ fields: inout HTTPFields, now: ContinuousClock.Instant = .now) {
        let own = max(.zero, now - start - upstreamTime)
        overhead = own
        fields[.xLLMProxyOverhead] = String(Self.milliseconds(own))
    }

    package static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, atto) = duration.components
        return (Double(seconds) * 1000 + Double(atto) / 1e15).rounded(toPlaces: 3)
    }
}

extension Double {
    package func rounded(toPlaces places: Int) -> Double {
        var factor = 1.0
        for _ in 0..<places { factor *= 10 }
        return (self * factor).rounded() / factor
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded toward zero: wall-clock arithmetic in ms
    /// (analytics end times, the cache's stored times).
    package var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
