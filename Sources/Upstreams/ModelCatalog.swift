import Synchronization

/// One model as an upstream lists it.
public struct ModelEntry: Sendable, Equatable {
    public var id: String
    /// The upstream's own JSON object for the model, re-encoded, when it sent one.
    public var raw: String?

    public init(id: String, raw: String? = nil) {
        self.id = id
        self.raw = raw
    }
}

/// What the gateway learnt from upstream model lists, per provider: used to route names no
/// rule mentions and to answer `/v1/models`. Written by the background refresher, read per
/// request; survives configuration reloads because it is keyed by provider name.
public final class ModelCatalog: Sendable {
    public struct ProviderModels: Sendable, Equatable {
        public var models: [ModelEntry]
        /// The error of the last refresh, if it failed (the previous list is kept).
        public var lastError: String?
    }

    struct Snapshot: Sendable {
        var byProvider: [String: ProviderModels] = [:]
        /// model id → provider names listing it, in provider order of insertion.
        var index: [String: [String]] = [:]
    }

    private let state = Mutex(Snapshot())

    public init() {}

    /// Providers whose list contains `model`.
    public func providers(listing model: String) -> [String] {
        state.withLock { $0.index[model] ?? [] }
    }

    public func models(of provider: String) -> ProviderModels? {
        state.withLock { $0.byProvider[provider] }
    }

    public func update(provider: String, models: [ModelEntry]) {
        state.withLock { snapshot in
            snapshot.byProvider[provider] = ProviderModels(models: models, lastError: nil)
            Self.reindex(&snapshot)
        }
    }

    public func recordFailure(provider: String, error: String) {
        state.withLock { snapshot in
            var entry = snapshot.byProvider[provider] ?? ProviderModels(models: [], lastError: nil)
            entry.lastError = error
            snapshot.byProvider[provider] = entry
        }
    }

    /// Forgets providers no longer configured.
    public func retain(providers names: Set<String>) {
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
