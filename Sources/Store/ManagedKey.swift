/// A client key the gateway issued and manages: who owns it, when it lapses, what it may do.
/// Only the SHA-256 of the key is kept; the key itself exists once, in the creation answer.
package struct ManagedKey: Sendable, Equatable {
    package var id: String
    /// Lowercase hex SHA-256 of the full key.
    package var hash: String
    /// The key's first characters and last four, so people can tell their keys apart.
    package var hint: String
    package var username: String
    package var name: String?
    /// Milliseconds since 1970.
    package var createdAt: Int64
    package var lastUsedAt: Int64?
    package var expiresAt: Int64?
    package var revokedAt: Int64?
    package var limits: KeyLimits

    package init(
        id: String, hash: String, hint: String, username: String, name: String?, createdAt: Int64,
        lastUsedAt: Int64? = nil, expiresAt: Int64? = nil, revokedAt: Int64? = nil, limits: KeyLimits = KeyLimits()
    ) {
        self.id = id
        self.hash = hash
        self.hint = hint
        self.username = username
        self.name = name
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.limits = limits
    }

    /// Whether the key opens the gateway at `now` (ms).
    package func isActive(at now: Int64) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }
}

/// Limits a key carries for the guards: which models it may use and how much.
package struct KeyLimits: Sendable, Equatable {
    /// Model names or globs; nil or empty means every model.
    package var models: [String]?
    package var requestsPerMinute: Int?
    package var tokensPerMinute: Int?
    /// Tokens the key may consume per ``budgetPeriod``.
    package var tokenBudget: Int64?
    /// Requests in flight at once.
    package var concurrency: Int?
    /// US dollars the key may spend per ``budgetPeriod``.
    package var costBudget: Double?
    /// `day`, `month` or `total` (the default when a budget is set without one).
    package var budgetPeriod: String?

    package init(
        models: [String]? = nil, requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil, tokenBudget: Int64? = nil, concurrency: Int? = nil,
        costBudget: Double? = nil, budgetPeriod: String? = nil
    ) {
        self.models = models
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.tokenBudget = tokenBudget
        self.concurrency = concurrency
        self.costBudget = costBudget
        self.budgetPeriod = budgetPeriod
    }
}
