import SQLKit

/// Usage summaries, computed by the database: the gateway never holds more than one row per
/// group, however many events the range covers.
extension Store {
    package enum Grouping: String, Sendable, CaseIterable { case key, owner, model, upstream, day, none }

    /// Milliseconds in a day (UTC days: no leap seconds in epoch time).
    package static let dayMs: Int64 = 86_400_000

    /// Requests, failures, tokens and nearest-rank p50/p95 latency per group over `[from, to)`.
    /// Two aggregate queries (sums, then the two ranked latencies per group via window
    /// functions, which SQLite ≥ 3.25 and PostgreSQL both have), merged here by group.
    package func summary(from: Int64, to: Int64, keyID: String? = nil, groupBy grouping: Grouping) async throws -> [UsageSummary] {
        // The group expression comes from this fixed table, never from the request.
        let group: String
        switch grouping {
        case .key: group = "key_id"
        case .owner: group = "username"
        case .model: group = "model"
        case .upstream: group = "upstream"
        case .day: group = "start_ms / \(Self.dayMs)"
        case .none: group = "NULL"
        }
        let filter: SQLQueryString = keyID.map { "AND key_id = \(bind: $0)" } ?? ""
        let groupBy: SQLQueryString = grouping == .none ? "" : "GROUP BY \(unsafeRaw: group)"
        let totals = try await all(
            """
            SELECT \(unsafeRaw: group) AS grp, COUNT(*) AS requests,
                   CAST(COALESCE(SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS failures,
                   CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt,
                   CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion,
                   CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT) AS total,
                   COALESCE(SUM(cost_usd), 0.0) AS cost,
                   CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT) AS cached
            FROM request_events WHERE start_ms >= \(bind: from) AND start_ms < \(bind: to) \(filter) \(groupBy)
            """)
        var summaries: [String?: UsageSummary] = [:]
        for row in totals {
            let requests = try row.decode(column: "requests", as: Int.self)
            guard requests > 0 else { continue } // no GROUP BY: one row even for no events
            let name = try groupName(row, grouping)
            summaries[name] = UsageSummary(
                group: name, requests: requests, failures: try row.decode(column: "failures", as: Int.self),
                promptTokens: try row.decode(column: "prompt", as: Int.self), completionTokens: try row.decode(column: "completion", as: Int.self),
                totalTokens: try row.decode(column: "total", as: Int.self), p50Ms: nil, p95Ms: nil,
                costUSD: try row.decode(column: "cost", as: Double.self))
            summaries[name]?.cachedTokens = try row.decode(column: "cached", as: Int.self)
        }
        guard !summaries.isEmpty else { return [] }
        // Nearest rank: the value at 1-based rank ceil(p·n), in integer arithmetic.
        let partition = grouping == .none ? "" : "PARTITION BY \(group)"
        let ranked = try await all(
            """
            SELECT grp, rn, cnt, latency FROM (
                SELECT \(unsafeRaw: group) AS grp, end_ms - start_ms AS latency,
                       ROW_NUMBER() OVER (\(unsafeRaw: partition) ORDER BY end_ms - start_ms) AS rn,
                       COUNT(*) OVER (\(unsafeRaw: partition)) AS cnt
                FROM request_events WHERE start_ms >= \(bind: from) AND start_ms < \(bind: to) \(filter)
            ) ranked
            WHERE rn = (cnt + 1) / 2 OR rn = (cnt * 95 + 99) / 100
            """)
        for row in ranked {
            let name = try groupName(row, grouping)
            let rank = try row.decode(column: "rn", as: Int64.self), count = try row.decode(column: "cnt", as: Int64.self)
            let latency = Double(try row.decode(column: "latency", as: Int64.self))
            if rank == (count + 1) / 2 { summaries[name]?.p50Ms = latency }
            if rank == (count * 95 + 99) / 100 { summaries[name]?.p95Ms = latency }
        }
        return summaries.values.sorted { ($0.group ?? "") < ($1.group ?? "") }
    }

    private func groupName(_ row: any SQLRow, _ grouping: Grouping) throws -> String? {
        switch grouping {
        case .none: return nil
        case .day: return try row.decode(column: "grp", as: Int64?.self).map { Self.day($0 * Self.dayMs) }
        case .key, .owner, .model, .upstream: return try row.decode(column: "grp", as: String?.self)
        }
    }

    /// `YYYY-MM-DD` (UTC) of a time in ms; total for every Int64.
    static func day(_ ms: Int64) -> String {
        // Days since 1970 to a civil date (Howard Hinnant's algorithm). Floor division
        // keeps times before 1970 on the right day; every step stays far inside Int.
        let days = Int(ms / dayMs) - (ms < 0 && ms % dayMs != 0 ? 1 : 0)
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
}
