import Foundation

/// Builds the effective configuration: file, then environment, then command-line overrides,
/// then names and validation. The same path serves start-up, `config check` and SIGHUP.
package struct ConfigLoader: Sendable {
    package var path: String?
    package var environment: [String: String]
    package var overrides: @Sendable (inout GatewayConfig) -> Void

    package init(path: String?, environment: [String: String], overrides: @escaping @Sendable (inout GatewayConfig) -> Void = { _ in }) {
        self.path = path
        self.environment = environment
        self.overrides = overrides
    }

    /// The file in use: `-c FILE`, else `$LLMPROXY_CONFIG`.
    package var effectivePath: String? { path ?? environment["LLMPROXY_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } }

    package func load() throws -> GatewayConfig {
        var config = GatewayConfig()
        var problems: [ConfigProblem] = []
        if let file = effectivePath {
            let text: String
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                text = String(decoding: data, as: UTF8.self)
            } catch {
                throw ConfigError([
                    ConfigProblem(path: "(file)", message: "\(file) cannot be read: \(error.localizedDescription); check the path given with -c or $LLMPROXY_CONFIG")
                ])
            }
            (config, problems) = GatewayConfig.parseCollecting(yaml: text)
        }
        do {
            try config.applyEnvironment(environment)
        } catch let error as ConfigError {
            problems += error.problems
        }
        overrides(&config)
        config.assignProviderNames()
        problems += config.validate(fileExists: { FileManager.default.fileExists(atPath: $0) })
        if !problems.isEmpty { throw ConfigError(problems) }
        return config
    }
}

extension GatewayConfig {
    /// Gives every unnamed provider a name: its type, with its position when needed.
    package mutating func assignProviderNames() {
        var used = Set(providers.map(\.name).filter { !$0.isEmpty })
        for index in providers.indices where providers[index].name.isEmpty {
            var name = providers[index].type.rawValue
            if used.contains(name) { name = "\(name)-\(index)" }
            providers[index].name = name
            used.insert(name)
        }
    }
}
