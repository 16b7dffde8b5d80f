import AsyncHTTPClient
import Dialects
import Guards
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ProxyConfig
import Store
import Upstreams

/// One proxied request, from the client's body to the upstream's last byte: size limit,
/// model, route, key check, endpoint choice with retry before any byte is sent, then the
/// response streamed through untouched.
struct ProxyExchange {
    var request: Request
    let context: GatewayContext
    let operation: Operation
    let state: GatewayState
    let responder: GatewayResponder
    var record: RequestRecord
    let hostMatch: (providers: [Provider], path: String)?

    /// Endpoints tried per request: the first choice plus up to two others, and only for
    /// failures that prove the request never reached the upstream.
    static let maxAttempts = 3

    mutating func run() async -> Response {
        let dialect = operation.dialect
        let limit = state.config.server.maxRequestSize
        let query = request.uri.query
        let key = ClientKey.extract(from: request.headers, query: query.map { Substring($0) })
        // A path the operator made public (server.public_paths) needs no key.
        let (verdict, identity) = state.publicPaths.contains(request.uri.path)
            ? (.accepted, nil) : state.authenticator.check(key, managed: responder.keys, now: WallClock.nowMs())
        record.identity = identity
        if case .rejected(let missing) = verdict {
            return fail(.invalidAPIKey(missing: missing))
        }
        record.authenticated = verdict == .accepted

        // Body, bounded by the size limit; a declared length over it is refused unread.
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            return fail(.requestTooLarge(limit: limit))
        }
        var body: ByteBuffer?
        if request.method != .get && request.method != .head {
            do {
                let collected = try await request.body.collect(upTo: limit)
                body = collected
                record.bytesIn = collected.readableBytes
            } catch let error as HTTPError where error.status == .contentTooLarge {
                return fail(.requestTooLarge(limit: limit))
            } catch is NIOTooManyBytesError {
                // A body without a declared length (chunked) that grew past the limit.
                return fail(.requestTooLarge(limit: limit))
            } catch {
                return fail(.badRequest("The request body could not be read: the client closed or sent a malformed body"))
            }
        }

        var fields: TopLevelFields?
        if operation.modelInBody {
            guard let bytes = body, bytes.readableBytes > 0 else { return fail(.badRequest("The request body must be a JSON object")) }
            switch bytes.withUnsafeReadableBytes({ TopLevelFields.check($0) }) {
            case .failure(let problem): return fail(.badRequest(problem.message))
            case .success(let scanned): fields = scanned
            }
        }
        let model = operation.pathModel ?? fields?.model
        record.model = model
        if let identity, !identity.allows(model: model) {
            return fail(.modelNotAllowed(model, allowed: identity.models ?? []))
        }
        record.stream = operation.isStreaming(bodyFlag: fields?.stream)

        var path = request.uri.path
        let decision: RouteDecision
        switch state.routes.resolve(dialect: dialect, hostMatch: hostMatch, path: path, model: model) {
        case .failure(let error): return fail(error)
        case .success(let found): decision = found
        }
        record.rule = decision.rule
        path = decision.path

        var providers = decision.providers
        if verdict == .needsProvider {
            providers = providers.filter { state.authenticator.allows(key, provider: $0.name) }
            if providers.isEmpty { return fail(.invalidAPIKey(missing: key == nil)) }
        }
        record.authenticated = true

        if let upstreamModel = decision.upstreamModel {
            if let range = fields?.modelRange, let original = body {
                body = Self.replacing(range, in: original, with: JSONText.quoted(upstreamModel))
            } else if let pathModel = operation.pathModel {
                path = path.replacingFirst("/models/\(pathModel)", with: "/models/\(upstreamModel)")
            }
            record.model = upstreamModel
        }

