/// One step of a streamed answer in no dialect. Decoders of upstream streams produce these;
/// encoders of client streams consume them and own the block structure of their dialect
/// (Anthropic's indexed blocks, the Responses API's items), so a decoder never has to know
/// what the client needs opened or closed.
package enum StreamEvent: Sendable, Equatable {
    /// The answer began (the upstream's id and model, when it said).
    case start(id: String?, model: String?)
    case text(String)
    case thinking(String)
    /// The signature of the reasoning just streamed (Anthropic), to be kept with it.
    case thinkingSignature(String)
    case redactedThinking(String)
    /// A tool call begins; its arguments follow as ``toolArguments(_:)`` fragments.
    case toolCall(id: String, name: String)
    /// A fragment of the arguments (JSON text) of the call begun last.
    case toolArguments(String)
    case usage(TokenCounts)
    case finish(FinishReason)
    /// The upstream reported an error inside the stream.
    case error(UpstreamFailure)
    /// The upstream said the answer is complete.
    case end
}

/// An error an upstream reported, in no dialect: its HTTP status (or the status its type
/// stands for, inside a stream), its kind and its message.
package struct UpstreamFailure: Sendable, Equatable {
    package var status: Int
    /// The upstream's error type or status name (`invalid_request_error`, `RESOURCE_EXHAUSTED`).
    package var type: String?
    package var message: String

    package init(status: Int, type: String?, message: String) {
        self.status = status
        self.type = type
        self.message = message
    }
}

/// Turns upstream stream events of one dialect into ``StreamEvent``s.
package protocol StreamDecoder {
    mutating func decode(_ event: ServerSentEvent) -> [StreamEvent]
}

/// Writes ``StreamEvent``s as the client dialect's stream.
package protocol StreamEncoder {
    /// The bytes to send for `event` (empty when it only changes state).
    mutating func encode(_ event: StreamEvent, into out: inout String)
    /// Whether the stream was ended (``StreamEvent/end`` encoded).
    var ended: Bool { get }
}
