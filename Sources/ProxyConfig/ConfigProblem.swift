/// One thing wrong with a configuration: where (`providers[2].weight`), what was found, and
/// what to do about it.
package struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    package var path: String
    package var message: String

    package init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    package var description: String { "config: \(path) \(message)" }
}

/// Thrown when a configuration cannot be used; lists every problem, not only the first.
package struct ConfigError: Error, Sendable, CustomStringConvertible {
    package var problems: [ConfigProblem]

    package init(_ problems: [ConfigProblem]) {
        self.problems = problems
    }

    package var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
