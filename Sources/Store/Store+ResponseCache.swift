import SQLKit

/// One answer of the response cache as the store keeps it: the key's digest in hex, the
/// instance that wrote it, its wall-clock times and the encoded answer (see ProxyCore's
/// `CacheEntryCodec`). The store does not read the payload.
package struct StoredCacheAnswer: Sendable, Equatable {
    package var key: String
    package var instance: String
    package var createdMs: Int64
    package var expiresMs: Int64
    package var size: Int
    package var payload: String

    package init(key: String, instance: String, createdMs: Int64, expiresMs: Int64, size: Int, payload: String) {
        self.key = key
        self.instance = instance
        self.createdMs = createdMs
        self.expiresMs = expiresMs
        self.size = size
        self.payload = payload
    }
}

/// The response cache's second level (`cache.store`): written in batches by each
/// instance's sync, read back by the others, bounded by time to live and by bytes.
extension Store {
    /// Adds answers, replacing older answers for the same key.
    package func putCacheAnswers(_ answers: [StoredCacheAnswer]) async throws {
        for answer in answers {
            try await run(
                """
                INSERT INTO response_cache (key, instance, created_ms, expires_ms, size, payload)
                VALUES (\(bind: answer.key), \(bind: answer.instance), \(bind: answer.createdMs), \(bind: answer.expiresMs), \(bind: answer.size), \(bind: answer.payload))
                ON CONFLICT (key) DO UPDATE SET instance = excluded.instance, created_ms = excluded.created_ms,
                    expires_ms = excluded.expires_ms, size = excluded.size, payload = excluded.payload
                WHERE excluded.created_ms >= response_cache.created_ms
                """)
        }
    }

    /// Fresh answers written at or after `sinceMs` by instances other than `excluding`,
    /// newest first; at most `limit` rows and about `maxBytes` of payload.
    package func cacheAnswers(sinceMs: Int64, excluding instance: String?, nowMs: Int64, limit: Int, maxBytes: Int) async throws -> [StoredCacheAnswer] {
        let rows = try await all(
            """
            SELECT key, instance, created_ms, expires_ms, size, payload FROM response_cache
            WHERE created_ms >= \(bind: sinceMs) AND expires_ms > \(bind: nowMs) AND instance <> \(bind: instance ?? "")
            ORDER BY created_ms DESC LIMIT \(bind: limit)
            """)
        var answers: [StoredCacheAnswer] = []
        var total = 0
        for row in rows {
            let answer = StoredCacheAnswer(
                key: try row.decode(column: "key", as: String.self), instance: try row.decode(column: "instance", as: String.self),
                createdMs: try row.decode(column: "created_ms", as: Int64.self), expiresMs: try row.decode(column: "expires_ms", as: Int64.self),
                size: try row.decode(column: "size", as: Int.self), payload: try row.decode(column: "payload", as: String.self))
            total += answer.payload.utf8.count
            if total > maxBytes { break }
            answers.append(answer)
        }
        return answers
    }

    /// Deletes expired answers, then the oldest until the rest take at most `maxBytes`.
    package func pruneCacheAnswers(nowMs: Int64, maxBytes: Int) async throws {
        try await run("DELETE FROM response_cache WHERE expires_ms <= \(bind: nowMs)")
        try await run(
            """
            DELETE FROM response_cache WHERE key IN (
                SELECT key FROM (
                    SELECT key, SUM(size) OVER (ORDER BY created_ms DESC, key) AS running FROM response_cache
                ) AS ranked WHERE running > \(bind: maxBytes))
            """)
    }
}
