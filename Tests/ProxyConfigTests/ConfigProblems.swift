@testable import ProxyConfig

/// What loading `yaml` (with `environment` over it) and validating it says, one line per
/// problem: the parse errors, else the validation's.
func configProblems(_ yaml: String, environment: [String: String] = [:], fileExists: Bool = true) -> [String] {
    do {
        var config = try GatewayConfig.parse(yaml: yaml)
        try config.applyEnvironment(environment)
        return config.validate(fileExists: { _ in fileExists }).map(\.description)
    } catch let error as ConfigError {
        return error.problems.map(\.description)
    } catch {
        return ["\(error)"]
    }
}
