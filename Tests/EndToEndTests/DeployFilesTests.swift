import Foundation
import ProxyConfig
import Testing

/// The packaging in `deploy/`: the systemd unit passes `systemd-analyze verify` with its
/// hardening in place; the Dockerfile (not built here: no container engine) has the shape
/// the docs promise; the compose file's settings are ones the gateway reads and accepts.
@Suite("Packaging: systemd unit, Dockerfile, compose")
struct DeployFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String { try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) }

    @Test("the systemd unit verifies, runs as a dynamic user on a read-only system, and keeps only the capability for low ports")
    func systemdUnit() throws {
        let unit = try Self.text("deploy/llm-proxy.service")
        for line in [
            "DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes", "LimitNOFILE=65536", "StateDirectory=llm-proxy",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "ExecReload=/bin/kill -HUP $MAINPID",
        ] {
            #expect(unit.split(separator: "\n").contains { $0 == line }, "missing: \(line)")
        }
        guard let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("systemd-analyze is not installed (scripts/test installs systemd)")
            return
        }
        // verify checks that ExecStart's program exists: point it at the binary under test.
        let copy = NSTemporaryDirectory() + "llmproxy-unit-\(UUID().uuidString)/llm-proxy.service"
        try FileManager.default.createDirectory(atPath: (copy as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: (copy as NSString).deletingLastPathComponent) }
        try unit.replacingOccurrences(of: "/usr/local/bin/llm-proxy", with: GatewayProcess.binary.path).write(toFile: copy, atomically: true, encoding: .utf8)
        let (status, said) = try Tool.run(analyze, ["verify", copy])
        #expect(status == 0, "systemd-analyze verify: \(said)")
        #expect(!said.contains("llm-proxy.service:"), "systemd-analyze found problems in the unit: \(said)")
    }

    @Test("the Dockerfile builds with the official Swift image and a static runtime, and runs on a slim base as a non-root user with a health check")
    func dockerfile() throws {
        let lines = try Self.text("deploy/Dockerfile").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("#") }
        let stages = lines.enumerated().filter { $0.element.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.element.hasPrefix("FROM swift:") == true && stages.first?.element.hasSuffix(" AS build") == true)
        // The Swift image is at least the package's tools version.
        let tools = try Self.text("Package.swift").split(separator: "\n").first.map { String($0.split(separator: ":").last ?? "") } ?? ""
        let image = stages.first.map { String($0.element.dropFirst("FROM swift:".count).prefix { $0 != "-" && $0 != " " }) } ?? ""
        #expect(image.compare(tools, options: .numeric) != .orderedAscending, "swift:\(image) is older than swift-tools-version \(tools)")
        #expect(lines.contains { $0.contains("swift build -c release") && $0.contains("--static-swift-stdlib") })
        let runtime = lines[(stages.last?.offset ?? 0)...]
        #expect(stages.last?.element.contains("-slim") == true)
        let user = runtime.last { $0.hasPrefix("USER ") }.map { String($0.dropFirst(5)) } ?? "root"
        #expect(!user.hasPrefix("root") && !user.hasPrefix("0"), "the container runs as \(user)")
        #expect(runtime.contains { $0.hasPrefix("HEALTHCHECK ") } && runtime.contains { $0.contains("/health/live") })
        #expect(runtime.contains { $0.hasPrefix("COPY --from=build ") })
        #expect(runtime.contains("STOPSIGNAL SIGTERM"))
    }

    @Test("compose: PostgreSQL with a health check before the gateway, and the gateway accepts the settings compose gives it")
    func compose() throws {
        let compose = try Self.text("deploy/compose.yaml")
        #expect(compose.contains("image: postgres:") && compose.contains("pg_isready") && compose.contains("condition: service_healthy"))
        #expect(compose.contains("dockerfile: deploy/Dockerfile"))
        // Every LLMPROXY_ variable compose sets is one the gateway reads: set each, and the
        // configuration changes (an unknown name would change nothing).
        let names = Set(
            compose.split(separator: "\n").compactMap { line -> String? in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix("LLMPROXY_"), let colon = trimmed.firstIndex(of: ":") else { return nil }
                return String(trimmed[..<colon])
            })
        #expect(names.contains("LLMPROXY_DATABASE_URL") && names.contains("LLMPROXY_API_KEYS"))
        let samples = [
            "LLMPROXY_DATABASE_URL": "postgres://llmproxy:secret@postgres:5432/llmproxy", "LLMPROXY_API_KEYS": "client-key-123456",
            "LLMPROXY_HOST": "0.0.0.0", "LLMPROXY_PORT": "8080", "LLMPROXY_LOG_FORMAT": "json",
        ]
        for name in names {
            var config = GatewayConfig()
            let before = config.redactedYAML()
            try config.applyEnvironment([name: samples[name] ?? "x"])
            #expect(config.redactedYAML() != before, "\(name) changes nothing")
        }
        // The Dockerfile's environment plus compose's: a valid configuration (keys make the public bind allowed).
        var config = GatewayConfig()
        try config.applyEnvironment(samples)
        #expect(config.validate().isEmpty, "\(config.validate())")
    }

    @Test("the Grafana dashboard queries only metrics the gateway exports")
    func grafanaDashboard() async throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("deploy/grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = dashboard["panels"] as? [[String: Any]] ?? []
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(panels.count >= 10 && expressions.count >= panels.count)
        var names = Set<String>()
        for expression in expressions {
            var rest = Substring(expression)
            while let range = rest.range(of: "llmproxy_") {
                let name = String(rest[range.lowerBound...].prefix { $0.isLetter || $0 == "_" || $0.isNumber })
                names.insert(name.replacingOccurrences(of: "_bucket", with: "", options: .anchored.union(.backwards)))
                rest = rest[range.upperBound...]
            }
        }
        #expect(names.contains("llmproxy_overhead_seconds") && names.contains("llmproxy_requests_total"))
        // A second provider for fail-500, so its 500 is retried on the other (a retry counted).
        let yaml: ([String: MockUpstream]) -> String = { upstreams in
            let upstream = upstreams["primary"]!
            return Configs.threeProviders(
                upstream,
                extra: """
                      - {name: oa2, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: \(upstream.requiredKey), models: [fail-500]}
                    cache: {enabled: true}
                    """)
        }
        try await withGateway(yaml: yaml) { gateway, _ in
            let url = gateway.url + "/v1/chat/completions"
            // What makes the counters that appear only once they count: a refusal, a retried 500.
            _ = try await TestHTTP.send(.POST, url, headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            _ = try await TestHTTP.send(.POST, url, headers: [("Authorization", "Bearer wrong-key")], body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            _ = try await TestHTTP.send(.POST, url, headers: Configs.auth, body: #"{"model":"fail-500","messages":[]}"#)
            let metrics = try await TestHTTP.send(.GET, gateway.url + "/metrics").body
            let exported = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
            for name in names.sorted() {
                #expect(exported.contains(name), "the dashboard queries \(name), which /metrics does not export")
            }
            #expect(metrics.contains(#"llmproxy_build_info{version=""#))
        }
    }
}
