import Testing

@testable import Guards

@Suite("Managed key index")
struct ManagedKeyIndexTests {
    static let secret = "abc"
    /// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
    static let hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    static func identity(revoked: Bool) -> ClientIdentity {
        ClientIdentity(keyID: "key_1", username: "alice", expiresAt: nil, revoked: revoked, models: nil)
    }

    @Test("a resync with a snapshot read before a revocation does not bring the key back")
    func resyncKeepsRevocation() {
        let index = ManagedKeyIndex()
        index.replaceAll([(Self.hash, Self.identity(revoked: false))])
        // The resync reads its snapshot (active) …
        let snapshot = [(hash: Self.hash, identity: Self.identity(revoked: false))]
        // … the admin API revokes the key in memory …
        index.upsert(hash: Self.hash, identity: Self.identity(revoked: true))
        // … and the stale snapshot is applied.
        index.replaceAll(snapshot)
        #expect(index.lookup(Self.secret)?.revoked == true)
        #expect(index.lookup(Self.secret)?.isActive(at: 0) == false)
        #expect(index.count == 1)
    }

    @Test("an upsert never moves a key from revoked back to active")
    func upsertIsMonotonic() {
        let index = ManagedKeyIndex()
        index.upsert(hash: Self.hash, identity: Self.identity(revoked: true))
        index.upsert(hash: Self.hash, identity: Self.identity(revoked: false))
        #expect(index.lookup(Self.secret)?.revoked == true)
    }

    @Test("other changes still apply: new keys, new expiry, keys gone from the store")
    func otherChangesApply() {
        let index = ManagedKeyIndex()
        index.upsert(hash: Self.hash, identity: Self.identity(revoked: false))
        let later = ClientIdentity(keyID: "key_1", username: "alice", expiresAt: 5, revoked: false, models: ["gpt-*"])
        index.upsert(hash: Self.hash, identity: later)
        #expect(index.lookup(Self.secret) == later)
        index.replaceAll([])
        #expect(index.lookup(Self.secret) == nil && !index.hasKeys)
    }

    @Test("a revoked key stays revoked through a resync that also carries the revocation")
    func revokedInBoth() {
        let index = ManagedKeyIndex()
        index.upsert(hash: Self.hash, identity: Self.identity(revoked: true))
        index.replaceAll([(Self.hash, Self.identity(revoked: true))])
        #expect(index.lookup(Self.secret)?.revoked == true)
    }
}

@Suite("Managed key index: resync snapshots older than in-memory changes")
struct ManagedKeyIndexMarkTests {
    static let secret = ManagedKeyIndexTests.secret
    static let hash = ManagedKeyIndexTests.hash

    @Test("a key created while the resync read its snapshot does not vanish; one created before it and gone from the store does")
    func createdDuringRead() {
        let index = ManagedKeyIndex()
        let identity = ManagedKeyIndexTests.identity(revoked: false)
        let mark = index.mark
        index.upsert(hash: Self.hash, identity: identity) // the admin API creates a key …
        index.replaceAll([], readAfter: mark) // … after the snapshot was read
        #expect(index.lookup(Self.secret) == identity)
        // The next resync reads after the creation: the store is the truth again.
        index.replaceAll([], readAfter: index.mark)
        #expect(index.lookup(Self.secret) == nil)
    }

    @Test("a revocation during the read wins over the snapshot, with or without a mark")
    func revokedDuringRead() {
        let index = ManagedKeyIndex()
        index.replaceAll([(Self.hash, ManagedKeyIndexTests.identity(revoked: false))])
        let mark = index.mark
        index.upsert(hash: Self.hash, identity: ManagedKeyIndexTests.identity(revoked: true))
        index.replaceAll([(Self.hash, ManagedKeyIndexTests.identity(revoked: false))], readAfter: mark)
        #expect(index.lookup(Self.secret)?.revoked == true)
        index.replaceAll([(Self.hash, ManagedKeyIndexTests.identity(revoked: false))])
        #expect(index.lookup(Self.secret)?.revoked == true)
    }

    @Test("admit's one hash gives the same verdicts, identities and limit subjects as checking and hashing apart")
    func admitMatchesSeparateChecks() {
        let managed = ManagedKeyIndex()
        managed.upsert(hash: ManagedKeyIndexTests.hash, identity: ManagedKeyIndexTests.identity(revoked: false))
        let revokedIndex = ManagedKeyIndex()
        revokedIndex.upsert(hash: ManagedKeyIndexTests.hash, identity: ManagedKeyIndexTests.identity(revoked: true))
        let authenticators = [
            ClientAuthenticator(globalKeys: [], providerKeys: [:]),
            ClientAuthenticator(globalKeys: ["configured-key"], providerKeys: [:]),
            ClientAuthenticator(globalKeys: [], providerKeys: ["p": ["provider-key"]]),
        ]
        for authenticator in authenticators {
            for index in [nil, ManagedKeyIndex(), managed, revokedIndex] {
                for presented in [nil, "", ManagedKeyIndexTests.secret, "configured-key", "provider-key", "wrong"] {
                    let checked = authenticator.check(presented, managed: index, now: 0)
                    let admitted = authenticator.admit(presented, managed: index, now: 0)
                    #expect(admitted.verdict == checked.verdict && admitted.identity == checked.identity)
                    if let subject = admitted.limitSubject {
                        #expect(subject == LimitState.subject(identity: admitted.identity, presented: presented))
                    } else {
                        // No hash made: only an open gateway without managed keys, or no key at all.
                        #expect(presented?.isEmpty ?? true || (authenticator.isOpen && !(index?.hasKeys ?? false)))
                    }
                }
            }
        }
        // SHA-256("abc") begins ba7816bf8f01cfea414140de: the subject is its first 12 bytes in hex.
        #expect(LimitState.subject(identity: nil, presented: ManagedKeyIndexTests.secret) == "sha:ba7816bf8f01cfea414140de")
    }
}
