import Yams

/// `cache:` — the exact response cache. Off by default: an answer is reused only for a request
/// that is the same to the byte once its JSON is normalised (member order and white space do
/// not matter), on the same route, within the same scope, and only while it is fresh.
package struct CacheConfig: Sendable, Equatable {
    /// Whose requests may share an answer.
    package enum Scope: String, Sendable, Equatable, CaseIterable {
        /// Everyone's: one user's answer may be given to another who sends the same request.
        case global
        /// The managed key's owner (all keys of one user share); a configured client key is
        /// its own owner; without keys, everyone.
        case owner
        /// The key the request presented; without keys, everyone.
        case key
    }

    /// A model's or a provider's own setting, over the section's.
    package struct Override: Sendable, Equatable {
        package var enabled: Bool?
        /// Seconds an answer stays fresh.
        package var ttl: Double?

        package init(enabled: Bool? = nil, ttl: Double? = nil) {
            self.enabled = enabled
            self.ttl = ttl
        }
    }

    package var enabled = false
    /// Seconds an answer stays fresh. Default 300.
    package var ttl = 300.0
    /// Memory all cached answers may take together (bodies, headers, bookkeeping); the least
    /// recently used go first. Default 64 MiB.
    package var maxBytes = 64 << 20
    /// Answers larger than this are not kept. Default 1 MiB.
    package var maxEntryBytes = 1 << 20
    /// Default owner.
    package var scope = Scope.owner
    /// The second level in the database: answers are written there in the background and
    /// read back by every instance sharing it (and by this one after a restart), so a
    /// cluster behind a load balancer answers each repeated request once. Never on the
    /// request path: an answer another instance made is a hit here once the next sync (every
    /// two seconds) brought it over. Default false; needs the database.
    package var store = false
    /// Per model (a name or glob, first match wins): `{gpt-4.1*: {ttl: 60}, o3: {enabled: false}}`.
    package var models: [(pattern: String, override: Override)] = []

    package init() {}

    /// Whether any request may be cached: the section, a model or a provider turns it on.
    package func anyEnabled(providers: [ProviderConfig]) -> Bool {
        enabled || models.contains { $0.override.enabled == true } || providers.contains { $0.cache?.enabled == true }
    }

    package static func == (lhs: CacheConfig, rhs: CacheConfig) -> Bool {
        lhs.enabled == rhs.enabled && lhs.ttl == rhs.ttl && lhs.maxBytes == rhs.maxBytes && lhs.maxEntryBytes == rhs.maxEntryBytes
            && lhs.scope == rhs.scope && lhs.store == rhs.store && lhs.models.map(\.pattern) == rhs.models.map(\.pattern)
            && lhs.models.map(\.override) == rhs.models.map(\.override)
    }
}

extension CacheConfig {
    static let knownKeys: Set<String> = ["enabled", "ttl", "max_bytes", "max_entry_bytes", "scope", "store", "models"]

    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: Self.knownKeys)
        enabled = reader.bool(map["enabled"], at: "\(path).enabled") ?? enabled
        ttl = reader.double(map["ttl"], at: "\(path).ttl") ?? ttl
        maxBytes = reader.int(map["max_bytes"], at: "\(path).max_bytes") ?? maxBytes
        maxEntryBytes = reader.int(map["max_entry_bytes"], at: "\(path).max_entry_bytes") ?? maxEntryBytes
        scope = Scope.read(map["scope"], at: "\(path).scope", with: &reader) ?? scope
        store = reader.bool(map["store"], at: "\(path).store") ?? store
        if let node = map["models"] {
            guard let mapping = node.mapping else {
                reader.problem("\(path).models", "must be a mapping of model names or globs to {enabled, ttl} (got \(reader.describe(node)))")
                return
            }
            for (key, value) in mapping {
                guard let pattern = key.string else { continue }
                let at = "\(path).models.\(pattern)"
                if let override = Override.read(value, at: at, with: &reader) { models.append((pattern, override)) }
            }
        }
    }

    /// The problems of the section, each naming its key and the allowed values.
    func problems(providers: [ProviderConfig], database: DatabaseConfig) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if store, !database.enabled {
            problems.append(ConfigProblem(path: "cache.store", message: "needs the database: set database.enabled: true, or cache.store: false"))
        }
        func check(_ key: String, _ value: Double, _ range: ConfigRange) {
            if !range.contains(value) { problems.append(ConfigProblem(path: key, message: range.message(got: ConfigRange.text(value)))) }
        }
        check("cache.ttl", ttl, .cacheTTL)
        check("cache.max_bytes", Double(maxBytes), .cacheBytes)
        check("cache.max_entry_bytes", Double(maxEntryBytes), .cacheEntryBytes)
        if maxEntryBytes > maxBytes {
            problems.append(ConfigProblem(path: "cache.max_entry_bytes", message: "must be at most cache.max_bytes (\(maxBytes))"))
        }
        for (pattern, override) in models {
            if let ttl = override.ttl { check("cache.models.\(pattern).ttl", ttl, .cacheTTL) }
        }
        for (index, provider) in providers.enumerated() {
            if let ttl = provider.cache?.ttl { check("providers[\(index)].cache.ttl", ttl, .cacheTTL) }
        }
        return problems
    }
}

extension CacheConfig.Override {
    static func read(_ node: Node, at path: String, with reader: inout YAMLReader) -> CacheConfig.Override? {
        let map = reader.mapping(node, at: path, known: ["enabled", "ttl"])
        guard node.mapping != nil else { return nil }
        return CacheConfig.Override(enabled: reader.bool(map["enabled"], at: "\(path).enabled"), ttl: reader.double(map["ttl"], at: "\(path).ttl"))
    }
}

extension CacheConfig.Scope {
    static func read(_ node: Node?, at path: String, with reader: inout YAMLReader) -> CacheConfig.Scope? {
        reader.choice(node, at: path, choices: "global (everyone shares), owner (a key's owner) or key (the key presented)")
    }
}

extension ConfigRange {
    package static let cacheTTL = ConfigRange(0, 30 * 86_400, includesLower: false, unit: "seconds", defaultValue: "300")
    package static let cacheBytes = ConfigRange(1024, 64 * 1024 * 1024 * 1024, unit: "bytes", defaultValue: "67108864 (64 MiB)")
    package static let cacheEntryBytes = ConfigRange(1, 1024 * 1024 * 1024, unit: "bytes", defaultValue: "1048576 (1 MiB)")
}
