import Dialects
import Guards
import ProxyConfig
import Store

/// The admission guards of one configuration snapshot, cheapest first, built once when the
/// configuration is loaded (not per request). The first refusal wins; later guards are not
/// asked, so a stateful guard placed after a cheaper one never pays for a request that the
/// cheaper one refused.
package struct GuardChain: Sendable {
    package let guards: [any AdmissionGuard]

    package init(_ guards: [any AdmissionGuard]) { self.guards = guards }

    /// The gateway's standard chain, cheapest and most decisive first: the block list, address lists, load
    /// shedding, the per-address rate, the client key, the key's model allowlist, the key's,
    /// key × model and model rates, budgets, the providers' rates, then whatever the embedder added. A guard whose
    /// configuration is empty is left out, so an unused feature costs nothing per request.
    package static func standard(
        config: GatewayConfig = GatewayConfig(), authenticator: ClientAuthenticator, keys: ManagedKeyIndex?, publicPaths: Set<String>,
        limits: LimitState = LimitState(), pricing: PriceTable = PriceTable(configured: []), extra: [any AdmissionGuard]
    ) -> GuardChain {
        var guards: [any AdmissionGuard] = [BlockGuard(blocks: limits.blocks)]
        let security = config.security
        if !security.allowIPs.isEmpty || !security.denyIPs.isEmpty { guards.append(AddressGuard(allow: security.allowIPs, deny: security.denyIPs)) }
        if config.shedding.isEnabled { guards.append(SheddingGuard(shedder: limits.shedder, config: config.shedding)) }
        if !config.limits.ip.isEmpty { guards.append(AddressRateGuard(state: limits, rule: config.limits.ip, mode: config.limits.acrossInstances)) }
        guards.append(KeyGuard(authenticator: authenticator, keys: keys, publicPaths: publicPaths))
        guards.append(ModelAllowlistGuard())
        // Managed keys carry their own limits and budgets: with a key index these guards are
        // always in (each returns at once for a key without limits).
        if keys != nil || !config.limits.isEmpty { guards.append(RateLimitGuard(state: limits, config: config.limits)) }
        if keys != nil || !config.budgets.owners.isEmpty {
            let owners = config.budgets.owners.mapValues(Budget.init)
            guards.append(BudgetGuard(state: limits, owners: owners, pricing: pricing, defaultOutputTokens: config.limits.defaultOutputTokens))
        }
        if !config.limits.providers.isEmpty { guards.append(ProviderRateGuard(state: limits, config: config.limits)) }
        return GuardChain(guards + extra)
    }

    /// A refusal, and which guard made it (for the record, metrics and the log).
    package struct Refusal: Sendable {
        package var error: GatewayError
        package var guardName: String
    }

    /// Asks every guard's head stage in order; the first refusal wins.
    package func admitHead(_ admission: inout Admission) -> Refusal? {
        for guardian in guards {
            if case .reject(let error) = guardian.admitHead(&admission) { return Refusal(error: error, guardName: guardian.name) }
        }
        return nil
    }

    /// Asks every guard's routed stage in order; the first refusal wins.
    package func admitRouted(_ admission: inout Admission) -> Refusal? {
        for guardian in guards {
            if case .reject(let error) = guardian.admitRouted(&admission) { return Refusal(error: error, guardName: guardian.name) }
        }
        return nil
    }
}

// MARK: the standard guards

/// The client key: configured global keys, managed keys (revocation and expiry honoured at
/// once, from memory), and provider `auth_keys`, which can only be judged once the route
/// named the providers. Paths made public by `server.public_paths` need no key.
package struct KeyGuard: AdmissionGuard {
    let authenticator: ClientAuthenticator
    let keys: ManagedKeyIndex?
    let publicPaths: Set<String>

    package var name: String { "key" }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        if admission.viaTunnel || publicPaths.contains(admission.path) { return .admit }
        let (verdict, identity, subject) = authenticator.admit(admission.presentedKey, managed: keys, now: WallClock.nowMs())
        admission.identity = identity
        if let subject { admission.limitSubject = subject }
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
