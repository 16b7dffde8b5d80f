import Synchronization

/// One model as an upstream lists it.
package struct ModelEntry: Sendable, Equatable {
    package var id: String
    /// The upstream's own JSON object for the model, re-encoded, when it sent one.
    package var raw: String?

    package init(id: String, raw: String? = nil) {
        self.id = id
        self.raw = raw
    }
}

/// What the gateway learnt from upstream model lists, per provider: used to route names no
/// rule mentions and to answer `/v1/models`. Written by the background refresher, read per
/// request; survives configuration reloads because it is keyed by provider name.
package final class ModelCatalog: Sendable {
    package struct ProviderModels: Sendable, Equatable {
        package var models: [ModelEntry]
        /// The error of the last refresh, if it failed (the previous list is kept).
        package var lastError: String?
    }

    struct Snapshot: Sendable {
        var byProvider: [String: ProviderModels] = [:]
        /// model id → provider names listing it, in provider order of insertion.
        var index: [String: [String]] = [:]
    }

    private let state = Mutex(Snapshot())

    package init() {}

    /// Providers whose list contains `model`.
    package func providers(listing model: String) -> [String] {
        state.withLock { $0.index[model] ?? [] }
    }

    package func models(of provider: String) -> ProviderModels? {
        state.withLock { $0.byProvider[provider] }
    }

    package func update(provider: String, models: [ModelEntry]) {
        state.withLock { snapshot in
            snapshot.byProvider[provider] = ProviderModels(models: models, lastError: nil)
            Self.reindex(&snapshot)
        }
    }

    package func recordFailure(provider: String, error: String) {
        state.withLock { snapshot in
            var entry = snapshot.byProvider[provider] ?? ProviderModels(models: [], lastError: nil)
            entry.lastError = error
            snapshot.byProvider[provider] = entry
        }
    }

    /// Forgets providers no longer configured.
    package func retain(providers names: Set<String>) {
        state.withLock { snapshot in
            snapshot.byProvider = snapshot.byProvider.filter { names.contains($0.key) }
            Self.reindex(&snapshot)
        }
    }

    private static func reindex(_ snapshot: inout Snapshot) {
        var index: [String: [String]] = [:]
        for (provider, entry) in snapshot.byProvider.sorted(by: { $0.key < $1.key }) {
            for model in entry.models { index[model.id, default: []].append(provider) }
        }
        snapshot.index = index
    }
}
