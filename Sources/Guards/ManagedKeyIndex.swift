import Crypto
import Dialects
import Synchronization

/// Who a managed key belongs to, as the request path needs it. A class: one is made when the
/// key is loaded and shared by every request that presents it, so the admission and the
/// record (copied along the data path) carry one reference instead of five strings, an array
/// and the limits — which, for one hot key served from both event loops, would otherwise be
/// retained and released from both cores on every copy.
package final class ClientIdentity: Sendable, Equatable {
    package let keyID: String
    package let username: String
    /// Milliseconds since 1970; nil when the key does not expire.
    package let expiresAt: Int64?
    package let revoked: Bool
    /// Model names or globs the key may use; nil means any.
    package let models: [String]?
    /// The key's own rates and budget (from its `limits`).
    package let limits: IdentityLimits
    /// The names the key is counted under by the rate tables and the budget ledger, made once
    /// when the key is loaded rather than on every request.
    package let limitSubject: String
    package let keyBudgetSubject: String
    package let ownerBudgetSubject: String

    package init(keyID: String, username: String, expiresAt: Int64?, revoked: Bool, models: [String]?, limits: IdentityLimits = IdentityLimits()) {
        self.keyID = keyID
        self.username = username
        self.expiresAt = expiresAt
        self.revoked = revoked
        self.models = models
        self.limits = limits
        limitSubject = "id:" + keyID
        keyBudgetSubject = BudgetSubject.key(keyID).name
        ownerBudgetSubject = BudgetSubject.owner(username).name
    }

    package static func == (lhs: ClientIdentity, rhs: ClientIdentity) -> Bool {
        lhs === rhs
            || (lhs.keyID == rhs.keyID && lhs.username == rhs.username && lhs.expiresAt == rhs.expiresAt && lhs.revoked == rhs.revoked
                && lhs.models == rhs.models && lhs.limits == rhs.limits)
    }

    package func isActive(at now: Int64) -> Bool { !revoked && (expiresAt.map { now < $0 } ?? true) }

    var revokedCopy: ClientIdentity {
        ClientIdentity(keyID: keyID, username: username, expiresAt: expiresAt, revoked: true, models: models, limits: limits)
    }

    /// Whether the key may ask for `model` (its list: exact names or `*`/`?` patterns).
    package func allows(model: String?) -> Bool {
        guard let models, !models.isEmpty else { return true }
        guard let model else { return false }
        return models.contains { Glob($0).matches(model) }
    }
}

/// The rates and budget a managed key carries; unset fields fall back to `limits.key`.
package struct IdentityLimits: Sendable, Equatable {
    package var requestsPerMinute: Int?
    package var tokensPerMinute: Int?
    package var concurrency: Int?
    /// Tokens and/or money per period; nil when the key has no budget.
    package var budget: Budget?

    package init(requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil, concurrency: Int? = nil, budget: Budget? = nil) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.concurrency = concurrency
        self.budget = budget
    }
}

