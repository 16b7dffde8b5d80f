import Dialects
import Synchronization

/// What a model costs, in US dollars per million tokens.
package struct ModelPrice: Sendable, Equatable {
    package var input: Double
    package var output: Double
    /// Prompt tokens served from the provider's cache; the input price when not set.
    package var cachedInput: Double?
    /// Reasoning (thinking) tokens; the output price when not set (every listed provider
    /// bills them as output).
    package var reasoning: Double?

    package init(input: Double, output: Double, cachedInput: Double? = nil, reasoning: Double? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.reasoning = reasoning
    }
}

/// Token counts to put a price on. `input` includes `cachedInput`; `output` includes
/// `reasoning` (as the providers report them).
package struct TokenUsage: Sendable, Equatable {
    package var input: Int64
    package var output: Int64
    package var cachedInput: Int64 = 0
    package var reasoning: Int64 = 0

    package init(input: Int64, output: Int64, cachedInput: Int64 = 0, reasoning: Int64 = 0) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.reasoning = reasoning
    }
}

/// Model → price, first match wins: the configured entries (`pricing.models`, exact names or
/// `*`/`?` patterns) before the built-in list. A model with no price costs nothing, and
/// money budgets cannot hold it back (the docs say so; `pricing.models` fixes it).
package final class PriceTable: Sendable {
    package struct Entry: Sendable {
        package var pattern: String
        package var price: ModelPrice
        let glob: Glob

        package init(pattern: String, price: ModelPrice) {
            self.pattern = pattern
            self.price = price
            glob = Glob(pattern)
        }
    }

    /// The date the built-in prices were taken from the providers' public price lists.
    package static let defaultsDated = "2025-08-01"

    package let entries: [Entry]
    /// Prices found so far by model name (a pattern walk costs microseconds; a request
    /// should not pay it twice). Bounded: cleared when it reaches ``cacheLimit`` names.
    private let cache = PriceCache()
    static let cacheLimit = 4096

    /// `configured` first, then the built-in list unless `defaults` is false.
    package init(configured: [Entry], defaults: Bool = true) {
        entries = configured + (defaults ? Self.builtIn : [])
    }

    package func price(for model: String?) -> ModelPrice? {
        guard let model, !model.isEmpty else { return nil }
        if let known = cache.prices.withLock({ $0[model] }) { return known }
        let found = lookUp(model)
        cache.prices.withLock { prices in
            if prices.count >= Self.cacheLimit { prices.removeAll(keepingCapacity: true) }
            prices[model] = .some(found)
        }
        return found
    }

    private func lookUp(_ model: String) -> ModelPrice? {
        // Provider-prefixed names (`openai/gpt-4o`, `models/gemini-2.5-pro`) are priced by
        // their last part when the whole name has no entry.
        if let entry = entries.first(where: { $0.glob.matches(model) }) { return entry.price }
        if let slash = model.lastIndex(of: "/") {
            let last = String(model[model.index(after: slash)...])
            return entries.first(where: { $0.glob.matches(last) })?.price
        }
        return nil
    }

    /// The cost of `usage` on `model`, in US dollars (0 when the model has no price).
    package func cost(model: String?, usage: TokenUsage) -> Double {
        costIfPriced(model: model, usage: usage) ?? 0
    }

    /// The cost of `usage` on `model`; nil when the model has no price (one look-up).
    package func costIfPriced(model: String?, usage: TokenUsage) -> Double? {
        guard let price = price(for: model) else { return nil }
        let cached = min(max(0, usage.cachedInput), max(0, usage.input))
        let reasoning = min(max(0, usage.reasoning), max(0, usage.output))
        let plainInput = Double(max(0, usage.input) - cached)
        let plainOutput = Double(max(0, usage.output) - reasoning)
        let total =
            plainInput * price.input + Double(cached) * (price.cachedInput ?? price.input) + plainOutput * price.output
            + Double(reasoning) * (price.reasoning ?? price.output)
        return total / 1_000_000
    }

    /// List prices (USD per million tokens, standard tier, prompts under 200k tokens) as
    /// published on ``defaultsDated``. More specific names come before the patterns that
    /// would also match them.
    static let builtIn: [Entry] = [
        // OpenAI
        Entry(pattern: "gpt-5-nano*", price: ModelPrice(input: 0.05, output: 0.40, cachedInput: 0.005)),
        Entry(pattern: "gpt-5-mini*", price: ModelPrice(input: 0.25, output: 2.00, cachedInput: 0.025)),
        Entry(pattern: "gpt-5*", price: ModelPrice(input: 1.25, output: 10.00, cachedInput: 0.125)),
        Entry(pattern: "gpt-4.1-nano*", price: ModelPrice(input: 0.10, output: 0.40, cachedInput: 0.025)),
        Entry(pattern: "gpt-4.1-mini*", price: ModelPrice(input: 0.40, output: 1.60, cachedInput: 0.10)),
        Entry(pattern: "gpt-4.1*", price: ModelPrice(input: 2.00, output: 8.00, cachedInput: 0.50)),
        Entry(pattern: "gpt-4o-mini*", price: ModelPrice(input: 0.15, output: 0.60, cachedInput: 0.075)),
        Entry(pattern: "gpt-4o*", price: ModelPrice(input: 2.50, output: 10.00, cachedInput: 1.25)),
        Entry(pattern: "gpt-4-turbo*", price: ModelPrice(input: 10.00, output: 30.00)),
        Entry(pattern: "gpt-3.5-turbo*", price: ModelPrice(input: 0.50, output: 1.50)),
        Entry(pattern: "o4-mini*", price: ModelPrice(input: 1.10, output: 4.40, cachedInput: 0.275)),
        Entry(pattern: "o3-mini*", price: ModelPrice(input: 1.10, output: 4.40, cachedInput: 0.55)),
        Entry(pattern: "o3*", price: ModelPrice(input: 2.00, output: 8.00, cachedInput: 0.50)),
        Entry(pattern: "o1-mini*", price: ModelPrice(input: 1.10, output: 4.40, cachedInput: 0.55)),
        Entry(pattern: "o1*", price: ModelPrice(input: 15.00, output: 60.00, cachedInput: 7.50)),
        Entry(pattern: "text-embedding-3-small*", price: ModelPrice(input: 0.02, output: 0)),
        Entry(pattern: "text-embedding-3-large*", price: ModelPrice(input: 0.13, output: 0)),
        // Anthropic (cached input: cache reads)
        Entry(pattern: "claude-opus-4-5*", price: ModelPrice(input: 5.00, output: 25.00, cachedInput: 0.50)),
        Entry(pattern: "claude-opus-4*", price: ModelPrice(input: 15.00, output: 75.00, cachedInput: 1.50)),
        Entry(pattern: "claude-sonnet-4*", price: ModelPrice(input: 3.00, output: 15.00, cachedInput: 0.30)),
        Entry(pattern: "claude-3-7-sonnet*", price: ModelPrice(input: 3.00, output: 15.00, cachedInput: 0.30)),
        Entry(pattern: "claude-3-5-sonnet*", price: ModelPrice(input: 3.00, output: 15.00, cachedInput: 0.30)),
        Entry(pattern: "claude-haiku-4*", price: ModelPrice(input: 1.00, output: 5.00, cachedInput: 0.10)),
        Entry(pattern: "claude-3-5-haiku*", price: ModelPrice(input: 0.80, output: 4.00, cachedInput: 0.08)),
        Entry(pattern: "claude-3-haiku*", price: ModelPrice(input: 0.25, output: 1.25, cachedInput: 0.03)),
        Entry(pattern: "claude-3-opus*", price: ModelPrice(input: 15.00, output: 75.00, cachedInput: 1.50)),
        // Google Gemini
        Entry(pattern: "gemini-2.5-pro*", price: ModelPrice(input: 1.25, output: 10.00, cachedInput: 0.31)),
        Entry(pattern: "gemini-2.5-flash-lite*", price: ModelPrice(input: 0.10, output: 0.40, cachedInput: 0.025)),
        Entry(pattern: "gemini-2.5-flash*", price: ModelPrice(input: 0.30, output: 2.50, cachedInput: 0.075)),
        Entry(pattern: "gemini-2.0-flash-lite*", price: ModelPrice(input: 0.075, output: 0.30)),
        Entry(pattern: "gemini-2.0-flash*", price: ModelPrice(input: 0.10, output: 0.40, cachedInput: 0.025)),
        Entry(pattern: "gemini-1.5-pro*", price: ModelPrice(input: 1.25, output: 5.00)),
        Entry(pattern: "gemini-1.5-flash*", price: ModelPrice(input: 0.075, output: 0.30)),
    ]
}

private final class PriceCache: Sendable {
    let prices = Mutex([String: ModelPrice?]())
}
