import Testing

@testable import ProxyConfig

@Suite("Logging configuration")
struct LoggingConfigTests {
    @Test("format auto by default and resolved for the terminal; levels per logger, the longest name winning; the effective YAML reads back")
    func formatAndLevels() throws {
        #expect(GatewayConfig().logging.format == .auto)
        #expect(LoggingConfig.Format.auto.resolved(isTerminal: true) == .text && LoggingConfig.Format.auto.resolved(isTerminal: false) == .json)
        #expect(LoggingConfig.Format.json.resolved(isTerminal: true) == .json && LoggingConfig.Format.text.resolved(isTerminal: false) == .text)
        let config = try GatewayConfig.parse(
            yaml: """
                logging:
                  level: warning
                  levels: {llmproxy.tunnel: debug, llmproxy.tunnel.session: error, llmproxy.request: notice}
                """)
        let logging = config.logging
        #expect(logging.level(for: "llmproxy") == .warning)
        #expect(logging.level(for: "llmproxy.tunnel") == .debug)
        #expect(logging.level(for: "llmproxy.tunnel.v2") == .debug)
        #expect(logging.level(for: "llmproxy.tunnel.session") == .error)
        #expect(logging.level(for: "llmproxy.tunnelling") == .warning, "a name covers the loggers under it, not every label it begins")
        #expect(logging.level(for: "llmproxy.request") == .notice)
        let again = try GatewayConfig.parse(yaml: config.redactedYAML())
        #expect(again.logging == config.logging)
        let problems = configProblems("logging: {levels: {llmproxy.tunnel: loud}}").joined(separator: "\n")
        #expect(problems.contains("logging.levels.llmproxy.tunnel") && problems.contains("debug"), "\(problems)")
        #expect(configProblems("logging: {levels: [debug]}").joined().contains("logging.levels"))
    }
}
