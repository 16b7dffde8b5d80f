import Guards

/// The admission guards of one configuration snapshot, cheapest first, built once when the
/// configuration is loaded (not per request). The first refusal wins; later guards are not
/// asked, so a stateful guard placed after a cheaper one never pays for a request that the
/// cheaper one refused.
package struct GuardChain: Sendable {
    package let guards: [any AdmissionGuard]

    package init(_ guards: [any AdmissionGuard]) { self.guards = guards }

    /// The gateway's standard chain: the client key, then the key's model allowlist, then
    /// whatever the embedder added.
    package static func standard(authenticator: ClientAuthenticator, keys: ManagedKeyIndex?, publicPaths: Set<String>,
                                 extra: [any AdmissionGuard]) -> GuardChain {
        GuardChain([KeyGuard(authenticator: authenticator, keys: keys, publicPaths: publicPaths), ModelAllowlistGuard()] + extra)
    }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        for guardian in guards {
            if case .reject(let error) = guardian.admitHead(&admission) { return .reject(error) }
        }
        return .admit
    }

    package func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        for guardian in guards {
            if case .reject(let error) = guardian.admitRouted(&admission) { return .reject(error) }
        }
        return .admit
    }
}
