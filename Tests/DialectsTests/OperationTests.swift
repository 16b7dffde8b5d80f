import HTTPTypes
import Testing

@testable import Dialects

@Suite("Classifying request paths")
struct OperationTests {
    func classify(_ method: HTTPRequest.Method, _ path: String) -> Operation? {
        guard case .success(let op)? = Operation.classify(method: method, path: path) else { return nil }
        return op
    }

    @Test(
        "each surface maps to its operation and dialect",
        arguments: [
            ("/v1/chat/completions", Operation.Kind.chatCompletions, Dialect.openai),
            ("/v1/completions", .completions, .openai),
            ("/v1/embeddings", .embeddings, .openai),
            ("/v1/messages", .messages, .anthropic),
            ("/v1/messages/count_tokens", .countTokens, .anthropic),
            ("/v1beta/models/gemini-2.0-flash:generateContent", .generateContent, .gemini),
            ("/v1beta/models/gemini-2.0-flash:streamGenerateContent", .streamGenerateContent, .gemini),
            ("/v1beta/models/gemini-2.0-flash:countTokens", .geminiCountTokens, .gemini),
            ("/v1beta/models/text-embedding-004:embedContent", .embedContent, .gemini),
            ("/v1/models/gemini-pro:generateContent", .generateContent, .gemini),
            ("/v1/files", .openAIPassthrough, .openai),
            ("/v1/messages/batches", .anthropicPassthrough, .anthropic),
            ("/v1beta/cachedContents", .geminiPassthrough, .gemini),
        ])
    func posts(path: String, kind: Operation.Kind, dialect: Dialect) {
        let op = classify(.post, path)
        #expect(op?.kind == kind)
        #expect(op?.dialect == dialect)
    }

    @Test("GET listings and model lookups")
    func gets() {
        #expect(classify(.get, "/v1/models")?.kind == .listModels)
        #expect(classify(.get, "/v1/models/gpt-4o")?.kind == .retrieveModel)
        #expect(classify(.get, "/v1/models/gpt-4o")?.pathModel == "gpt-4o")
        #expect(classify(.get, "/v1beta/models")?.kind == .geminiListModels)
        #expect(classify(.get, "/v1beta/models/gemini-pro")?.pathModel == "gemini-pro")
        #expect(classify(.post, "/v1beta/models/gemini-pro:generateContent")?.pathModel == "gemini-pro")
    }

    @Test("a wrong method on a known path is a 405 naming the right one")
    func wrongMethod() {
        guard case .failure(let error)? = Operation.classify(method: .get, path: "/v1/chat/completions") else {
            Issue.record("expected a 405")
            return
        }
        #expect(error.status == .methodNotAllowed)
        #expect(error.message.contains("use POST"))
    }

    @Test("paths outside every surface are not classified")
    func unknown() {
        #expect(Operation.classify(method: .get, path: "/") == nil)
        #expect(Operation.classify(method: .get, path: "/v2/chat") == nil)
    }

    @Test("the model comes from the body on body-model operations only")
    func modelInBody() {
        #expect(classify(.post, "/v1/chat/completions")?.modelInBody == true)
        #expect(classify(.post, "/v1beta/models/x:generateContent")?.modelInBody == false)
        #expect(classify(.post, "/v1beta/models/x:streamGenerateContent")?.isStreaming(bodyFlag: nil) == true)
    }
}
