/// The four request shapes translation reads and writes. The OpenAI dialect has two: Chat
/// Completions and the Responses API.
package enum WireFormat: String, Sendable, Equatable, CaseIterable {
    case openAIChat = "openai-chat"
    case openAIResponses = "openai-responses"
    case anthropicMessages = "anthropic-messages"
    case gemini = "gemini"

    /// The dialect errors are written in.
    package var dialect: Dialect {
        switch self {
        case .openAIChat, .openAIResponses: return .openai
        case .anthropicMessages: return .anthropic
        case .gemini: return .gemini
        }
    }
}

/// A chat request in no dialect: what every decoder produces and every encoder reads. It
/// holds only what has a meaning in at least two dialects; what one dialect alone knows is
/// either carried in a field here or reported by the decoder as dropped or refused.
package struct ChatRequest: Sendable, Equatable {
    package var model: String?
    /// System instructions, in order (OpenAI `system`/`developer` messages, Anthropic
    /// `system`, Gemini `systemInstruction`, Responses `instructions`).
    package var system: [String] = []
    package var messages: [ChatMessage] = []
    package var tools: [ToolDefinition] = []
    package var toolChoice: ToolChoice?
    package var parallelToolCalls: Bool?
    package var maxTokens: Int?
    /// Sampling values keep their literal text, so they reach the upstream exactly as sent.
    package var temperature: JSON?
    package var topP: JSON?
    package var topK: JSON?
    package var stop: [String] = []
    package var stream = false
    package var responseFormat: ResponseFormat?
    package var reasoning: Reasoning?
    package var seed: JSON?
    package var presencePenalty: JSON?
    package var frequencyPenalty: JSON?
    /// An end-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    package var user: String?
    /// The OpenAI client asked for the usage chunk of a stream (`stream_options.include_usage`).
    package var includeUsage = false

    package init() {}
}

package enum ChatRole: String, Sendable, Equatable {
    case user, assistant
}

/// One turn. Tool results travel in user turns (Anthropic's and Gemini's model); OpenAI
/// `tool` messages become such turns and back.
package struct ChatMessage: Sendable, Equatable {
    package var role: ChatRole
    package var parts: [ContentPart]

    package init(role: ChatRole, parts: [ContentPart]) {
        self.role = role
        self.parts = parts
    }
}

package enum ContentPart: Sendable, Equatable {
    case text(String)
    case image(ImageSource)
    /// A call the model made: `arguments` is JSON text (an object).
    case toolCall(id: String, name: String, arguments: String)
    /// The answer to a call; `name` is the function's (Gemini needs it; found from the call).
    case toolResult(id: String, name: String, content: [ToolResultContent], isError: Bool)
    /// Visible reasoning, with the provider's signature when it gave one (Anthropic's
    /// `signature`, Gemini's `thoughtSignature`): it goes back to that provider unchanged.
    case thinking(text: String, signature: String?)
    /// Anthropic's encrypted reasoning block: only Anthropic can read it.
    case redactedThinking(data: String)
}

package enum ToolResultContent: Sendable, Equatable {
    case text(String)
    case image(ImageSource)
}

package enum ImageSource: Sendable, Equatable {
    case url(String)
    case base64(mediaType: String, data: String)

    /// As an OpenAI `image_url` value (a data URL for inline images).
    package var url: String {
        switch self {
        case .url(let url): return url
        case .base64(let type, let data): return "data:\(type);base64,\(data)"
        }
    }

    /// Reads an OpenAI image URL: `data:` URLs become inline images.
    package init(openAIURL: String) {
        if openAIURL.hasPrefix("data:"), let comma = openAIURL.firstIndex(of: ","),
            openAIURL[..<comma].hasSuffix(";base64")
        {
            let type = openAIURL[openAIURL.index(openAIURL.startIndex, offsetBy: 5)..<comma].dropLast(7)
            self = .base64(mediaType: String(type), data: String(openAIURL[openAIURL.index(after: comma)...]))
        } else {
            self = .url(openAIURL)
        }
    }
}

package struct ToolDefinition: Sendable, Equatable {
    package var name: String
    package var description: String?
    /// A JSON Schema object.
    package var parameters: JSON
    package var strict: Bool?

    package init(name: String, description: String?, parameters: JSON, strict: Bool? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.strict = strict
    }
}

package enum ToolChoice: Sendable, Equatable {
    case auto, none
    /// Some tool must be called (OpenAI `required`, Anthropic `any`, Gemini `ANY`).
    case required
    case tool(String)
}

package enum ResponseFormat: Sendable, Equatable {
    case text
    /// Any JSON object.
    case jsonObject
    case jsonSchema(name: String, schema: JSON, strict: Bool?)
}

/// Reasoning asked for: a token budget (Anthropic, Gemini) or an effort (OpenAI), each mapped
/// to the other by a documented table.
package struct Reasoning: Sendable, Equatable {
    package enum Effort: String, Sendable, Equatable {
        case minimal, low, medium, high
    }
    package var effort: Effort?
    package var budgetTokens: Int?
    /// Reasoning switched off explicitly (Gemini `thinkingBudget: 0`, Anthropic `disabled`).
    package var disabled = false

    package init(effort: Effort? = nil, budgetTokens: Int? = nil, disabled: Bool = false) {
        self.effort = effort
        self.budgetTokens = budgetTokens
        self.disabled = disabled
    }

    /// The budget for providers that take one.
    package var budget: Int {
        if let budgetTokens { return budgetTokens }
        switch effort ?? .medium {
        case .minimal: return 1024
        case .low: return 2048
        case .medium: return 8192
        case .high: return 24576
        }
    }

    /// The effort for providers that take one.
    package var resolvedEffort: Effort {
        if let effort { return effort }
        guard let budgetTokens else { return .medium }
        if budgetTokens < 0 { return .medium }
        if budgetTokens <= 1024 { return .minimal }
        if budgetTokens <= 4096 { return .low }
        if budgetTokens <= 16384 { return .medium }
        return .high
    }
}

/// A complete (non-streamed) answer in no dialect.
package struct ChatResponse: Sendable, Equatable {
    package var id: String?
    package var model: String?
    package var parts: [ContentPart] = []
    package var finish: FinishReason = .stop
    package var usage = TokenCounts()

    package init() {}
}

package enum FinishReason: Sendable, Equatable {
    case stop
    /// A stop sequence matched (the sequence, when the upstream says which).
    case stopSequence(String?)
    case length
    case toolCalls
    case contentFilter
    /// Anything else the upstream reported (kept for logs; mapped to each dialect's nearest).
    case other(String)
}

/// Token counts normalised across dialects: `input` includes cached and cache-written tokens,
/// `output` includes reasoning tokens (Anthropic and Gemini report these apart; OpenAI
/// includes them).
package struct TokenCounts: Sendable, Equatable {
    package var input: Int?
    package var output: Int?
    package var cachedInput: Int?
    package var cacheCreation: Int?
    package var reasoning: Int?

    package init(input: Int? = nil, output: Int? = nil, cachedInput: Int? = nil, cacheCreation: Int? = nil, reasoning: Int? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.cacheCreation = cacheCreation
        self.reasoning = reasoning
    }

    package var total: Int { (input ?? 0) + (output ?? 0) }

    /// Later counts win where they are given (streams report input first, output last).
    package mutating func merge(_ other: TokenCounts) {
        input = other.input ?? input
        output = other.output ?? output
        cachedInput = other.cachedInput ?? cachedInput
        cacheCreation = other.cacheCreation ?? cacheCreation
        reasoning = other.reasoning ?? reasoning
    }
}
