import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A test upstream speaking the real wire formats of OpenAI, Anthropic and Gemini on one
/// port (their paths do not collide), recording every request it receives.
///
/// Behaviour is chosen by the model name, so each test says what it needs in the request:
/// - `slow-head`: waits 10 s before answering, or until the gateway closes the connection
///   (first-byte timeouts: well past the tests' 5 s, so a loaded machine cannot blur them);
/// - `held`: waits until ``release()`` (or 60 s, or the connection closing), so a test keeps
///   an exact number of requests in flight without depending on how fast anything runs;
/// - `fail-500`: answers 500 in the provider's error shape;
/// - `context-too-long`: answers 400 with the provider's context-length error;
/// - `long-stream`: streams a chunk every 100 ms for 20 s (disconnects, drains);
/// - `stream-N-MS` (or `…-stream-N-MS`): streams N chunks, MS milliseconds apart;
/// - anything else: a normal answer naming the model.
final class MockUpstream: Sendable {
    struct Received: Sendable {
        var method: String
        var path: String
        var query: String?
        var headers: HTTPFields
        var body: String
    }

    let name: String
    /// The key this upstream requires, in its provider's header.
    let requiredKey: String
    /// Serve HTTPS with this configuration instead of plain HTTP.
    let tls: TLSConfiguration?
    private let log = Mutex<[Received]>([])
    private let streamState = Mutex<(started: Int, finished: Int, cancelled: Int)>((0, 0, 0))
    private let closedEarlyCount = Mutex<Int>(0)
    private let portBox = Mutex<Int>(0)
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let group = Mutex<ServiceGroup?>(nil)
    private let gate = Mutex<(released: Bool, waiting: Int)>((false, 0))

