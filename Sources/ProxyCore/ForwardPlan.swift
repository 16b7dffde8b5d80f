import Dialects
import HTTPTypes
import NIOCore
import NIOHTTP1
import ProxyConfig
import Store
import Upstreams

/// An admitted request on its way to an upstream: what to send to each endpoint the attempt
/// plan picks, which stages the response passes through, and the record being filled in.
/// Owned by one driver on one event loop (a class so the driver's per-chunk updates touch a
/// counter, not a copy).
package final class ForwardPlan: @unchecked Sendable {
    package var record: RequestRecord
    package let state: GatewayState
    package let admission: Admission
    package var attempts: AttemptPlan
    /// What is sent for each model the request may be answered by: the one the client asked
    /// for, then its fallbacks (`routing.fallbacks`), each with its own model name in the body.
    package let legs: [Leg]

    /// Came through the tunnel: sent to the URL the client named, untranslated (see
    /// ``UpstreamRequestPlan/init(endpoint:dialect:path:query:clientHeaders:extraHeaders:requestID:tunnel:)``).
    let tunnel: Bool

    /// One model of the chain and its request.
    package struct Leg: Sendable {
        package var model: String?
        package var providers: [Provider]
        /// The path on the route (alias rewrites applied), without query.
        var path: String
        var body: ByteBuffer?
        /// The body asking an OpenAI-compatible upstream for stream usage, when the client
        /// streams without having asked; the extra chunk is then filtered out of the response.
        var bodyWithUsage: ByteBuffer?

        package init(model: String?, providers: [Provider], path: String, body: ByteBuffer?, bodyWithUsage: ByteBuffer?) {
            self.model = model
            self.providers = providers
            self.path = path
            self.body = body
            self.bodyWithUsage = bodyWithUsage
        }
    }

    /// The cached answer the request gets instead of an upstream's (``ForwardExchange`` replays it).
    package let cacheHit: ResponseCache.Entry?
    /// Where a complete answer is kept for later requests, and for how long; nil when it is not.
    package let cacheFill: CacheFillPlan?

    /// The cache key and time to live of a request whose answer may be kept.
    package struct CacheFillPlan: Sendable {
        package var cache: ResponseCache
        package var key: CacheKey
        package var ttl: Duration
        package var maxEntryBytes: Int
    }

    init(
        record: RequestRecord, state: GatewayState, admission: Admission, legs: [Leg], tunnel: Bool = false, affinity: UInt64? = nil,
        cacheHit: ResponseCache.Entry? = nil, cacheFill: CacheFillPlan? = nil
    ) {
        self.tunnel = tunnel
        self.cacheHit = cacheHit
        self.cacheFill = cacheFill
        self.record = record
        self.state = state
        self.admission = admission
        self.legs = legs
        let idempotent = admission.method == .get || admission.method == .head || admission.headers[HTTPField.Name("idempotency-key")!] != nil
        self.attempts = AttemptPlan(
            providers: legs[0].providers, fallbacks: legs.dropFirst().map(\.providers), policy: state.retryPolicy(leading: legs[0].providers.first), idempotent: idempotent,
            start: record.start, affinity: affinity)
    }

    /// The leg being tried.
    var leg: Leg { legs[attempts.leg] }

    package var dialect: Dialect { admission.operation.dialect }

    /// What goes to `endpoint`, and the response stages for that attempt.
    package struct Attempt {
        package var head: HTTPRequestHead
        package var body: ByteBuffer?
        package var stages: ResponseStages
        /// For the `mock` provider: its answer, produced in-process.
        package var mock: MockAnswer?
        package var mockConfig: MockConfig?
    }

    /// Requests translated so far, by target shape: an attempt plan that fails over between
    /// providers of one dialect translates once.
    private var translations: [TranslationKey: Result<(TranslatedRequest, ChatRequest), GatewayError>] = [:]
    private struct TranslationKey: Hashable {
        var leg: Int
        var format: WireFormat
    }

    /// The request for `endpoint` (records it as the endpoint in flight), translated when the
    /// endpoint's provider speaks another dialect than the client; a failure is a request
    /// that cannot be translated (a 400 in the client's dialect).
    package func attempt(to endpoint: Endpoint) -> Result<Attempt, GatewayError> {
        record.endpoint = endpoint.id
        record.attempts = attempts.sent
        record.model = leg.model
        let provider = attempts.providers.first { $0.name == endpoint.providerName }
        let (path, body, bodyWithUsage) = (leg.path, leg.body, leg.bodyWithUsage)
        let client = admission.operation.wireFormat
        if !tunnel, let client, let target = provider?.upstreamFormat(for: client), target != client {
            return translatedAttempt(to: endpoint, provider: provider, from: client, to: target)
        }
        let asksUsage = endpoint.type == .openai || endpoint.type == .mock
        let withUsage = asksUsage ? bodyWithUsage : nil
        let sent = withUsage ?? body
        let counting: UsageScanner.Counting
        switch (endpoint.type, dialect) {
        case (.anthropic, .anthropic): counting = .cacheApart
        case (.gemini, .gemini): counting = .thoughtsApart
        default: counting = .inclusive
        }
        var stages: [any ResponseStage] = [UsageTap(counting: counting)]
        if withUsage != nil { stages.append(UsageChunkRemoval()) }
        if let cutoff = budgetCutoff() { stages.append(cutoff) }
        if let fill = cacheFillStage() { stages.append(fill) }
        let plan = UpstreamRequestPlan(
            endpoint: endpoint, dialect: dialect, path: path, query: admission.query.map(String.init),
            clientHeaders: admission.headers, extraHeaders: provider?.extraHeaders ?? [], requestID: record.id, tunnel: tunnel)
        let method = HTTPMethod(rawValue: admission.method.rawValue)
        let head = UpstreamClient.http1Head(plan, base: endpoint.baseURL, method: method, bodyLength: sent?.readableBytes)
        var attempt = Attempt(head: head, body: sent, stages: ResponseStages(stages))
        if endpoint.type == .mock {
            let config = provider?.mock ?? MockConfig()
            let includeUsage = sent.flatMap { bytes in bytes.withUnsafeReadableBytes { TopLevelFields.scan($0) } }?.includeUsage == true
            attempt.mock = MockProvider(config: config, providerName: endpoint.providerName)
                .answer(
                    operation: admission.operation, model: record.model, body: sent, streaming: record.stream, includeUsage: includeUsage,
                    query: admission.query.map(String.init))
            attempt.mockConfig = config
        }
        return .success(attempt)
    }

    private func translatedAttempt(to endpoint: Endpoint, provider: Provider?, from client: WireFormat, to target: WireFormat) -> Result<Attempt, GatewayError> {
        let translation: Result<(TranslatedRequest, ChatRequest), GatewayError>
        let key = TranslationKey(leg: attempts.leg, format: target)
        let body = leg.body
        if let done = translations[key] {
            translation = done
        } else {
            let model = record.model ?? ""
            let stream = record.stream
            translation =
                body?.withUnsafeReadableBytes { Translator.translate($0, from: client, to: target, model: model, stream: stream) }
                ?? .failure(.badRequest("The request body must be a JSON object"))
            translations[key] = translation
        }
        guard case .success(let (request, chat)) = translation else {
            if case .failure(let error) = translation { return .failure(error) }
            return .failure(.badRequest("The request could not be translated"))
        }
        let geminiArray = client == .gemini && record.stream && !(admission.query?.contains("alt=sse") ?? false)
        let context = TranslationContext(
            created: Int(WallClock.nowMs() / 1000), model: record.model, includeUsage: chat.includeUsage, jsonToolName: request.jsonTool)
        let translator = ResponseTranslator(client: client, upstream: target, streaming: record.stream, context: context, geminiArray: geminiArray)
        var stages: [any ResponseStage] = [UsageTap(), TranslationStage(translator: translator, warning: request.notes.header(target: target))]
        if let cutoff = budgetCutoff() { stages.append(cutoff) }
        if let fill = cacheFillStage() { stages.append(fill) }
        let plan = UpstreamRequestPlan(
            endpoint: endpoint, dialect: target.dialect, path: request.path, query: request.query,
            clientHeaders: Self.headers(admission.headers, for: target), extraHeaders: provider?.extraHeaders ?? [], requestID: record.id)
        let translated = ByteBuffer(string: request.body)
        let head = UpstreamClient.http1Head(plan, base: endpoint.baseURL, method: .POST, bodyLength: translated.readableBytes)
        return .success(Attempt(head: head, body: translated, stages: ResponseStages(stages)))
    }

    /// The client's headers minus those that belong to its own dialect's API (an Anthropic
    /// client's `anthropic-beta` means nothing to Gemini, and the version header is the
    /// gateway's to set for the target).
    static func headers(_ fields: HTTPFields, for target: WireFormat) -> HTTPFields {
        var kept = HTTPFields()
        for field in fields {
            let name = field.name.canonicalName
            if target != .anthropicMessages, name.hasPrefix("anthropic-") { continue }
            if name == "anthropic-version" { continue }
            if name.hasPrefix("x-goog-") || name.hasPrefix("openai-") && target != .openAIChat { continue }
            kept.append(field)
        }
        return kept
    }

    /// The cache's copy of the answer, last so that it keeps exactly what the client gets.
    /// Only the first choice's answers are kept: a fallback's answer is the right reply to a
    /// failure now, not the answer to the model asked for once it is back.
    private func cacheFillStage() -> CacheFill? {
        guard attempts.leg == 0 else { return nil }
        return cacheFill.map { CacheFill(cache: $0.cache, key: $0.key, ttl: $0.ttl, maxBytes: $0.maxEntryBytes) }
    }

    /// The stream budget cut-off, when the request streams against a budget.
    private func budgetCutoff() -> StreamBudgetCutoff? {
        let cutoff = state.config.budgets.streamCutoff
        guard record.stream, cutoff > 0, let reservation = admission.reservation, reservation.holdsBudget else { return nil }
        return StreamBudgetCutoff(
            reservation: reservation, pricing: state.pricing, model: record.model, dialect: dialect,
            outputAllowance: Int64(admission.maxOutputTokens ?? state.config.limits.defaultOutputTokens), scale: cutoff)
    }
}
