import SQLKit

/// Which gateway instances share the store right now: each writes its heartbeat once a
/// second, and divides its rate and concurrency limits by the number of live instances (see
/// `ClusterShare`). Times are the database's own clock in PostgreSQL, so instances whose
/// clocks disagree still agree on who is alive.
extension Store {
    /// Records that `instance` is alive and returns the ids of every instance seen within
    /// `liveWithinMs`, sorted (an instance's rank is its place in that list). Rows silent for
    /// an hour are removed.
    package func heartbeat(instance: String, liveWithinMs: Int64, nowMs: Int64) async throws -> [String] {
        let now: SQLQueryString = kind == .postgres ? "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)" : "\(bind: nowMs)"
        try await run(
            """
            INSERT INTO gateway_instances (id, seen_ms) VALUES (\(bind: instance), \(now))
            ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms
            """)
        try await run("DELETE FROM gateway_instances WHERE seen_ms < \(now) - 3600000")
        return try await all("SELECT id FROM gateway_instances WHERE seen_ms >= \(now) - \(bind: liveWithinMs) ORDER BY id").map {
            try $0.decode(column: "id", as: String.self)
        }
    }

    /// Takes `instance` out of the list at once (a clean shutdown), so the others take over
    /// its part of every limit within a heartbeat instead of after the live window.
    package func leave(instance: String) async throws {
        try await run("DELETE FROM gateway_instances WHERE id = \(bind: instance)")
    }
}
