import Logging
import PostgresKit
import SQLKit
import SQLiteKit

/// Request events: written in batches by the recorder, read by the analytics API.
extension Store {
    static let eventColumns = [
        "request_id", "key_id", "username", "start_ms", "end_ms", "status", "success", "model", "route", "upstream",
        "dialect", "stream", "ttfb_ms", "prompt_tokens", "completion_tokens", "total_tokens", "bytes_in", "bytes_out", "error_code", "cost_usd",
        "cached_tokens", "reasoning_tokens",
    ]

    /// Rows per INSERT: 500 × 22 values stays under both databases' bind limits (SQLite's
    /// 32,766, PostgreSQL's 65,535).
    static let eventRowsPerStatement = 500

    /// Writes `events` in one statement per few hundred rows.
    ///
    /// Binds the values straight into each driver's own representation instead of going
    /// through SQLKit's `Encodable` path: that path (a query builder per batch, an existential
    /// and a dynamic cast per value, the SQL text serialised anew) cost more instructions per
    /// event than the request it records (issue 16, `bench/instructions.py`).
    package func insertEvents(_ events: [RequestEvent]) async throws {
        var start = 0
        while start < events.count {
            let batch = events[start..<min(start + Self.eventRowsPerStatement, events.count)]
            switch backend {
            case .sqlite(_, let connection):
                var binds: [SQLiteData] = []
                binds.reserveCapacity(batch.count * Self.eventColumns.count)
                for event in batch { Self.bind(event, to: &binds) }
                _ = try await connection.query(Self.eventInsertSQL(rows: batch.count, postgres: false), binds)
            case .postgres(let client):
                var binds = PostgresBindings(capacity: batch.count * Self.eventColumns.count)
                for event in batch { Self.bind(event, to: &binds) }
                let query = PostgresQuery(unsafeSQL: Self.eventInsertSQL(rows: batch.count, postgres: true), binds: binds)
                try await client.withConnection { _ = try await $0.query(query, logger: Self.quietLogger) }
            }
            start += batch.count
        }
    }

    /// The INSERT for `rows` events; the full-size statement's text is built once.
    static func eventInsertSQL(rows: Int, postgres: Bool) -> String {
        if rows == eventRowsPerStatement { return postgres ? fullPostgresInsert : fullSQLiteInsert }
        return buildEventInsertSQL(rows: rows, postgres: postgres)
    }

    private static let fullSQLiteInsert = buildEventInsertSQL(rows: eventRowsPerStatement, postgres: false)
    private static let fullPostgresInsert = buildEventInsertSQL(rows: eventRowsPerStatement, postgres: true)

    /// Built as bytes: with `String` appends a 20-row statement's text cost more
    /// instructions than binding its values.
    static func buildEventInsertSQL(rows: Int, postgres: Bool) -> String {
        let columns = eventColumns.count
        var sql = Array(eventInsertPrefix.utf8)
        sql.reserveCapacity(sql.count + rows * columns * (postgres ? 8 : 3))
        for row in 0..<rows {
            if row > 0 { sql.append(contentsOf: ", ".utf8) }
            guard postgres else {
                sql.append(contentsOf: sqliteRowPlaceholders)
                continue
            }
            sql.append(UInt8(ascii: "("))
            for column in 0..<columns {
                if column > 0 { sql.append(contentsOf: ", ".utf8) }
                sql.append(UInt8(ascii: "$"))
                sql.append(contentsOf: String(row * columns + column + 1).utf8)
            }
            sql.append(UInt8(ascii: ")"))
        }
        return String(decoding: sql, as: UTF8.self)
    }

    private static let eventInsertPrefix = "INSERT INTO request_events (" + eventColumns.map { "\"\($0)\"" }.joined(separator: ", ") + ") VALUES "
    private static let sqliteRowPlaceholders = Array(("(" + Array(repeating: "?", count: eventColumns.count).joined(separator: ", ") + ")").utf8)

    /// One event's values in `eventColumns` order — the one place that order is spelled.
    static func bind(_ event: RequestEvent, to sink: inout some EventValueSink) {
        sink.text(event.requestID)
        sink.text(event.keyID)
        sink.text(event.username)
        sink.integer(Int(event.startMs))
        sink.integer(Int(event.endMs))
        sink.integer(event.status)
        sink.integer(event.success ? 1 : 0)
        sink.text(event.model)
        sink.text(event.route)
        sink.text(event.upstream)
        sink.text(event.dialect)
        sink.integer(event.stream ? 1 : 0)
        sink.real(event.ttfbMs)
        sink.integer(event.promptTokens)
        sink.integer(event.completionTokens)
        sink.integer(event.totalTokens)
        sink.integer(event.bytesIn)
        sink.integer(event.bytesOut)
        sink.text(event.errorCode)
        sink.real(event.costUSD)
        sink.integer(event.cachedTokens)
        sink.integer(event.reasoningTokens)
    }

    /// PostgresNIO logs each query at debug level; the store's statements are not logged.
    static let quietLogger = Logger(label: "llmproxy.store", factory: { _ in SwiftLogNoOpLogHandler() })

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

/// Where ``Store/bind(_:to:)`` puts an event's values: each driver's own bind list.
protocol EventValueSink {
    mutating func text(_ value: String?)
    mutating func integer(_ value: Int?)
    mutating func real(_ value: Double?)
}

extension [SQLiteData]: EventValueSink {
    mutating func text(_ value: String?) { append(value.map(SQLiteData.text) ?? .null) }
    mutating func integer(_ value: Int?) { append(value.map(SQLiteData.integer) ?? .null) }
    mutating func real(_ value: Double?) { append(value.map(SQLiteData.float) ?? .null) }
}

/// The types SQLKit's encoder chose before: `text`, `int8`, `float8`.
extension PostgresBindings: EventValueSink {
    mutating func text(_ value: String?) { append(value) }
    mutating func integer(_ value: Int?) { append(value) }
    mutating func real(_ value: Double?) { append(value) }
}
