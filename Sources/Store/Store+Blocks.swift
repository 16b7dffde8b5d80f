import SQLKit

/// A blocked address as the store keeps it.
package struct StoredBlock: Sendable, Equatable {
    package var address: String
    package var reason: String
    package var createdAt: Int64
    package var expiresAt: Int64
    package var strikes: Int

    package init(address: String, reason: String, createdAt: Int64, expiresAt: Int64, strikes: Int) {
        self.address = address
        self.reason = reason
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.strikes = strikes
    }
}

/// The automatic block list: written by every instance's detectors, read by all of them,
/// lifted from the admin API or the CLI.
extension Store {
    /// Adds or extends blocks (a later expiry wins).
    package func upsertBlocks(_ blocks: [StoredBlock]) async throws {
        for block in blocks {
            try await run(
                """
                INSERT INTO blocks (address, reason, created_at, expires_at, strikes)
                VALUES (\(bind: block.address), \(bind: block.reason), \(bind: block.createdAt), \(bind: block.expiresAt), \(bind: block.strikes))
                ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at,
                    expires_at = excluded.expires_at, strikes = excluded.strikes
                WHERE excluded.expires_at > blocks.expires_at
                """)
        }
    }

    /// Blocks still in force at `now` (ms), newest first; at most `limit`.
    package func activeBlocks(now: Int64, limit: Int = 100_000) async throws -> [StoredBlock] {
        try await all("SELECT * FROM blocks WHERE expires_at > \(bind: now) ORDER BY created_at DESC LIMIT \(bind: limit)").map { row in
            StoredBlock(
                address: try row.decode(column: "address", as: String.self), reason: try row.decode(column: "reason", as: String.self),
                createdAt: try row.decode(column: "created_at", as: Int64.self), expiresAt: try row.decode(column: "expires_at", as: Int64.self),
                strikes: try row.decode(column: "strikes", as: Int.self))
        }
    }

    /// Ends the block of `address`; false when it had none in force.
    @discardableResult
    package func liftBlock(address: String, now: Int64) async throws -> Bool {
        let existed = try await all("SELECT address FROM blocks WHERE address = \(bind: address) AND expires_at > \(bind: now)").count > 0
        try await run("DELETE FROM blocks WHERE address = \(bind: address)")
        return existed
    }

    /// Deletes blocks that ended before `cutoff` (ms).
    package func pruneBlocks(before cutoff: Int64) async throws {
        try await run("DELETE FROM blocks WHERE expires_at < \(bind: cutoff)")
    }
}