        // OpenAI-compatible streams report usage only when asked: ask for the client.
        let bodyWithUsage = record.stream && operation.asksStreamUsage && operation.dialect == .openai
            ? body.flatMap { original in fields.flatMap { StreamUsage.requestingUsage(original, fields: $0) } } : nil
        let watch = responder.disconnects.begin(channel: context.channel)
        var tried: [Endpoint] = []
        var lastError: GatewayError?
        while tried.count < Self.maxAttempts, let endpoint = EndpointSelector.pick(from: providers, excluding: tried) {
            tried.append(endpoint)
            record.endpoint = endpoint.id
            record.attempts = tried.count
            if endpoint.type == .mock {
                return await mock(endpoint: endpoint, providers: providers, body: body, fields: fields, model: record.model, watch: watch)
            }
            guard let provider = providers.first(where: { $0.name == endpoint.providerName }) else { continue }
            let plan = UpstreamRequestPlan(endpoint: endpoint, dialect: dialect, path: path, query: query, clientHeaders: request.headers,
                                           extraHeaders: provider.extraHeaders, requestID: record.id)
            do {
                let withUsage = endpoint.type == .openai ? bodyWithUsage : nil
                let upstream = try await responder.client.send(plan, to: endpoint.baseURL, method: HTTPMethod(rawValue: request.method.rawValue), body: withUsage ?? body)
                record.firstByte = ContinuousClock.now - record.start
                endpoint.health.recordLatency(record.firstByte ?? .zero)
                if upstream.status.code >= 500 {
                    endpoint.health.recordFailure("HTTP \(upstream.status.code)")
                } else {
                    endpoint.health.recordSuccess()
                }
                let strip = withUsage != nil && upstream.status.code == 200 && !upstream.headers.contains(name: "content-length")
                return await respond(with: upstream, watch: watch, stripUsage: strip)
            } catch {
                if watch.clientGone {
                    responder.disconnects.end(watch, channel: context.channel)
                    return fail(.clientClosed)
                }
                let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: endpoint.id)
                endpoint.health.recordFailure(gatewayError.message)
                lastError = gatewayError
                if !retryable { break }
            }
        }
        responder.disconnects.end(watch, channel: context.channel)
        if let lastError { return fail(lastError) }
        let count = providers.reduce(0) { $0 + $1.endpoints.count }
        return fail(.upstreamUnavailable("All \(count) upstream endpoint(s) for this route are unhealthy; try again shortly"))
    }

    /// Bodies with a declared length up to this size are read whole before the response
    /// head goes out, so head and body leave in one write (a typical non-streaming
    /// completion). Anything else (SSE, chunked, large) is streamed.
    static let wholeBodyLimit = 256 * 1024

    mutating func respond(with upstream: UpstreamResponse, watch: DisconnectWatch, stripUsage: Bool = false) async -> Response {
        let headers = responseHeaders(upstream)
        if let length = upstream.headers.first(name: "content-length").flatMap(Int.init), length <= Self.wholeBodyLimit {
            do {
                let body = try await upstream.body.collect(upTo: length)
                responder.disconnects.end(watch, channel: context.channel)
                record.bytesOut = body.readableBytes
                var usage = UsageScanner()
                usage.scan(body)
                record.take(usage)
                var response = Response(status: HTTPResponse.Status(code: Int(upstream.status.code), reasonPhrase: upstream.status.reasonPhrase), headers: headers, body: ResponseBody(byteBuffer: body))
                response = responder.finish(response, record: &record, logIn: state)
                return response
            } catch {
                responder.disconnects.end(watch, channel: context.channel)
                if watch.clientGone { return fail(.clientClosed) }
                let (gatewayError, _) = UpstreamClient.classify(error, endpoint: record.endpoint ?? "?")
                return fail(gatewayError)
            }
        }
        return stream(upstream, headers: headers, watch: watch, stripUsage: stripUsage)
    }

    func responseHeaders(_ upstream: UpstreamResponse) -> HTTPFields {
        state.responseHeaders.clientFields(upstream.headers, requestID: record.id)
    }

    /// Streams the upstream response to the client as it arrives: each buffer is written as
    /// soon as it is read, in this same task (no per-chunk task, nothing held back).
    func stream(_ upstream: UpstreamResponse, headers: HTTPFields, watch: DisconnectWatch, stripUsage: Bool) -> Response {
        var finalRecord = self.record
        finalRecord.status = Int(upstream.status.code)
        let snapshot = finalRecord
        let responder = self.responder
        let state = self.state
        let registry = responder.disconnects
        let channel = context.channel
        let contentLength = upstream.headers.first(name: "content-length").flatMap(Int.init)
        let body = ResponseBody(contentLength: contentLength) { writer in
            var record = snapshot
            var usage = UsageScanner()
            var filter = stripUsage ? UsageChunkFilter() : nil
            defer {
                registry.end(watch, channel: channel)
                record.take(usage)
                responder.complete(record, state: state)
            }
            do {
                for try await buffer in upstream.body {
                    usage.scan(buffer)
                    var out = buffer
                    if filter != nil {
                        guard let kept = filter!.filter(buffer) else { continue }
                        out = kept
                    }
                    record.bytesOut += out.readableBytes
                    try await writer.write(out)
                }
                if let rest = filter?.finish() {
                    record.bytesOut += rest.readableBytes
                    try await writer.write(rest)
                }
                try await writer.finish(nil)
            } catch {
                record.errorCode = watch.clientGone ? "client_closed" : "upstream_stream_error"
                throw error
            }
        }
        return Response(status: HTTPResponse.Status(code: Int(upstream.status.code), reasonPhrase: upstream.status.reasonPhrase), headers: headers, body: body)
    }

    mutating func mock(endpoint: Endpoint, providers: [Provider], body: ByteBuffer?, fields: TopLevelFields?, model: String?, watch: DisconnectWatch) async -> Response {
        let provider = providers.first { $0.name == endpoint.providerName }
        let mock = MockProvider(config: provider?.mock ?? MockConfig(), providerName: endpoint.providerName)
        let includeUsage = fields?.includeUsage == true
        do {
            let answer = try await mock.respond(operation: operation, model: model, body: body, streaming: record.stream, includeUsage: includeUsage, query: request.uri.query)
            record.firstByte = ContinuousClock.now - record.start
            if answer.status == .ok, operation.kind != .geminiCountTokens, operation.kind != .countTokens {
                let usage = MockProvider.usage(body: body)
                let embeds = operation.kind == .embeddings || operation.kind == .embedContent
                record.promptTokens = usage.prompt
                record.completionTokens = embeds ? nil : usage.completion
                record.totalTokens = usage.prompt + (embeds ? 0 : usage.completion)
            }
            var headers = answer.headers
            headers[GatewayResponder.xRequestID] = record.id
            record.status = Int(answer.status.code)
            if !answer.stream {
                responder.disconnects.end(watch, channel: context.channel)
                var response = Response(status: answer.status, headers: headers, body: answer.body)
                response = responder.finish(response, record: &record, logIn: state)
                return response
            }
            let snapshot = self.record
            let responder = self.responder
            let state = self.state
            let registry = responder.disconnects
            let channel = context.channel
            let inner = answer.body
            let body = ResponseBody { writer in
                var record = snapshot
                defer {
                    registry.end(watch, channel: channel)
                    responder.complete(record, state: state)
                }
                let counting = CountingWriter(inner: writer)
                do {
                    try await inner.write(counting)
                    record.bytesOut = counting.count.value
                } catch {
                    record.bytesOut = counting.count.value
                    record.errorCode = watch.clientGone ? "client_closed" : "stream_error"
                    throw error
                }
            }
            return Response(status: answer.status, headers: headers, body: body)
        } catch {
            responder.disconnects.end(watch, channel: context.channel)
            return fail(.clientClosed)
        }
    }

    mutating func fail(_ error: GatewayError) -> Response {
        responder.finish(error: error, dialect: operation.dialect, record: &record, logIn: state)
    }

    /// `buffer` with the bytes in `range` replaced by `text`.
    static func replacing(_ range: Range<Int>, in buffer: ByteBuffer, with text: String) -> ByteBuffer {
        var result = ByteBuffer()
        result.reserveCapacity(buffer.readableBytes + text.utf8.count)
        let start = buffer.readerIndex
        if let head = buffer.getSlice(at: start, length: range.lowerBound) { result.writeImmutableBuffer(head) }
        result.writeString(text)
        if let tail = buffer.getSlice(at: start + range.upperBound, length: buffer.readableBytes - range.upperBound) { result.writeImmutableBuffer(tail) }
        return result
    }
}

/// Counts the bytes a response body writes, for the request log.
final class ByteCount: @unchecked Sendable {
    var value = 0
}

struct CountingWriter: ResponseBodyWriter {
    var inner: any ResponseBodyWriter
    let count = ByteCount()

    init(inner: consuming any ResponseBodyWriter) { self.inner = inner }

    mutating func write(_ buffer: ByteBuffer) async throws {
        count.value += buffer.readableBytes
        try await inner.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await inner.finish(trailingHeaders)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }

    func range(of target: String) -> Range<String.Index>? {
        guard !target.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }
}
