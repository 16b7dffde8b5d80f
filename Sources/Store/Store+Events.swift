import SQLKit

/// Request events: written in batches by the recorder, read by the analytics API.
extension Store {
    static let eventColumns = ["request_id", "key_id", "username", "start_ms", "end_ms", "status", "success", "model", "route", "upstream",
                               "dialect", "stream", "ttfb_ms", "prompt_tokens", "completion_tokens", "total_tokens", "bytes_in", "bytes_out", "error_code"]

    /// Writes `events` in one statement per few hundred rows.
    public func insertEvents(_ events: [RequestEvent]) async throws {
        var start = 0
        while start < events.count {
            let batch = events[start..<min(start + 500, events.count)]
            try await withDatabase { database in
            var insert = database.insert(into: "request_events").columns(Self.eventColumns)
            for event in batch {
                let values: [any Encodable & Sendable] = [
                    event.requestID, event.keyID, event.username, event.startMs, event.endMs, event.status, event.success ? 1 : 0,
                    event.model, event.route, event.upstream, event.dialect, event.stream ? 1 : 0, event.ttfbMs,
                    event.promptTokens, event.completionTokens, event.totalTokens, event.bytesIn, event.bytesOut, event.errorCode,
                ]
                insert = insert.values(values.map { SQLBind($0) })
            }
            try await insert.run()
            }
            start += batch.count
        }
    }

    /// Events in `[from, to)` (ms), newest first, for one key or all keys.
    public func events(keyID: String?, from: Int64, to: Int64, limit: Int = 1000) async throws -> [RequestEvent] {
        let rows: [any SQLRow]
        if let keyID {
            rows = try await all("""
                SELECT * FROM request_events WHERE key_id = \(bind: keyID) AND start_ms >= \(bind: from) AND start_ms < \(bind: to)
                ORDER BY start_ms DESC, id DESC LIMIT \(bind: limit)
                """)
        } else {
            rows = try await all("""
                SELECT * FROM request_events WHERE start_ms >= \(bind: from) AND start_ms < \(bind: to)
                ORDER BY start_ms DESC, id DESC LIMIT \(bind: limit)
                """)
        }
        return try rows.map(Self.event(from:))
    }

    public enum Grouping: String, Sendable, CaseIterable { case key, model, upstream, day, none }

    /// Requests, failures, tokens and latency percentiles per group over `[from, to)`.
    /// Percentiles are computed here rather than in SQL, the same way for both databases.
    public func summary(from: Int64, to: Int64, keyID: String? = nil, groupBy grouping: Grouping) async throws -> [UsageSummary] {
        let filter: SQLQueryString = keyID.map { "AND key_id = \(bind: $0)" } ?? ""
        let rows = try await all("""
            SELECT key_id, model, upstream, start_ms, end_ms, success, prompt_tokens, completion_tokens, total_tokens
            FROM request_events WHERE start_ms >= \(bind: from) AND start_ms < \(bind: to) \(filter) LIMIT 1000000
            """)
        var groups: [String?: (summary: UsageSummary, latencies: [Double])] = [:]
        for row in rows {
            let start = try row.decode(column: "start_ms", as: Int64.self)
            let group: String?
            switch grouping {
            case .key: group = try row.decode(column: "key_id", as: String?.self)
            case .model: group = try row.decode(column: "model", as: String?.self)
            case .upstream: group = try row.decode(column: "upstream", as: String?.self)
            case .day: group = Self.day(start)
            case .none: group = nil
            }
            var entry = groups[group] ?? (UsageSummary(group: group, requests: 0, failures: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, p50Ms: nil, p95Ms: nil), [])
            entry.summary.requests += 1
            if try row.decode(column: "success", as: Int.self) == 0 { entry.summary.failures += 1 }
            entry.summary.promptTokens += try row.decode(column: "prompt_tokens", as: Int?.self) ?? 0
            entry.summary.completionTokens += try row.decode(column: "completion_tokens", as: Int?.self) ?? 0
            entry.summary.totalTokens += try row.decode(column: "total_tokens", as: Int?.self) ?? 0
            entry.latencies.append(Double(try row.decode(column: "end_ms", as: Int64.self) - start))
            groups[group] = entry
        }
        return groups.values.map { entry in
            var summary = entry.summary
            let sorted = entry.latencies.sorted()
            summary.p50Ms = Self.percentile(sorted, 0.50)
            summary.p95Ms = Self.percentile(sorted, 0.95)
            return summary
        }.sorted { ($0.group ?? "") < ($1.group ?? "") }
    }

    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }

    /// `YYYY-MM-DD` (UTC) of a time in ms.
    static func day(_ ms: Int64) -> String {
        // Days since 1970 to a civil date (Howard Hinnant's algorithm).
        let days = Int(ms / 86_400_000) - (ms < 0 && ms % 86_400_000 != 0 ? 1 : 0)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }

    static func event(from row: any SQLRow) throws -> RequestEvent {
        RequestEvent(
            requestID: try row.decode(column: "request_id", as: String.self),
            keyID: try row.decode(column: "key_id", as: String?.self),
            username: try row.decode(column: "username", as: String?.self),
            startMs: try row.decode(column: "start_ms", as: Int64.self),
            endMs: try row.decode(column: "end_ms", as: Int64.self),
            status: try row.decode(column: "status", as: Int.self),
            success: try row.decode(column: "success", as: Int.self) != 0,
            model: try row.decode(column: "model", as: String?.self),
            route: try row.decode(column: "route", as: String?.self),
            upstream: try row.decode(column: "upstream", as: String?.self),
            dialect: try row.decode(column: "dialect", as: String?.self),
            stream: try row.decode(column: "stream", as: Int.self) != 0,
            ttfbMs: try row.decode(column: "ttfb_ms", as: Double?.self),
            promptTokens: try row.decode(column: "prompt_tokens", as: Int?.self),
            completionTokens: try row.decode(column: "completion_tokens", as: Int?.self),
            totalTokens: try row.decode(column: "total_tokens", as: Int?.self),
            bytesIn: try row.decode(column: "bytes_in", as: Int.self),
            bytesOut: try row.decode(column: "bytes_out", as: Int.self),
            errorCode: try row.decode(column: "error_code", as: String?.self)
        )
    }
}
