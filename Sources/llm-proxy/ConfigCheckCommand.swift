import ArgumentParser
import Foundation
import ProxyConfig

/// `llm-proxy config check`: validates a configuration and prints the effective one, with
/// every secret redacted. Exit 0 when valid; 1 with every problem listed when not.
struct ConfigCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration and print the effective configuration (secrets redacted)."
    )

    @Option(name: [.short, .customLong("config")], help: "Configuration file (YAML). Default: $LLMPROXY_CONFIG, else built-in defaults.")
    var config: String?

    func run() throws {
        let loader = ConfigLoader(path: config, environment: ProcessInfo.processInfo.environment)
        do {
            let configuration = try loader.load()
            print("# configuration is valid\(loader.effectivePath.map { ": \($0)" } ?? " (built-in defaults and environment)")")
            for warning in configuration.warnings { print("# warning: \(warning)") }
            print(configuration.redactedYAML(), terminator: "")
        } catch let error as ConfigError {
            FileHandle.standardError.write(
                Data("configuration is not valid (\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s")):\n\(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
