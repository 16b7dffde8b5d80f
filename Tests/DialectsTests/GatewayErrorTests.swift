import Foundation
import Testing

@testable import Dialects

@Suite("Error bodies in each dialect")
struct GatewayErrorTests {
    func object(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test("OpenAI: error.message, type and code")
    func openAI() {
        let body = object(GatewayError.invalidAPIKey(missing: false).body(in: .openai))
        let error = body["error"] as? [String: Any]
        #expect(error?["type"] as? String == "authentication_error")
        #expect(error?["code"] as? String == "invalid_api_key")
        #expect(error?["message"] as? String == "The API key is unknown or revoked")
    }

    @Test("Anthropic: type error with error.type and message")
    func anthropic() {
        let body = object(GatewayError.requestTooLarge(limit: 10).body(in: .anthropic))
        #expect(body["type"] as? String == "error")
        #expect((body["error"] as? [String: Any])?["type"] as? String == "request_too_large")
    }

    @Test("Gemini: error.code, message and status")
    func gemini() {
        let body = object(GatewayError.modelNotFound("x").body(in: .gemini))
        let error = body["error"] as? [String: Any]
        #expect(error?["code"] as? Int == 404)
        #expect(error?["status"] as? String == "NOT_FOUND")
        #expect(error?["message"] as? String == "The model 'x' is not served by this gateway")
    }

    @Test("messages with quotes and control characters stay valid JSON")
    func escaping() {
        let error = GatewayError.badRequest("bad \"quote\"\n\tand \u{1} control")
        for dialect in Dialect.allCases {
            #expect(!object(error.body(in: dialect)).isEmpty)
        }
    }

    @Test(
        "status codes map to each dialect's vocabulary",
        arguments: [
            (502, "api_error", "api_error", "INTERNAL"),
            (503, "service_unavailable", "overloaded_error", "UNAVAILABLE"),
            (504, "timeout", "timeout_error", "DEADLINE_EXCEEDED"),
            (429, "rate_limit_error", "rate_limit_error", "RESOURCE_EXHAUSTED"),
            (403, "permission_error", "permission_error", "PERMISSION_DENIED"),
            (400, "invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
        ])
    func vocabulary(status: Int, openAI: String, anthropic: String, google: String) {
        let error = GatewayError(status: .init(code: status), code: .invalidRequest, message: "m")
        #expect(error.openAIType == openAI)
        #expect(error.anthropicType == anthropic)
        #expect(error.googleStatus == google)
    }
}
