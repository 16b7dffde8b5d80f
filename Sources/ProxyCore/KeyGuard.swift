import Dialects
import Guards
import Store

/// The client key: configured global keys, managed keys (revocation and expiry honoured at
/// once, from memory), and provider `auth_keys`, which can only be judged once the route
/// named the providers. Paths made public by `server.public_paths` need no key.
package struct KeyGuard: AdmissionGuard {
    let authenticator: ClientAuthenticator
    let keys: ManagedKeyIndex?
    let publicPaths: Set<String>

    package var name: String { "key" }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        if publicPaths.contains(admission.path) { return .admit }
        let (verdict, identity) = authenticator.check(admission.presentedKey, managed: keys, now: WallClock.nowMs())
        admission.identity = identity
        switch verdict {
        case .accepted:
            return .admit
        case .rejected(let missing):
            return .reject(.invalidAPIKey(missing: missing))
        case .needsProvider:
            guard admission.answeredLocally else {
                admission.needsProviderKey = true
                return .admit
            }
            // A listing spans every provider: any provider's key opens it.
            return authenticator.allowsAnyProvider(admission.presentedKey)
                ? .admit : .reject(.invalidAPIKey(missing: admission.presentedKey == nil))
        }
    }

    package func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        guard admission.needsProviderKey, let providers = admission.providers else { return .admit }
        let allowed = providers.filter { authenticator.allows(admission.presentedKey, provider: $0.name) }
        if allowed.isEmpty { return .reject(.invalidAPIKey(missing: admission.presentedKey == nil)) }
        admission.providers = allowed
        return .admit
    }
}

/// A managed key limited to some models may use only those (403 `model_not_allowed`).
package struct ModelAllowlistGuard: AdmissionGuard {
    package var name: String { "model_allowlist" }

    package func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        guard let identity = admission.identity, !identity.allows(model: admission.model) else { return .admit }
        return .reject(.modelNotAllowed(admission.model, allowed: identity.models ?? []))
    }
}
