import AsyncHTTPClient
import Dialects
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyConfig
import ServiceLifecycle

/// Background work that keeps the routing picture true: finds local engines, refreshes every
/// provider's model list, and runs active health checks. Nothing here is on a request's
/// path; requests only read what it last wrote.
///
/// It reads and updates the gateway's state through an ``UpstreamDirectory`` (the engine's
/// `StateStore`), so Upstreams does not depend on the engine.
package final class UpstreamMonitor: Service, Sendable {
    let directory: any UpstreamDirectory
    let catalog: ModelCatalog
    let client: UpstreamClient
    let health: HealthRegistry
    let logger: Logger
    /// The gateway's own port: llama.cpp's default port is skipped when it is ours.
    let ownPort: Int

    package init(directory: any UpstreamDirectory, catalog: ModelCatalog, client: UpstreamClient, health: HealthRegistry, logger: Logger, ownPort: Int) {
        self.directory = directory
        self.catalog = catalog
        self.client = client
        self.health = health
        self.logger = logger
        self.ownPort = ownPort
    }

    package func run() async throws {
        // Background loops stop at once on shutdown: nothing here needs draining.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.discoveryLoop() }
                group.addTask { await self.healthLoop() }
                await group.waitForAll()
            }
        }
    }

    // MARK: discovery and model lists

    private func discoveryLoop() async {
        while !Task.isCancelled {
            let interval = directory.upstreams.discovery.interval
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            if Task.isCancelled { return }
            await refresh(announce: false)
        }
    }

    /// One round: discover engines (rebuilding the state when the set changed), then refresh
    /// every model list concurrently.
    package func refresh(announce: Bool) async {
        let state = directory.upstreams
        if state.discovery.localEngines {
            let engines = await discoverEngines(state.discovery)
            if engines.map(\.name) != state.engines.map(\.name) || engines.map(\.baseURL) != state.engines.map(\.baseURL) {
                let (previous, _) = directory.replaceEngines(with: engines)
                let added = Set(engines.map(\.name)).subtracting(previous.engines.map(\.name))
                let lost = Set(previous.engines.map(\.name)).subtracting(engines.map(\.name))
                if !announce {
                    for name in added.sorted() { logger.info("local engine found", metadata: ["engine": .string(name)]) }
                }
                for name in lost.sorted() { logger.warning("local engine no longer answers", metadata: ["engine": .string(name)]) }
            }
        }
        await refreshModelLists()
    }

    func refreshModelLists() async {
        let providers = directory.upstreams.providers.filter { $0.discoverModels && $0.type != .mock }
        catalog.retain(providers: Set(directory.upstreams.providers.map(\.name)))
        await withTaskGroup(of: Void.self) { group in
            for provider in providers {
                group.addTask {
                    do {
                        let models = try await self.fetchModels(of: provider)
                        self.catalog.update(provider: provider.name, models: models)
                    } catch {
                        self.catalog.recordFailure(provider: provider.name, error: "\(error)")
                        self.logger.debug("model list refresh failed", metadata: ["provider": .string(provider.name), "error": .string("\(error)")])
                    }
                }
            }
        }
    }

    struct FetchError: Error, CustomStringConvertible {
        var description: String
    }

    /// The provider's own model list, asked in its native dialect with its first key.
    func fetchModels(of provider: Provider) async throws -> [ModelEntry] {
        guard let endpoint = provider.endpoints.first else { return [] }
        let dialect: Dialect
        let path: String
        switch provider.type {
        case .anthropic:
            dialect = .anthropic
            path = "/v1/models"
        case .gemini:
            dialect = .gemini
            path = "/v1beta/models"
        default:
            dialect = .openai
            path = "/v1/models"
        }
        // Ask for the largest page each API allows (Anthropic's default page is 20 models).
        let query: String? = provider.type == .gemini ? "pageSize=1000" : provider.type == .anthropic ? "limit=1000" : nil
        let plan = UpstreamRequestPlan(
            endpoint: endpoint, dialect: dialect, path: path, query: query,
            clientHeaders: [:], extraHeaders: provider.extraHeaders, requestID: "models-refresh")
        let data = try await get(plan, timeout: .seconds(10))
        return try Self.parseModelList(data, type: provider.type)
    }

    static func parseModelList(_ data: Data, type: ProviderType) throws -> [ModelEntry] {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FetchError(description: "the model list is not a JSON object")
        }
        if type == .gemini, let models = object["models"] as? [[String: Any]] {
            return models.compactMap { model in
                guard let name = model["name"] as? String else { return nil }
                let raw = (try? JSONSerialization.data(withJSONObject: model, options: [.sortedKeys, .withoutEscapingSlashes])).map { String(decoding: $0, as: UTF8.self) }
                return ModelEntry(id: name.hasPrefix("models/") ? String(name.dropFirst(7)) : name, raw: raw)
            }
        }
        if let list = object["data"] as? [[String: Any]] {
            return list.compactMap { ($0["id"] as? String).map { ModelEntry(id: $0) } }
        }
        if let models = object["models"] as? [[String: Any]] {
            // Ollama's /api/tags.
            return models.compactMap { ($0["name"] as? String ?? $0["model"] as? String).map { ModelEntry(id: $0) } }
        }
        throw FetchError(description: "the model list has neither data nor models")
    }

    func get(_ plan: UpstreamRequestPlan, timeout: TimeAmount, method: HTTPMethod = .GET, body: String? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: plan.url)
        request.method = method
        for header in plan.headers { request.headers.add(name: header.name, value: header.value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.http.execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 16 << 20)
        guard (200..<300).contains(response.status.code) else {
            throw FetchError(description: "HTTP \(response.status.code)")
        }
        return Data(buffer.readableBytesView)
    }

    /// Probes the usual local engines; each found one becomes an OpenAI-type provider.
    func discoverEngines(_ discovery: DiscoveryConfig) async -> [ProviderConfig] {
        var candidates: [(name: String, url: String, probe: String)] = [
            ("ollama-default", discovery.ollamaURL, "/api/tags"),
            ("vllm-default", discovery.vllmURL, "/v1/models"),
            ("lmstudio-default", discovery.lmStudioURL, "/v1/models"),
        ]
        if let llama = UpstreamURL(discovery.llamaCppURL), !(llama.port == ownPort && (llama.host == "127.0.0.1" || llama.host == "localhost")) {
            candidates.append(("llamacpp-default", discovery.llamaCppURL, "/v1/models"))
        }
        let found = await withTaskGroup(of: (Int, ProviderConfig?).self) { group in
            for (index, candidate) in candidates.enumerated() {
                group.addTask {
                    guard let base = UpstreamURL(candidate.url) else { return (index, nil) }
                    var request = HTTPClientRequest(url: base.description + candidate.probe)
                    request.method = .GET
                    guard let response = try? await self.client.http.execute(request, timeout: .seconds(2)),
                        response.status.code == 200,
                        let buffer = try? await response.body.collect(upTo: 16 << 20),
                        let models = try? Self.parseModelList(Data(buffer.readableBytesView), type: .openai)
                    else {
                        return (index, nil)
                    }
                    var provider = ProviderConfig(name: candidate.name, type: .openai, baseURL: base.description + "/v1")
                    provider.models = models.map(\.id)
                    provider.discoverModels = true
                    return (index, provider)
                }
            }
            var results: [(Int, ProviderConfig?)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.compactMap(\.1)
        }
        return found
    }

    // MARK: health checks

    /// The first round of checks, before the gateway listens, bounded by `limit` so a
    /// black-holed upstream cannot hold up start-up (an unfinished check leaves the endpoint
    /// as healthy until the next round).
    package func initialHealthChecks(limit: Duration) async {
        let due = directory.upstreams.providers.filter { $0.type != .mock }.flatMap { p in p.endpoints.map { (p, $0) } }
        guard !due.isEmpty else { return }
        await Self.withTimeLimit(limit) {
            await withTaskGroup(of: Void.self) { checks in
                for (provider, endpoint) in due { checks.addTask { await self.check(endpoint, of: provider, next: nil) } }
            }
        }
    }

    /// Runs `work` for at most `limit`, then cancels it. Start-up uses it so an upstream that
    /// never answers cannot hold the gateway back from listening.
    package static func withTimeLimit(_ limit: Duration, _ work: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: limit) }
            group.addTask { await work() }
            await group.next()
            group.cancelAll()
        }
    }

    private func healthLoop() async {
        let start = ContinuousClock.now
        var nextCheck: [String: ContinuousClock.Instant] = [:]
        for provider in directory.upstreams.providers {
            for endpoint in provider.endpoints {
                nextCheck[endpoint.id] = start.advanced(by: .milliseconds(Int(provider.healthCheckInterval * 1000)))
            }
        }
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let due = directory.upstreams.providers.filter { $0.type != .mock }.flatMap { provider in
                provider.endpoints.compactMap { endpoint -> (Provider, Endpoint)? in
                    if let next = nextCheck[endpoint.id], next > now { return nil }
                    return (provider, endpoint)
                }
            }
            for (provider, endpoint) in due {
                nextCheck[endpoint.id] = now.advanced(by: .milliseconds(Int(provider.healthCheckInterval * 1000)))
            }
            if !due.isEmpty {
                await withTaskGroup(of: Void.self) { group in
                    for (provider, endpoint) in due {
                        let next = nextCheck[endpoint.id]
                        group.addTask { await self.check(endpoint, of: provider, next: next) }
                    }
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// The seed's rule: with a configured check, a 2xx answer within 30 s is healthy; without
    /// one, a successful TCP connect is.
    /// `next`: when the loop checks this endpoint again (nil: an interval from now).
    func check(_ endpoint: Endpoint, of provider: Provider, next: ContinuousClock.Instant?) async {
        let wasHealthy = endpoint.health.isActiveHealthy
        var failure: String?
        if let check = provider.healthCheck {
            let dialect: Dialect = provider.type == .anthropic ? .anthropic : provider.type == .gemini ? .gemini : .openai
            var headers = HTTPFields()
            for (name, value) in check.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
            let plan = UpstreamRequestPlan(
                endpoint: endpoint, dialect: dialect, path: check.path, query: nil, clientHeaders: headers,
                extraHeaders: provider.extraHeaders, requestID: "health-check")
            do {
                _ = try await get(plan, timeout: .seconds(30), method: HTTPMethod(rawValue: check.method), body: check.method == "GET" || check.method == "HEAD" ? nil : check.body)
            } catch {
                failure = "health check \(check.method) \(check.path) failed: \(error)"
            }
        } else {
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(10))
                    .connect(host: endpoint.baseURL.host, port: endpoint.baseURL.port).get()
                try? await channel.close()
            } catch {
                failure = "cannot connect to \(endpoint.baseURL.origin): \(error)"
            }
        }
        let now = ContinuousClock.now
        let nextIn = next.map { max(.zero, $0 - now) } ?? .milliseconds(Int(provider.healthCheckInterval * 1000))
        endpoint.health.recordCheck(healthy: failure == nil, error: failure, nextIn: nextIn, now: now)
        if wasHealthy, let failure {
            logger.warning("upstream endpoint unhealthy", metadata: ["endpoint": .string(endpoint.id), "reason": .string(failure)])
        } else if !wasHealthy, failure == nil {
            logger.info("upstream endpoint healthy again", metadata: ["endpoint": .string(endpoint.id)])
        }
    }
}