    var port: Int { portBox.withLock { $0 } }
    var received: [Received] { log.withLock { $0 } }
    var streamsStarted: Int { streamState.withLock { $0.started } }
    var streamsFinished: Int { streamState.withLock { $0.finished } }
    var streamsCancelled: Int { streamState.withLock { $0.cancelled } }
    /// Connections the gateway closed before this upstream had finished its answer: how a
    /// cancelled upstream request looks from the upstream's side.
    var closedEarly: Int { closedEarlyCount.withLock { $0 } }
    /// Requests for the model `held` waiting now.
    var held: Int { gate.withLock { $0.waiting } }
    /// Lets every `held` request (now and later) answer.
    func release() { gate.withLock { $0.released = true } }
    /// Holds `held` requests again (after a ``release()``).
    func hold() { gate.withLock { $0.released = false } }
    var baseURL: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)" }

    init(name: String, requiredKey: String, tls: TLSConfiguration? = nil) {
        self.name = name
        self.requiredKey = requiredKey
        self.tls = tls
    }

    func start(port requestedPort: Int = 0) async throws {
        let ready = AsyncStream<Int>.makeStream()
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [CloseWatcher(upstream: self)]))
        let app = Application(
            responder: Responder(upstream: self),
            server: try tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1,
            configuration: .init(address: .hostname("127.0.0.1", port: requestedPort)),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: .init(label: "mock-upstream", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let serviceGroup = ServiceGroup(
            services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "mock", factory: { _ in SwiftLogNoOpLogHandler() }))
        group.withLock { $0 = serviceGroup }
        // If the server stops before it listens (the port is taken), the stream ends and
        // start throws instead of waiting forever.
        task.withLock {
            $0 = Task {
                defer { ready.continuation.finish() }
                try await serviceGroup.run()
            }
        }
        var bound: Int?
        for await port in ready.stream {
            bound = port
            break
        }
        guard let bound else { throw StartError(port: requestedPort) }
        portBox.withLock { $0 = bound }
    }

    struct StartError: Error, CustomStringConvertible {
        let port: Int
        var description: String { "the mock upstream could not listen on 127.0.0.1:\(port)" }
    }

    func stop() async {
        // Graceful: the listener closes before connections are torn down, so no connection
        // is accepted by a server that is going away.
        await group.withLock { $0 }?.triggerGracefulShutdown()
        _ = try? await task.withLock { $0 }?.value
    }

    func record(_ received: Received) { log.withLock { $0.append(received) } }
    func reset() { log.withLock { $0.removeAll() } }

    /// Answers in progress, by connection.
    private let inProgress = Mutex<[ObjectIdentifier: Completion]>([:])
    /// Every connection open now, by channel.
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let closingAtAccept = Atomic<Bool>(false)
    /// Connections the gateway closed its side of (a half-closed channel stays active).
    private let hungUp = Mutex<Set<ObjectIdentifier>>([])

    /// Whether the gateway still listens on this connection.
    fileprivate func isOpen(_ channel: any Channel) -> Bool {
        channel.isActive && !hungUp.withLock { $0.contains(ObjectIdentifier(channel)) }
    }

    /// The connections open now, for a failing test's message: whether each is active, hung
    /// up by the gateway, and answering (with its answer complete or not).
    var connectionReport: String {
        let open = connections.withLock { $0 }
        let answering = inProgress.withLock { $0 }
        let hung = hungUp.withLock { $0 }
        let lines = open.map { id, channel in
            let answer = answering[id].map { $0.done.load(ordering: .relaxed) ? "answered" : "answering" } ?? "idle"
            return "\(channel.isActive ? "active" : "inactive")\(hung.contains(id) ? ", hung up" : ""), \(answer)"
        }
        return "\(open.count) connections open (\(lines.sorted().joined(separator: "; "))), closed early \(closedEarly)"
    }

    /// An injected fault: every generation request (not model lists) is answered with
    /// `status` in the provider's error shape, with `Retry-After` when set, `remaining`
    /// times (nil: until ``recover()``). Status 0: the request is read whole, then the
    /// connection is closed unanswered (a crash after the request arrived).
    struct Fault: Sendable {
        var status: Int
        var retryAfter: Int? = nil
        var remaining: Int? = nil
    }
    private let fault = Mutex<Fault?>(nil)
    private let faultedCount = Atomic<Int>(0)
    private let servedCount = Atomic<Int>(0)
    func inject(_ injected: Fault) { fault.withLock { $0 = injected } }
    func recover() { fault.withLock { $0 = nil } }
    /// Generation requests answered with an injected fault, and answered normally.
    var faulted: Int { faultedCount.load(ordering: .relaxed) }
    var served: Int { servedCount.load(ordering: .relaxed) }
    /// Milliseconds every generation request waits before its response head (0: none).
    let headDelayMs = Atomic<Int>(0)
    /// The fault for the next generation request, counting it down.
    fileprivate func takeFault() -> Fault? {
        fault.withLock { current in
            guard var taken = current else { return nil }
            if let left = taken.remaining {
                current = left <= 1 ? nil : Fault(status: taken.status, retryAfter: taken.retryAfter, remaining: left - 1)
                taken.remaining = 1
            }
            return taken
        }
    }

    /// Closes every connection that is not in the middle of an answer, as a server does when
    /// its keep-alive timeout ends; the listener stays, so the port is never given up (a
    /// stopped and restarted server races the kernel and the rest of the suite for it).
    /// Call it once the answers sent so far have been read. Returns how many it closed.
    @discardableResult
    func closeIdleConnections() async -> Int {
        let idle = connections.withLock { open in
            inProgress.withLock { answering in
                open.filter { id, _ in answering[id].map { $0.done.load(ordering: .relaxed) } ?? true }.map(\.value)
            }
        }
        // Half-closed first: the gateway sees the end of the stream and closes its side, and
        // only then is the connection gone — so a test's next request cannot race a close
        // the gateway has not read yet. (A gateway that never closed is cut after 20 s.)
        for channel in idle {
            try? await channel.close(mode: .output)
            let closed = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await channel.closeFuture.get()) != nil }
                group.addTask {
                    try? await Task.sleep(for: .seconds(20))
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if !closed { try? await channel.close() }
        }
        return idle.count
    }

    /// While on, every connection is closed as soon as it is accepted (and those open are
    /// closed when idle): the upstream answers nothing, yet keeps its port, so a test can make
    /// it "come back" by turning this off.
    func closeConnectionsAtAccept(_ on: Bool) async {
        closingAtAccept.store(on, ordering: .relaxed)
        if on { await closeIdleConnections() }
    }

    /// A new connection: tracked, or closed at once when this upstream refuses them.
    fileprivate func accepted(_ channel: any Channel) -> Bool {
        if closingAtAccept.load(ordering: .relaxed) { return false }
        connections.withLock { $0[ObjectIdentifier(channel)] = channel }
        return true
    }

    fileprivate func begin(_ completion: Completion, on channel: any Channel) {
        inProgress.withLock { $0[ObjectIdentifier(channel)] = completion }
        // Closed before this handler ran (a gateway that gave up at once, on a loaded
        // machine): the close was not seen by `connectionClosed`, so it is counted here.
        if !isOpen(channel) { connectionClosed(ObjectIdentifier(channel)) }
    }

    /// The gateway closed (or half-closed) a connection: early if its answer was unfinished.
    fileprivate func connectionClosed(_ channel: ObjectIdentifier) {
        hungUp.withLock { _ = $0.insert(channel) }
        guard let completion = inProgress.withLock({ $0.removeValue(forKey: channel) }) else { return }
        if !completion.done.load(ordering: .relaxed) { closedEarlyCount.withLock { $0 += 1 } }
    }
    fileprivate func forget(_ channel: ObjectIdentifier) {
        _ = connections.withLock { $0.removeValue(forKey: channel) }
        hungUp.withLock { _ = $0.remove(channel) }
    }
    fileprivate func streamStarted() { streamState.withLock { $0.started += 1 } }
    fileprivate func streamFinished() { streamState.withLock { $0.finished += 1 } }
    fileprivate func streamCancelled() { streamState.withLock { $0.cancelled += 1 } }

    struct Context: RequestContext {
        var coreContext: CoreRequestContextStorage
        let channel: any Channel
        init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            channel = source.channel
        }
    }

    /// Set once the answer is complete; a connection closing before that is counted.
    final class Completion: Sendable {
        let done = Atomic<Bool>(false)
    }

    struct Responder: HTTPResponder {
        let upstream: MockUpstream

        func respond(to request: Request, context: Context) async throws -> Response {
            let completion = Completion()
            upstream.begin(completion, on: context.channel)
            let response = try await answer(to: request, completion: completion, channel: context.channel)
            if case .some = response.body.contentLength { completion.done.store(true, ordering: .relaxed) }
            return response
        }

        func answer(to request: Request, completion: Completion, channel: any Channel) async throws -> Response {
            var request = request
            let body = try await request.collectBody(upTo: 64 << 20)
            let text = String(buffer: body)
            let path = request.uri.path
            upstream.record(Received(method: request.method.rawValue, path: path, query: request.uri.query, headers: request.headers, body: text))
            let model = Self.model(in: text) ?? Self.pathModel(path) ?? ""

            let dialect: String
            if path.hasPrefix("/v1beta/") { dialect = "gemini" } else if path.hasPrefix("/v1/messages") { dialect = "anthropic" } else { dialect = "openai" }
            let presented: String?
            switch dialect {
            case "anthropic": presented = request.headers[HTTPField.Name("x-api-key")!]
            case "gemini": presented = request.headers[HTTPField.Name("x-goog-api-key")!]
            default: presented = request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) }
            }
            let anyKey =
                request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) } ?? request.headers[HTTPField.Name("x-api-key")!]
                ?? request.headers[HTTPField.Name("x-goog-api-key")!]
            // An empty required key stands for a local engine, which takes no key.
            if !upstream.requiredKey.isEmpty, (path == "/v1/models" ? anyKey : presented) != upstream.requiredKey {
                return json(.unauthorized, #"{"error":{"message":"mock upstream: wrong key","type":"invalid_request_error"}}"#)
            }
            if model == "slow-head" { await wait(seconds: 10, on: channel) { false } }
            if model == "held" {
                upstream.gate.withLock { $0.waiting += 1 }
                await wait(seconds: 60, on: channel) { upstream.gate.withLock { $0.released } }
                upstream.gate.withLock { $0.waiting -= 1 }
            }
            if model == "fail-500" {
                return json(.internalServerError, #"{"error":{"message":"mock upstream failure","type":"server_error"}}"#)
            }
            let generation = request.method == .post && path != "/v1/models"
            if generation, let fault = upstream.takeFault() {
                upstream.faultedCount.add(1, ordering: .relaxed)
                if fault.status == 0 {
                    try? await channel.close()
                    throw CancellationError()
                }
                var headers: HTTPFields = [.contentType: "application/json"]
                if let seconds = fault.retryAfter { headers[.retryAfter] = String(seconds) }
                return json(HTTPResponse.Status(code: fault.status), Self.errorBody(status: fault.status, dialect: dialect), headers)
            }
            if model == "context-too-long" {
                let text: String
                switch dialect {
                case "anthropic": text = #"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 250000 tokens > 200000 maximum"}}"#
                case "gemini": text = #"{"error":{"code":400,"message":"The input token count exceeds the maximum number of tokens allowed","status":"INVALID_ARGUMENT"}}"#
                default: text = #"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#
                }
                return json(.badRequest, text)
            }
            if generation {
                upstream.servedCount.add(1, ordering: .relaxed)
                let delay = upstream.headDelayMs.load(ordering: .relaxed)
                if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
            }
            let streaming = text.contains(#""stream":true"#) || text.contains(#""stream": true"#) || path.hasSuffix(":streamGenerateContent")
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name("x-upstream-name")!] = upstream.name
            headers[HTTPField.Name("x-request-id")!] = "upstream-own-id"
            headers[HTTPField.Name("openai-processing-ms")!] = "12"

            switch (dialect, path) {
            case (_, "/api/tags"):
                return json(.ok, #"{"models":[{"name":"\#(upstream.name)-tag:latest","model":"\#(upstream.name)-tag:latest"}]}"#, headers)
            case (_, "/v1/models"):
                return json(
                    .ok,
                    #"{"object":"list","data":[{"id":"\#(upstream.name)-model","object":"model","owned_by":"mock"},{"id":"shared-model","object":"model","owned_by":"mock"}]}"#,
                    headers)
            case ("gemini", "/v1beta/models"):
                return json(.ok, #"{"models":[{"name":"models/\#(upstream.name)-gemini","displayName":"Mock Gemini","supportedGenerationMethods":["generateContent"]}]}"#, headers)
            case ("openai", "/v1/files"):
                return json(.ok, #"{"object":"list","data":[],"query":"\#(request.uri.query ?? "")"}"#, headers)
            case ("openai", "/v1/embeddings"):
                return json(
                    .ok, #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"\#(model)","usage":{"prompt_tokens":2,"total_tokens":2}}"#,
                    headers)
            case ("openai", "/v1/completions"):
                return json(
                    .ok,
                    #"{"id":"cmpl-1","object":"text_completion","model":"\#(model)","choices":[{"index":0,"text":"hi from \#(upstream.name)","finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4}}"#,
                    headers)
            case ("openai", "/v1/chat/completions") where streaming:
                return stream(model: model, headers: headers, completion: completion, channel: channel) { index in
                    #"data: {"id":"c1","object":"chat.completion.chunk","model":"\#(model)","choices":[{"index":0,"delta":{"content":"part\#(index) "},"finish_reason":null}]}"#
                        + "\n\n"
                } tail: {
                    // Like OpenAI: the usage chunk only when asked, in the same write as [DONE].
                    (text.contains(#""include_usage":true"#)
                        ? #"data: {"id":"c1","object":"chat.completion.chunk","model":"\#(model)","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#
                            + "\n\n" : "")
                        + "data: [DONE]\n\n"
                }
            case ("openai", "/v1/chat/completions"):
                return json(
                    .ok,
                    #"{"id":"c1","object":"chat.completion","model":"\#(model)","choices":[{"index":0,"message":{"role":"assistant","content":"hello from \#(upstream.name)"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
                    headers)
            case ("anthropic", "/v1/messages") where streaming:
                return stream(model: model, headers: headers, completion: completion, channel: channel) { index in
                    "event: content_block_delta\ndata: " + #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"part\#(index) "}}"# + "\n\n"
                } tail: {
                    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
                }
            case ("anthropic", "/v1/messages"):
                return json(
                    .ok,
                    #"{"id":"msg_1","type":"message","role":"assistant","model":"\#(model)","content":[{"type":"text","text":"hello from \#(upstream.name)"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":3}}"#,
                    headers)
            case ("anthropic", "/v1/messages/count_tokens"):
                return json(.ok, #"{"input_tokens":7}"#, headers)
            case ("gemini", _) where path.hasSuffix(":generateContent"):
                return json(
                    .ok,
                    #"{"candidates":[{"content":{"parts":[{"text":"hello from \#(upstream.name)"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":3,"totalTokenCount":7},"modelVersion":"\#(model)"}"#,
                    headers)
            case ("gemini", _) where path.hasSuffix(":streamGenerateContent"):
                let sse = request.uri.query?.contains("alt=sse") == true
                if sse {
                    headers[.contentType] = "text/event-stream"
                    return stream(model: model, headers: headers, completion: completion, channel: channel) { index in
                        #"data: {"candidates":[{"content":{"parts":[{"text":"part\#(index) "}],"role":"model"}}]}"# + "\r\n\r\n"
                    } tail: {
                        // Like Gemini: the last chunk carries the finish reason (no end event).
                        "data: " + Self.geminiLastChunk + "\r\n\r\n"
                    }
                }
                return stream(model: model, headers: headers, completion: completion, channel: channel) { index in
                    (index == 0 ? "[" : ",") + #"{"candidates":[{"content":{"parts":[{"text":"part\#(index) "}],"role":"model"}}]}"#
                } tail: {
                    "," + Self.geminiLastChunk + "]"
                }
            case ("gemini", _) where path.hasSuffix(":countTokens"):
                return json(.ok, #"{"totalTokens":9}"#, headers)
            case ("gemini", _) where path.hasSuffix(":embedContent"):
                return json(.ok, #"{"embedding":{"values":[0.5,0.25]}}"#, headers)
            default:
                return json(.notFound, #"{"error":{"message":"mock upstream: no route for \#(path)"}}"#, headers)
            }
        }

        /// Polls until `done`, the connection closing or the time passing: a waiting answer
        /// never holds the server's shutdown for longer than the gateway keeps it.
        func wait(seconds: Int, on channel: any Channel, until done: () -> Bool) async {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline, upstream.isOpen(channel), !done() {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }

        /// An error body in each provider's shape (Anthropic's 529 is `overloaded_error`).
        /// Gemini's last stream chunk: an empty part with the finish reason and the usage.
        static let geminiLastChunk =
            #"{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":3,"totalTokenCount":7}}"#

        static func errorBody(status: Int, dialect: String) -> String {
            switch dialect {
            case "anthropic":
                let type = status == 529 ? "overloaded_error" : status == 429 ? "rate_limit_error" : "api_error"
                return #"{"type":"error","error":{"type":"\#(type)","message":"mock upstream fault \#(status)"}}"#
            case "gemini":
                let name = status == 429 ? "RESOURCE_EXHAUSTED" : status == 503 ? "UNAVAILABLE" : "INTERNAL"
                return #"{"error":{"code":\#(status),"message":"mock upstream fault \#(status)","status":"\#(name)"}}"#
            default:
                let type = status == 429 ? "rate_limit_exceeded" : "server_error"
                return #"{"error":{"message":"mock upstream fault \#(status)","type":"\#(type)","code":null}}"#
            }
        }

        func json(_ status: HTTPResponse.Status, _ text: String, _ headers: HTTPFields = [.contentType: "application/json"]) -> Response {
            Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        /// Streams chunks with pauses; counts streams started, finished and cut short.
        func stream(
            model: String, headers: HTTPFields, completion: Completion, channel: any Channel, chunk: @escaping @Sendable (Int) -> String,
            tail: @escaping @Sendable () -> String
        ) -> Response {
            var count = 3, delay = 50
            if model == "long-stream" {
                count = 200
                delay = 100
            }
            // `stream-N-MS`, also at the end of a name (`claude-stream-N-MS`, for another provider).
            let parts = Array(model.split(separator: "-").suffix(3))
            if parts.count == 3, parts[0] == "stream", let n = Int(parts[1]), let ms = Int(parts[2]) {
                count = n
                delay = ms
            }
            var headers = headers
            if headers[.contentType] == "application/json", !model.isEmpty, chunk(0).hasPrefix("data:") || chunk(0).hasPrefix("event:") {
                headers[.contentType] = "text/event-stream"
            }
            let upstream = self.upstream
            let (chunkCount, pause) = (count, delay)
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody { writer in
                    upstream.streamStarted()
                    do {
                        for index in 0..<chunkCount {
                            try await writer.write(ByteBuffer(string: chunk(index)))
                            // A pause that ends early when the gateway hangs up (the stream
                            // then stops, as a real server's would).
                            let resume = ContinuousClock.now + .milliseconds(pause)
                            while ContinuousClock.now < resume, upstream.isOpen(channel) {
                                try await Task.sleep(for: min(.milliseconds(20), resume - ContinuousClock.now))
                            }
                            guard upstream.isOpen(channel) else { throw CancellationError() }
                        }
                        let end = tail()
                        if !end.isEmpty { try await writer.write(ByteBuffer(string: end)) }
                        try await writer.finish(nil)
                        completion.done.store(true, ordering: .relaxed)
                        upstream.streamFinished()
                    } catch {
                        upstream.streamCancelled()
                        throw error
                    }
                })
        }

        static func model(in body: String) -> String? {
            guard let range = body.range(of: #""model":""#) ?? body.range(of: #""model": ""#) else { return nil }
            let rest = body[range.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            return String(rest[..<end])
        }

        static func pathModel(_ path: String) -> String? {
            guard let range = path.range(of: "/models/") else { return nil }
            let rest = path[range.upperBound...]
            return String(rest.split(separator: ":").first ?? "")
        }
    }
}

/// Reports connection closes (full or input-only) to the mock upstream.
final class CloseWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    let upstream: MockUpstream

    init(upstream: MockUpstream) { self.upstream = upstream }

    func handlerAdded(context: ChannelHandlerContext) {
        if !upstream.accepted(context.channel) { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream.connectionClosed(ObjectIdentifier(context.channel))
        upstream.forget(ObjectIdentifier(context.channel))
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { upstream.connectionClosed(ObjectIdentifier(context.channel)) }
        context.fireUserInboundEventTriggered(event)
    }
}

extension MockUpstream {
    /// The kernel's view of every TCP connection to this upstream's port (`/proc/net/tcp`),
    /// for a failing test's message: whether the gateway's end is still open (ESTABLISHED on
    /// both ends), closed (the upstream's end in CLOSE_WAIT or gone), or half-way.
    var socketReport: String {
        // Read to the end: `String(contentsOfFile:)` trusts the file's size, which /proc
        // reports as 0, and returns only the first page (27 of 2,400 lines in a full run).
        guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return "no /proc/net/tcp" }
        defer { try? handle.close() }
        let table = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let states = [
            "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE",
            "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
        ]
        let hexPort = String(format: "%04X", port)
        var lines: [String] = []
        for row in table.split(separator: "\n").dropFirst() {
            let columns = row.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count > 4 else { continue }
            let local = columns[1], remote = columns[2], state = String(columns[3])
            let side: String
            if local.hasSuffix(":" + hexPort) {
                side = "upstream end"
            } else if remote.hasSuffix(":" + hexPort) {
                side = "gateway end"
            } else {
                continue
            }
            if state == "0A" || state == "06" { continue }
            let peer = side == "upstream end" ? remote : local
            lines.append("\(side) \(peer.split(separator: ":").last.map { Int($0, radix: 16) ?? 0 } ?? 0) \(states[state] ?? state) queued \(columns[4])")
        }
        return lines.sorted().joined(separator: "; ")
    }
}
