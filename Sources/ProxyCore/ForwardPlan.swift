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
    /// The path on the route (alias rewrites applied), without query.
    let path: String
    let body: ByteBuffer?
    /// The body asking an OpenAI-compatible upstream for stream usage, when the client
    /// streams without having asked; the extra chunk is then filtered out of the response.
    let bodyWithUsage: ByteBuffer?

    /// Came through the tunnel: sent to the URL the client named, untranslated (see
    /// ``UpstreamRequestPlan/init(endpoint:dialect:path:query:clientHeaders:extraHeaders:requestID:tunnel:)``).
    let tunnel: Bool

    init(
        record: RequestRecord, state: GatewayState, admission: Admission, providers: [Provider], path: String, body: ByteBuffer?,
        bodyWithUsage: ByteBuffer?, tunnel: Bool = false
    ) {
        self.tunnel = tunnel
        self.record = record
        self.state = state
        self.admission = admission
        self.attempts = AttemptPlan(providers: providers)
        self.path = path
        self.body = body
        self.bodyWithUsage = bodyWithUsage
    }

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
    private var translations: [WireFormat: Result<(TranslatedRequest, ChatRequest), GatewayError>] = [:]

    /// The request for `endpoint` (records it as the endpoint in flight), translated when the
    /// endpoint's provider speaks another dialect than the client; a failure is a request
    /// that cannot be translated (a 400 in the client's dialect).
    package func attempt(to endpoint: Endpoint) -> Result<Attempt, GatewayError> {
        record.endpoint = endpoint.id
        record.attempts = attempts.tried.count
        let provider = attempts.providers.first { $0.name == endpoint.providerName }
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
        if let done = translations[target] {
            translation = done
        } else {
            let model = record.model ?? ""
            let stream = record.stream
            translation =
                body?.withUnsafeReadableBytes { Translator.translate($0, from: client, to: target, model: model, stream: stream) }
                ?? .failure(.badRequest("The request body must be a JSON object"))
            translations[target] = translation
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
        let plan = UpstreamRequestPlan(
            endpoint: endpoint, dialect: target.dialect, path: request.path, query: request.query,
            clientHeaders: Self.headers(admission.headers, for: target), extraHeaders: provider?.extraHeaders ?? [], requestID: record.id)
        let body = ByteBuffer(string: request.body)
        let head = UpstreamClient.http1Head(plan, base: endpoint.baseURL, method: .POST, bodyLength: body.readableBytes)
        return .success(Attempt(head: head, body: body, stages: ResponseStages(stages)))
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

    /// The stream budget cut-off, when the request streams against a budget.
    private func budgetCutoff() -> StreamBudgetCutoff? {
        let cutoff = state.config.budgets.streamCutoff
        guard record.stream, cutoff > 0, let reservation = admission.reservation, reservation.holdsBudget else { return nil }
        return StreamBudgetCutoff(
            reservation: reservation, pricing: state.pricing, model: record.model, dialect: dialect,
            outputAllowance: Int64(admission.maxOutputTokens ?? state.config.limits.defaultOutputTokens), scale: cutoff)
    }
}

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

    package init(providers: [Provider], random: @escaping @Sendable () -> Double = BalancerRandom.next) {
        self.providers = providers
        self.random = random
    }

    /// The endpoint of the attempt in flight.
    package var current: Endpoint? { tried.last }

    /// The first attempt, or the next after a retryable failure.
    package mutating func next() -> Step {
        guard tried.count < Self.maxAttempts,
            let endpoint = EndpointSelector.pick(from: providers, excluding: tried, random: random())
        else {
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
