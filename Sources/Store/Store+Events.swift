import SQLKit

/// Request events: written in batches by the recorder, read by the analytics API.
extension Store {
    static let eventColumns = [
        "request_id", "key_id", "username", "start_ms", "end_ms", "status", "success", "model", "route", "upstream",
        "dialect", "stream", "ttfb_ms", "prompt_tokens", "completion_tokens", "total_tokens", "bytes_in", "bytes_out", "error_code", "cost_usd",
        "cached_tokens", "reasoning_tokens",
    ]

    /// Writes `events` in one statement per few hundred rows.
    package func insertEvents(_ events: [RequestEvent]) async throws {
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
                        event.costUSD, event.cachedTokens, event.reasoningTokens,
                    ]
                    insert = insert.values(values.map { SQLBind($0) })
                }
                try await insert.run()
            }
            start += batch.count
        }
    }

    /// Events in `[from, to)` (ms), newest first, for one key or all keys.
    package func events(keyID: String?, from: Int64, to: Int64, limit: Int = 1000) async throws -> [RequestEvent] {
        let rows: [any SQLRow]
        if let keyID {
            rows = try await all(
                """
                SELECT * FROM request_events WHERE key_id = \(bind: keyID) AND start_ms >= \(bind: from) AND start_ms < \(bind: to)
                ORDER BY start_ms DESC, id DESC LIMIT \(bind: limit)
                """)
        } else {
            rows = try await all(
                """
                SELECT * FROM request_events WHERE start_ms >= \(bind: from) AND start_ms < \(bind: to)
                ORDER BY start_ms DESC, id DESC LIMIT \(bind: limit)
                """)
        }
        return try rows.map(Self.event(from:))
    }

    /// Where an export page ended: the last row's start and id. Pages follow each other
    /// newest first on `(start_ms, id)`, so rows written during an export neither repeat nor
    /// shift the pages still to come.
    package struct EventCursor: Sendable, Equatable {
        package let startMs: Int64
        package let id: Int64
    }

    /// One page of events in `[from, to)`, newest first, after `cursor` (nil: the first
    /// page); `next` is nil after the last page.
    package func eventPage(keyID: String?, from: Int64, to: Int64, after cursor: EventCursor?, limit: Int = 1000)
        async throws -> (events: [RequestEvent], next: EventCursor?)
    {
        let key: SQLQueryString = keyID.map { "AND key_id = \(bind: $0)" } ?? ""
        let after: SQLQueryString = cursor.map { "AND (start_ms < \(bind: $0.startMs) OR (start_ms = \(bind: $0.startMs) AND id < \(bind: $0.id)))" } ?? ""
        let rows = try await all(
            """
            SELECT * FROM request_events WHERE start_ms >= \(bind: from) AND start_ms < \(bind: to) \(key) \(after)
            ORDER BY start_ms DESC, id DESC LIMIT \(bind: limit)
            """)
        let events = try rows.map(Self.event(from:))
        guard rows.count == limit, let last = rows.last else { return (events, nil) }
        return (events, EventCursor(startMs: try last.decode(column: "start_ms", as: Int64.self), id: try last.decode(column: "id", as: Int64.self)))
    }

    /// Deletes events that started before `cutoff` (ms), `batch` rows per statement so no
    /// single statement holds the database for long; returns how many went.
    @discardableResult
    package func pruneEvents(before cutoff: Int64, batch: Int = 5000) async throws -> Int {
        var deleted = 0
        while !Task.isCancelled {
            let gone = try await all(
                """
                DELETE FROM request_events WHERE id IN (
                    SELECT id FROM request_events WHERE start_ms < \(bind: cutoff) ORDER BY start_ms LIMIT \(bind: batch))
                RETURNING id
                """
            ).count
            deleted += gone
            if gone < batch { break }
            await Task.yield()
        }
        return deleted
    }

    /// Tokens and US dollars spent since `since` (ms) by one key or one owner, for seeding
    /// the budget ledger at start.
    package func spend(keyID: String? = nil, username: String? = nil, since: Int64) async throws -> (tokens: Int64, costUSD: Double) {
        let filter: SQLQueryString
        if let keyID {
            filter = "key_id = \(bind: keyID)"
        } else if let username {
            filter = "username = \(bind: username)"
        } else {
            return (0, 0)
        }
        let row = try await all(
            """
            SELECT CAST(COALESCE(SUM(COALESCE(total_tokens, COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0))), 0) AS BIGINT) AS tokens,
                   COALESCE(SUM(cost_usd), 0.0) AS cost
            FROM request_events WHERE \(filter) AND start_ms >= \(bind: since)
            """
        ).first
        guard let row else { return (0, 0) }
        return (try row.decode(column: "tokens", as: Int64.self), try row.decode(column: "cost", as: Double.self))
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
            errorCode: try row.decode(column: "error_code", as: String?.self),
            costUSD: try row.decode(column: "cost_usd", as: Double?.self),
            cachedTokens: try row.decode(column: "cached_tokens", as: Int?.self),
            reasoningTokens: try row.decode(column: "reasoning_tokens", as: Int?.self)
        )
    }
}
