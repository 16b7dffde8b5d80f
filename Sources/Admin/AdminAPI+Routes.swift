import Foundation
import Guards
import HTTPTypes
import Hummingbird
import NIOCore
import ProxyConfig
import Store

/// `/api/*`: keys, analytics, upstreams, reload.
extension AdminAPI {
    func api(_ request: Request, path: String, user: String) async -> Response {
        let parts = path.split(separator: "/").map(String.init) // ["api", …]
        do {
            switch (request.method, parts.dropFirst().first ?? "", parts.count) {
            case (.get, "keys", 2): return try await listKeys()
            case (.post, "keys", 2): return try await createKey(request)
            case (.delete, "keys", 3): return try await revokeKey(id: parts[2])
            case (_, "keys", _): return Self.failure(.methodNotAllowed, "use GET or POST /api/keys, DELETE /api/keys/:id")
            case (.get, "analytics", 3) where parts[2] == "summary": return try await summary(request)
            case (.get, "analytics", 3) where parts[2] == "export.csv": return try await export(request)
            case (.get, "analytics", 3): return try await records(request, keyID: parts[2])
            case (.get, "blocks", 2): return try await listBlocks()
            case (.delete, "blocks", 3): return try await liftBlock(parts[2].removingPercentEncoding ?? parts[2])
            case (_, "blocks", _): return Self.failure(.methodNotAllowed, "use GET /api/blocks or DELETE /api/blocks/:address")
            case (.get, "upstreams", 2): return Self.rawJSON(.ok, #"{"success":true,"upstreams":\#(upstreams())}"#)
            case (.post, "config", 3) where parts[2] == "reload":
                let problems = reload()
                if problems.isEmpty { return Self.json(.ok, ["success": true, "message": "configuration reloaded"]) }
                return Self.json(.unprocessableContent, ["success": false, "error": "the configuration was not reloaded; the running one stays", "problems": problems])
            default:
                return Self.failure(.notFound, "no admin endpoint at \(request.method.rawValue) \(path)")
            }
        } catch {
            return Self.failure(.serviceUnavailable, "the database did not answer: \(error)")
        }
    }

    // MARK: blocks

    func listBlocks() async throws -> Response {
        let now = WallClock.nowMs()
        let stored = try await store.activeBlocks(now: now, limit: 10_000)
        return Self.json(
            .ok,
            [
                "success": true,
                "blocks": stored.map { block in
                    [
                        "address": block.address, "reason": block.reason, "createdAt": Self.iso(ms: block.createdAt),
                        "expiresAt": Self.iso(ms: block.expiresAt), "strikes": block.strikes,
                    ] as [String: Any]
                },
            ])
    }

    func liftBlock(_ address: String) async throws -> Response {
        guard CIDR(address) != nil, !address.contains("/") else { return Self.failure(.badRequest, "\(address) is not an IP address") }
        let existed = try await store.liftBlock(address: address, now: WallClock.nowMs())
        let local = blocks.isBlocked(address, nowMs: WallClock.nowMs())
        blocks.lift(address)
        guard existed || local else { return Self.failure(.notFound, "\(address) is not blocked") }
        return Self.json(.ok, ["success": true, "message": "the block of \(address) is lifted"])
    }

    // MARK: keys

    func listKeys() async throws -> Response {
        let now = WallClock.nowMs()
        let keys = try await store.keys()
        return Self.json(.ok, ["success": true, "keys": keys.map { Self.keyObject($0, now: now) }])
    }

    static func keyObject(_ key: ManagedKey, now: Int64) -> [String: Any] {
        var object: [String: Any] = [
            "id": key.id, "username": key.username, "keyHint": key.hint, "createdAt": iso(ms: key.createdAt),
            "status": key.revokedAt != nil ? "revoked" : key.isActive(at: now) ? "active" : "expired",
            "name": key.name ?? NSNull(), "lastUsedAt": key.lastUsedAt.map { iso(ms: $0) } ?? NSNull(),
            "expiresAt": key.expiresAt.map { iso(ms: $0) } ?? NSNull(), "revokedAt": key.revokedAt.map { iso(ms: $0) } ?? NSNull(),
        ]
        var limits: [String: Any] = [:]
        if let models = key.limits.models { limits["models"] = models }
        if let rpm = key.limits.requestsPerMinute { limits["requestsPerMinute"] = rpm }
        if let tpm = key.limits.tokensPerMinute { limits["tokensPerMinute"] = tpm }
        if let budget = key.limits.tokenBudget { limits["tokenBudget"] = budget }
        if let concurrency = key.limits.concurrency { limits["concurrency"] = concurrency }
        if let cost = key.limits.costBudget { limits["costBudget"] = cost }
        if let period = key.limits.budgetPeriod { limits["budgetPeriod"] = period }
        object["models"] = key.limits.models ?? NSNull()
        object["limits"] = limits
        return object
    }

    func createKey(_ request: Request) async throws -> Response {
        let body: [String: Any]
        switch await Self.jsonObject(request) {
        case .failure(let message): return Self.failure(.badRequest, message.message)
        case .success(let object): body = object
        }
        let now = WallClock.nowMs()
        let input: KeyRequest
        switch KeyRequest.parse(body, now: now) {
        case .failure(let message): return Self.failure(.badRequest, message.message)
        case .success(let parsed): input = parsed
        }
        let (key, secret) = KeyIssuer.issue(username: input.username, name: input.name, expiresAt: input.expiresAt, limits: input.limits, now: now)
        try await store.insertKey(key)
        onKeyChanged(key)
        var object = Self.keyObject(key, now: now)
        object["key"] = secret
        return Self.json(.created, ["success": true, "key": object])
    }

    func revokeKey(id: String) async throws -> Response {
        guard let key = try await store.key(id: id) else { return Self.failure(.notFound, "no key has the id \(id)") }
        let now = WallClock.nowMs()
        try await store.revokeKey(id: id, at: now)
        var revoked = key
        revoked.revokedAt = key.revokedAt ?? now // the store keeps the first revocation's time
        onKeyChanged(revoked)
        return Self.json(.ok, ["success": true, "message": key.revokedAt == nil ? "key \(id) revoked" : "key \(id) was already revoked"])
    }

    // MARK: analytics

    /// `startDate`/`endDate` (epoch ms or ISO 8601, 1970…9999; default the last 7 days).
    static func range(_ request: Request, now: Int64) -> Result<(Int64, Int64), AdminProblem> {
        let query = request.uri.queryParameters
        func parse(_ name: String) -> Result<Int64?, AdminProblem> {
            guard let text = query[Substring(name)].map(String.init), !text.isEmpty else { return .success(nil) }
            guard let ms = AdminInput.time(text) else {
                return .failure("\(name) must be epoch milliseconds or an ISO 8601 date, \(AdminInput.timeRange) (got \"\(text.prefix(40))\")")
            }
            return .success(ms)
        }
        let start: Int64?, end: Int64?
        switch parse("startDate") {
        case .failure(let message): return .failure(message)
        case .success(let value): start = value
        }
        switch parse("endDate") {
        case .failure(let message): return .failure(message)
        case .success(let value): end = value
        }
        // Both within 0…latestMs (or `now`, far inside it): none of this can overflow.
        let to = end ?? min(now, AdminInput.latestMs) + 1
        let from = start ?? max(AdminInput.earliestMs, to - 7 * Store.dayMs)
        guard from < to else { return .failure("startDate must be before endDate") }
        return .success((from, to))
    }

    func records(_ request: Request, keyID: String) async throws -> Response {
        let (from, to): (Int64, Int64)
        switch Self.range(request, now: WallClock.nowMs()) {
        case .failure(let message): return Self.failure(.badRequest, message.message)
        case .success(let range): (from, to) = range
        }
        var limit = 1000
        if let text = request.uri.queryParameters["limit"] {
            guard let value = Int(text), (1...10_000).contains(value) else { return Self.failure(.badRequest, "limit must be a number from 1 to 10000") }
            limit = value
        }
        let events = try await store.events(keyID: keyID == "all" ? nil : keyID, from: from, to: to, limit: limit)
        return Self.json(.ok, ["success": true, "startDate": from, "endDate": to, "records": events.map(Self.recordObject)])
    }

    static func recordObject(_ event: RequestEvent) -> [String: Any] {
        [
            "requestId": event.requestID, "keyId": event.keyID ?? NSNull(), "username": event.username ?? NSNull(),
            "startTime": event.startMs, "endTime": event.success ? event.endMs as Any : NSNull(), "finishedAt": event.endMs,
            "durationMs": event.endMs &- event.startMs, "status": event.status, "success": event.success,
            "model": event.model ?? NSNull(), "route": event.route ?? NSNull(), "upstream": event.upstream ?? NSNull(),
            "dialect": event.dialect ?? NSNull(), "stream": event.stream, "ttfbMs": event.ttfbMs ?? NSNull(),
            "promptTokens": event.promptTokens ?? NSNull(), "completionTokens": event.completionTokens ?? NSNull(),
            "totalTokens": event.totalTokens ?? NSNull(), "bytesIn": event.bytesIn, "bytesOut": event.bytesOut, "errorCode": event.errorCode ?? NSNull(),
            "costUsd": event.costUSD ?? NSNull(), "cachedTokens": event.cachedTokens ?? NSNull(),
            "reasoningTokens": event.reasoningTokens ?? NSNull(),
        ]
    }

    func summary(_ request: Request) async throws -> Response {
        let (from, to): (Int64, Int64)
        switch Self.range(request, now: WallClock.nowMs()) {
        case .failure(let message): return Self.failure(.badRequest, message.message)
        case .success(let range): (from, to) = range
        }
        let groupText = request.uri.queryParameters["groupBy"].map(String.init) ?? "day"
        guard let grouping = Store.Grouping(rawValue: groupText) else {
            return Self.failure(.badRequest, "groupBy must be one of \(Store.Grouping.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(groupText)\")")
        }
        let keyID = request.uri.queryParameters["keyId"].map(String.init)
        let rows = try await store.summary(from: from, to: to, keyID: keyID, groupBy: grouping)
        let totals = try await store.summary(from: from, to: to, keyID: keyID, groupBy: .none).first
        func object(_ row: UsageSummary) -> [String: Any] {
            [
                "group": row.group ?? NSNull(), "requests": row.requests, "failures": row.failures, "promptTokens": row.promptTokens,
                "completionTokens": row.completionTokens, "totalTokens": row.totalTokens, "p50Ms": row.p50Ms ?? NSNull(), "p95Ms": row.p95Ms ?? NSNull(),
                "costUsd": row.costUSD, "cachedTokens": row.cachedTokens, "cachedRatio": row.cachedRatio ?? NSNull(),
            ]
        }
        let empty = UsageSummary(group: nil, requests: 0, failures: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, p50Ms: nil, p95Ms: nil)
        return Self.json(
            .ok,
            [
                "success": true, "startDate": from, "endDate": to, "groupBy": grouping.rawValue,
                "summary": rows.map(object), "totals": object(totals ?? empty),
            ])
    }

    /// The events as CSV, written a page at a time as the client reads them: memory stays at
    /// one page however long the range.
    func export(_ request: Request) async throws -> Response {
        let (from, to): (Int64, Int64)
        switch Self.range(request, now: WallClock.nowMs()) {
        case .failure(let message): return Self.failure(.badRequest, message.message)
        case .success(let range): (from, to) = range
        }
        let keyID = request.uri.queryParameters["keyId"].map(String.init)
        // The first page before the answer starts: a database that is down still gets a 503.
        let first = try await store.eventPage(keyID: keyID, from: from, to: to, after: nil, limit: Self.exportPage)
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"llmproxy-analytics.csv\""
        headers[.cacheControl] = "no-store"
        let store = self.store
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: Self.csvHeader))
                var page = first
                while true {
                    try await writer.write(ByteBuffer(string: page.events.map(Self.csvLine).joined()))
                    guard let next = page.next else { break }
                    page = try await store.eventPage(keyID: keyID, from: from, to: to, after: next, limit: Self.exportPage)
                }
                try await writer.finish(nil)
            })
    }

    static let exportPage = 1000

    static let csvHeader =
        "request_id,key_id,username,start_ms,end_ms,status,success,model,route,upstream,dialect,stream,ttfb_ms,prompt_tokens,completion_tokens,total_tokens,bytes_in,bytes_out,error_code,cost_usd\n"

    static func csvLine(_ event: RequestEvent) -> String {
        let fields: [String] = [
            event.requestID, event.keyID ?? "", event.username ?? "", String(event.startMs), String(event.endMs), String(event.status),
            event.success ? "true" : "false", event.model ?? "", event.route ?? "", event.upstream ?? "", event.dialect ?? "",
            event.stream ? "true" : "false", event.ttfbMs.map { String($0) } ?? "", event.promptTokens.map(String.init) ?? "",
            event.completionTokens.map(String.init) ?? "", event.totalTokens.map(String.init) ?? "", String(event.bytesIn),
            String(event.bytesOut), event.errorCode ?? "", event.costUSD.map { String($0) } ?? "",
        ]
        return fields.map(csvField).joined(separator: ",") + "\n"
    }

    /// RFC 4180 quoting, and a leading `'` before `= + - @` so a spreadsheet never runs a
    /// value as a formula.
    static func csvField(_ value: String) -> String {
        var text = value
        if let first = text.first, "=+-@".contains(first), Double(text) == nil { text = "'" + text }
        if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return text
    }

    static func rawJSON(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
