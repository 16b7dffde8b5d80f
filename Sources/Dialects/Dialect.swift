/// The three wire formats a client can speak to the gateway. Each route answers, errors
/// included, in the dialect of its path.
package enum Dialect: String, Sendable, Equatable, CaseIterable {
    case openai
    case anthropic
    case gemini
}