/// The managed keys in memory, by SHA-256, so a request never waits for the database. The
/// store's change feed keeps it current: a revocation is one `upsert` away from taking effect.
///
/// A resync reads its snapshot before it applies it, so the snapshot can be older than an
/// `upsert` made in between (a key created or revoked through the admin API). Two rules keep
/// such a snapshot from undoing it:
/// - revocation is sticky: once a hash is known revoked here, no later `upsert` or
///   `replaceAll` makes it active again (keys are never un-revoked, so "revoked" is the one
///   state that can only be gained);
/// - a resync that passes the ``mark`` taken before its read keeps whatever was upserted
///   after it (a key created a moment ago does not vanish until the next resync).
package final class ManagedKeyIndex: Sendable {
    private struct Table {
        var keys: [[UInt8]: ClientIdentity] = [:]
        /// The change count at each key's latest `upsert`, for upserts no full load has
        /// covered yet.
        var upserted: [[UInt8]: UInt64] = [:]
        var changes: UInt64 = 0
    }

    private let table = Mutex(Table())

    package init() {}

    /// Take before reading a snapshot for ``replaceAll(_:readAfter:)``.
    package var mark: UInt64 { table.withLock { $0.changes } }

    /// Replaces everything (start-up and periodic resync). `keys` pairs a 64-hex SHA-256
    /// with its identity, read from the store after `mark` was taken (nil: the snapshot is
    /// newer than every upsert). A hash revoked in the current table stays revoked.
    package func replaceAll(_ keys: [(hash: String, identity: ClientIdentity)], readAfter mark: UInt64? = nil) {
        var fresh: [[UInt8]: ClientIdentity] = [:]
        for (hash, identity) in keys {
            if let digest = KeyDigest.decodeHex(Substring(hash)) { fresh[digest] = identity }
        }
        table.withLock { table in
            let since = mark ?? table.changes
            for (digest, change) in table.upserted where change > since { fresh[digest] = table.keys[digest] }
            for (digest, identity) in fresh where !identity.revoked && table.keys[digest]?.revoked == true {
                fresh[digest] = identity.revokedCopy
            }
            table.keys = fresh
            table.upserted = table.upserted.filter { $0.value > since }
        }
    }

    /// Adds or updates one key; a revoked key stays revoked.
    package func upsert(hash: String, identity: ClientIdentity) {
        guard let digest = KeyDigest.decodeHex(Substring(hash)) else { return }
        table.withLock { table in
            table.changes += 1
            table.upserted[digest] = table.changes
            table.keys[digest] = table.keys[digest]?.revoked == true && !identity.revoked ? identity.revokedCopy : identity
        }
    }

    /// Whether any managed key exists, active or not: once one does, the gateway requires
    /// keys (revoking the last one must not open it).
    package var hasKeys: Bool { table.withLock { !$0.keys.isEmpty } }

    package var count: Int { table.withLock { $0.keys.count } }

    package func lookup(_ presented: String) -> ClientIdentity? {
        lookup(KeyDigest(presented: presented))
    }

    func lookup(_ digest: KeyDigest) -> ClientIdentity? {
        table.withLock { $0.keys[digest.bytes] }
    }
}

extension ClientAuthenticator {
    /// The verdict with managed keys taken into account, and whose key it was. Configured
    /// keys keep working beside managed ones; a revoked or expired managed key is refused;
    /// with managed keys present, a request without a key is refused even if the file has none.
    package func check(_ presented: String?, managed: ManagedKeyIndex?, now: Int64) -> (verdict: Verdict, identity: ClientIdentity?) {
        let result = admit(presented, managed: managed, now: now)
        return (result.verdict, result.identity)
    }

    /// ``check(_:managed:now:)`` plus the name the rate limits count the key under
    /// (``LimitState/subject(identity:presented:)``), from the one SHA-256 of the key the
    /// check made (nil when it made none: an open gateway). Hashing the key once instead of
    /// two or three times per request saves ~3,500 instructions each (issue 16).
    package func admit(_ presented: String?, managed: ManagedKeyIndex?, now: Int64)
        -> (verdict: Verdict, identity: ClientIdentity?, limitSubject: String?)
    {
        let hasManaged = managed?.hasKeys ?? false
        var digest: KeyDigest?
        if let presented, !presented.isEmpty, hasManaged || !isOpen { digest = KeyDigest(presented: presented) }
        let subject = digest.map { LimitState.subject(digest: $0.bytes) }
        guard let managed, hasManaged else { return (check(presented, digest: digest), nil, subject) }
        if let digest, let identity = managed.lookup(digest) {
            return identity.isActive(at: now) ? (.accepted, identity, identity.limitSubject) : (.rejected(missing: false), nil, subject)
        }
        let verdict = check(presented, digest: digest)
        if isOpen { return (.rejected(missing: presented?.isEmpty ?? true), nil, subject) }
        return (verdict, nil, subject)
    }
}
