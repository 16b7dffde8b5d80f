import Dialects
import HTTPTypes
import NIOCore
import NIOHTTP1
import ProxyConfig
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

    init(record: RequestRecord, state: GatewayState, admission: Admission, providers: [Provider], path: String, body: ByteBuffer?,
         bodyWithUsage: ByteBuffer?) {
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

    /// The request for `endpoint` (records it as the endpoint in flight).
    package func attempt(to endpoint: Endpoint) -> Attempt {
        record.endpoint = endpoint.id
        record.attempts = attempts.tried.count
        let provider = attempts.providers.first { $0.name == endpoint.providerName }
        let asksUsage = endpoint.type == .openai || endpoint.type == .mock
        let withUsage = asksUsage ? bodyWithUsage : nil
        let sent = withUsage ?? body
        var stages: [any ResponseStage] = [UsageTap()]
        if withUsage != nil { stages.append(UsageChunkRemoval()) }
        let plan = UpstreamRequestPlan(endpoint: endpoint, dialect: dialect, path: path, query: admission.query.map(String.init),
                                       clientHeaders: admission.headers, extraHeaders: provider?.extraHeaders ?? [], requestID: record.id)
        let method = HTTPMethod(rawValue: admission.method.rawValue)
        let head = UpstreamClient.http1Head(plan, base: endpoint.baseURL, method: method, bodyLength: sent?.readableBytes)
        var attempt = Attempt(head: head, body: sent, stages: ResponseStages(stages))
        if endpoint.type == .mock {
            let config = provider?.mock ?? MockConfig()
            let includeUsage = sent.flatMap { bytes in bytes.withUnsafeReadableBytes { TopLevelFields.scan($0) } }?.includeUsage == true
            attempt.mock = MockProvider(config: config, providerName: endpoint.providerName)
                .answer(operation: admission.operation, model: record.model, body: sent, streaming: record.stream, includeUsage: includeUsage,
                        query: admission.query.map(String.init))
            attempt.mockConfig = config
        }
        return attempt
    }
}
