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
        // One reading of the clock for the whole heartbeat: however long its statements take
        // on a loaded machine, this instance's own row is never judged stale against it.
        var now = nowMs
        if kind == .postgres, let row = try await all("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now").first {
            now = try row.decode(column: "now", as: Int64.self)
        }
        try await run(
            """
            INSERT INTO gateway_instances (id, seen_ms) VALUES (\(bind: instance), \(bind: now))
            ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms
            """)
        try await run("DELETE FROM gateway_instances WHERE seen_ms < \(bind: now - 3_600_000)")
        return try await all("SELECT id FROM gateway_instances WHERE seen_ms >= \(bind: now - liveWithinMs) ORDER BY id").map {
            try $0.decode(column: "id", as: String.self)
        }
    }

    /// Takes `instance` out of the list at once (a clean shutdown), so the others take over
    /// its part of every limit within a heartbeat instead of after the live window.
    package func leave(instance: String) async throws {
        try await run("DELETE FROM gateway_instances WHERE id = \(bind: instance)")
    }
}
