import ArgumentParser
import LLMProxy

/// `llm-proxy`: the gateway's command line.
struct LLMProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm-proxy",
        abstract: "A self-hosted gateway for OpenAI, Anthropic, Gemini and local LLM engines.",
        version: GatewayVersion.current,
        subcommands: [
            StartCommand.self, ConfigCommand.self, KeysCommand.self, BlocksCommand.self, CertsCommand.self, TunnelCommand.self,
            HashPasswordCommand.self, NginxConfigCommand.self,
        ]
    )
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with configuration files.",
        subcommands: [ConfigCheckCommand.self]
    )
}
