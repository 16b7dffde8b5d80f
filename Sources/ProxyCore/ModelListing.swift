import Dialects
import Foundation
import HTTPTypes
import ProxyConfig
import Upstreams

/// The model listings the gateway answers itself (`/v1/models`, `/v1beta/models`, …).
package enum ModelListing {
    /// Answers model listings from what the gateway knows: the union of every upstream's
    /// list (refreshed in the background), configured names and mock models, de-duplicated,
    /// each tagged with the provider that serves it. nil when the request should be
    /// forwarded instead (a host-routed request goes to its provider as is).
    package static func answer(_ operation: Dialects.Operation, state: GatewayState) -> LocalResponse? {
        let catalog = state.catalog
        var seen = Set<String>()
        var entries: [(id: String, owner: String, raw: String?, native: Bool)] = []
        // Gemini clients can call every model (chats are translated); their listing shows all.
        let everyProvider = operation.dialect == .gemini
        for provider in state.routes.providers where everyProvider || provider.speaks(operation.dialect) {
            var listed = catalog.models(of: provider.name)?.models ?? []
            let known = Set(listed.map(\.id))
            listed += provider.modelNames.sorted().filter { !known.contains($0) }.map { ModelEntry(id: $0) }
            if provider.type == .mock, listed.isEmpty { listed = [ModelEntry(id: "mock-model")] }
            for entry in listed where seen.insert(entry.id).inserted {
                entries.append((entry.id, provider.name, provider.type == .gemini ? entry.raw : nil, provider.speaks(.gemini)))
            }
        }
        let created = Int(Date().timeIntervalSince1970)
        switch operation.kind {
        case .listModels:
            let data = entries.map { #"{"id":\#(JSONText.quoted($0.id)),"object":"model","created":\#(created),"owned_by":\#(JSONText.quoted($0.owner))}"# }
            return .json(.ok, #"{"object":"list","data":[\#(data.joined(separator: ","))]}"#)
        case .retrieveModel:
            guard let id = operation.pathModel, let entry = entries.first(where: { $0.id == id }) else {
                return .error(.modelNotFound(operation.pathModel), dialect: .openai)
            }
            return .json(.ok, #"{"id":\#(JSONText.quoted(entry.id)),"object":"model","created":\#(created),"owned_by":\#(JSONText.quoted(entry.owner))}"#)
        case .geminiListModels:
            let models = entries.map { entry -> String in
                if let raw = entry.raw { return raw }
                let name = entry.id.hasPrefix("models/") ? entry.id : "models/\(entry.id)"
                // countTokens is not translated: only models of Gemini-speaking providers have it.
                let methods = entry.native ? #"["generateContent","streamGenerateContent","countTokens"]"# : #"["generateContent","streamGenerateContent"]"#
                return
                    #"{"name":\#(JSONText.quoted(name)),"displayName":\#(JSONText.quoted(entry.id)),"supportedGenerationMethods":\#(methods)}"#
            }
            return .json(.ok, #"{"models":[\#(models.joined(separator: ","))]}"#)
        case .geminiGetModel:
            guard let id = operation.pathModel,
                let entry = entries.first(where: { $0.id == id || $0.id == "models/\(id)" })
            else {
                return .error(.modelNotFound(operation.pathModel), dialect: .gemini)
            }
            if let raw = entry.raw { return .json(.ok, raw) }
            return .json(.ok, #"{"name":\#(JSONText.quoted("models/\(id)")),"displayName":\#(JSONText.quoted(id))}"#)
        default:
            return nil
        }
    }
}
