import SQLKit

/// Managed keys: create, list, revoke, and the usage stamp.
extension Store {
    package func insertKey(_ key: ManagedKey) async throws {
        let models = key.limits.models.map { $0.joined(separator: ",") }
        try await run(
            """
            INSERT INTO api_keys (id, key_hash, key_hint, username, name, created_at, last_used_at, expires_at, revoked_at, models, rpm, tpm, token_budget,
                                  concurrency, cost_budget, budget_period)
            VALUES (\(bind: key.id), \(bind: key.hash), \(bind: key.hint), \(bind: key.username), \(bind: key.name), \(bind: key.createdAt),
                    \(bind: key.lastUsedAt), \(bind: key.expiresAt), \(bind: key.revokedAt), \(bind: models),
                    \(bind: key.limits.requestsPerMinute), \(bind: key.limits.tokensPerMinute), \(bind: key.limits.tokenBudget),
                    \(bind: key.limits.concurrency), \(bind: key.limits.costBudget), \(bind: key.limits.budgetPeriod))
            """)
        try await announceKeyChange(key.id)
    }

    /// Every key, newest first.
    package func keys() async throws -> [ManagedKey] {
        try await all("SELECT * FROM api_keys ORDER BY created_at DESC, id").map(Self.key(from:))
    }

    package func key(id: String) async throws -> ManagedKey? {
        try await all("SELECT * FROM api_keys WHERE id = \(bind: id)").first.map(Self.key(from:))
    }

    /// Marks the key revoked. Returns false when no key has that id; revoking twice keeps
    /// the first time.
    @discardableResult
    package func revokeKey(id: String, at time: Int64) async throws -> Bool {
        guard try await key(id: id) != nil else { return false }
        try await run("UPDATE api_keys SET revoked_at = \(bind: time) WHERE id = \(bind: id) AND revoked_at IS NULL")
        try await announceKeyChange(id)
        return true
    }

    /// Records when keys were last used (the latest time per key id), in one statement each.
    package func touchKeys(_ lastUsed: [String: Int64]) async throws {
        for (id, time) in lastUsed {
            try await run("UPDATE api_keys SET last_used_at = \(bind: time) WHERE id = \(bind: id) AND (last_used_at IS NULL OR last_used_at < \(bind: time))")
        }
    }

    /// Tells other instances sharing a PostgreSQL database that a key changed.
    func announceKeyChange(_ id: String) async throws {
        guard kind == .postgres else { return }
        try await run("SELECT pg_notify(\(bind: Self.keyChannel), \(bind: id))")
    }

    static func key(from row: any SQLRow) throws -> ManagedKey {
        let models = try row.decode(column: "models", as: String?.self).map { $0.split(separator: ",").map(String.init) }
        return ManagedKey(
            id: try row.decode(column: "id", as: String.self),
            hash: try row.decode(column: "key_hash", as: String.self),
            hint: try row.decode(column: "key_hint", as: String.self),
            username: try row.decode(column: "username", as: String.self),
            name: try row.decode(column: "name", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            lastUsedAt: try row.decode(column: "last_used_at", as: Int64?.self),
            expiresAt: try row.decode(column: "expires_at", as: Int64?.self),
            revokedAt: try row.decode(column: "revoked_at", as: Int64?.self),
            limits: KeyLimits(
                models: models,
                requestsPerMinute: try row.decode(column: "rpm", as: Int?.self),
                tokensPerMinute: try row.decode(column: "tpm", as: Int?.self),
                tokenBudget: try row.decode(column: "token_budget", as: Int64?.self),
                concurrency: try row.decode(column: "concurrency", as: Int?.self),
                costBudget: try row.decode(column: "cost_budget", as: Double?.self),
                budgetPeriod: try row.decode(column: "budget_period", as: String?.self))
        )
    }
}

extension Store {
    /// Calls `onChange` with the id of every key created or revoked by any instance, until
    /// cancelled or the connection fails (then it throws; callers listen again).
    /// `onListening` runs once the subscription is in place: loading the keys there misses
    /// nothing, since every later change is notified. PostgreSQL only (`LISTEN`).
    package func listenForKeyChanges(
        onListening: @escaping @Sendable () async -> Void,
        onChange: @escaping @Sendable (String) async -> Void
    ) async throws {
        guard case .postgres(let client) = backend else { return }
        try await client.withConnection { connection in
            try await connection.listen(on: Self.keyChannel) { notifications in
                await onListening()
                for try await notification in notifications {
                    await onChange(notification.payload)
                }
            }
        }
    }
}
