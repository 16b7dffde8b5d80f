import Foundation
import Testing

@testable import ProxyConfig

/// The configuration loader never crashes, whatever the file and the environment hold: every
/// document is either refused with problems or loads into a configuration whose numbers the
/// gateway can convert without trapping. Seeded, so a failure names a reproducible case.
///
/// `LLMPROXY_FUZZ_ITERATIONS` sets the number of documents (default 2000, about a second);
/// `LLMPROXY_FUZZ_SEED` picks another sequence.
@Suite("Configuration fuzzing")
struct ConfigFuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let iterations = environment["LLMPROXY_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2000
    static let seed = environment["LLMPROXY_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5EED_C0DE

    @Test("generated documents from the real schema: refused or loaded, never a crash")
    func generated() {
        var random = SplitMix64(seed: Self.seed)
        var loaded = 0
        for iteration in 0..<Self.iterations {
            var generator = YAMLGenerator(random: random)
            let text = generator.document()
            let environment = generator.environment()
            random = generator.random
            if check(text, environment: environment, case: "generated #\(iteration)") { loaded += 1 }
        }
        // Most generated documents are refused; some must get through, or the generator
        // tests nothing past the reader.
        #expect(loaded > 0, "no generated document was valid")
    }

    @Test("mutations of real configuration files: refused or loaded, never a crash")
    func mutated() throws {
        var random = SplitMix64(seed: Self.seed ^ 0xA5A5)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try String(contentsOf: root.appendingPathComponent("examples/llmproxy.yaml"), encoding: .utf8)
        let seeds = [example, Self.seedFormat, Self.everyKey]
        for seed in seeds { #expect(check(seed, environment: [:], case: "unmutated"), "a seed document is not valid") }
        // A quarter as many: each is a whole file, most of them valid, so each costs more.
        for iteration in 0..<max(1, Self.iterations / 4) {
            var text = Array(seeds[random.below(seeds.count)].utf8)
            for _ in 0...random.below(4) { Mutator.mutate(&text, with: &random) }
            check(String(decoding: text, as: UTF8.self), environment: [:], case: "mutated #\(iteration)")
        }
    }

    @Test("documents of extreme shape: deep nesting, many aliases, long scalars")
    func extremeShapes() {
        for depth in [10, 100, 500, 999, 1000, 1001, 5000] {
            check("server: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth), environment: [:], case: "flow depth \(depth)")
            check("providers: " + String(repeating: "{a: ", count: depth) + "1" + String(repeating: "}", count: depth), environment: [:], case: "mapping depth \(depth)")
        }
        var block = "providers:\n"
        for level in 0..<300 { block += String(repeating: " ", count: level * 2 + 2) + "- k\(level):\n" }
        check(block, environment: [:], case: "block depth 300")
        // A "billion laughs" document: aliases of aliases. The reader looks only as deep as the
        // schema, so it must not walk the whole expansion.
        var laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<12 { laughs += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        laughs += "auth: {keys: *a11}\nserver: {public_paths: *a11}\nproviders: *a11\n"
        let start = ContinuousClock.now
        check(laughs, environment: [:], case: "aliases")
        #expect(ContinuousClock.now - start < .seconds(5), "aliases were expanded")
        check("server: {host: \"" + String(repeating: "🦙\u{0301}\u{202E}", count: 100_000) + "\"}", environment: [:], case: "long scalar")
        // The same aliases as a key: Yams would hash the whole expansion (hours); refused first.
        let keyed = laughs.replacingOccurrences(of: "providers: *a11\n", with: "? *a11\n: 1\n")
        let keyedStart = ContinuousClock.now
        #expect(!check(keyed, environment: [:], case: "aliases as a key"))
        #expect(!check(laughs + "{[*a11, *a11]: 1}: 2\n", environment: [:], case: "aliases in a flow key"))
        #expect(!check(laughs + "*a11 : 1\n", environment: [:], case: "alias as an implicit key"))
        #expect(ContinuousClock.now - keyedStart < .seconds(5), "a key of aliases was expanded")
        for text in [keyed, laughs + "{[*a11, *a11]: 1}: 2\n", laughs + "*a11 : 1\n", "a: &x 1\n? [*x]\n: 2\n"] {
            #expect(GatewayConfig.complexKeyProblem(in: text)?.message.contains("as a mapping key") == true)
        }
        for text in [laughs, "a: &x {b: 1}\nc: *x\nd: [*x, *x]\n", "providers: [{type: mock, models: [gpt-*]}]\n"] {
            #expect(GatewayConfig.complexKeyProblem(in: text) == nil, "refused: \(text.prefix(80))")
        }
        check(String(repeating: "server: {}\n", count: 2), environment: [:], case: "duplicate key")
        check("\u{FEFF}server: {port: 1}\u{0000}", environment: [:], case: "BOM and NUL")
    }

    @Test(
        "cases the fuzzer found stay fixed",
        arguments: [
            // TargetURL(spec:) indexed the first part of "|" split by "|": there is none.
            ("target_urls: [\"|\"]", [String: String]()),
            ("target_urls: [\" | \", \"|key\"]", [:]),
            ("", ["TARGET_URLS": "|"]),
            ("", ["TARGET_URLS": "http://127.0.0.1:9,|,|k"]),
            // An empty key at the top level was reported with an empty path.
            ("\"\": 1", [:]),
            ("? [a]\n: 1", [:]),
        ])
    func foundByFuzzing(yaml: String, environment: [String: String]) {
        #expect(!check(yaml, environment: environment, case: "regression"))
    }

    /// Loads `text` the way `llm-proxy` does (parse, environment, names, validation) and, when
    /// it is valid, converts its numbers the way the gateway does. Returns whether it loaded.
    @discardableResult
    func check(_ text: String, environment: [String: String], case name: String) -> Bool {
        var (config, problems) = GatewayConfig.parseCollecting(yaml: text)
        do {
            try config.applyEnvironment(environment)
        } catch let error as ConfigError {
            problems += error.problems
        } catch {
            Issue.record("\(name): applyEnvironment threw \(error), not a ConfigError")
        }
        config.assignProviderNames()
        problems += config.validate()
        for problem in problems where problem.path.isEmpty || problem.message.isEmpty {
            Issue.record("\(name): a problem without a key or a message: \(problem)")
        }
        guard problems.isEmpty else { return false }
        _ = config.redactedYAML()
        Self.convertLikeTheGateway(config)
        return true
    }

    /// What the gateway does with the numbers of a valid configuration; each would trap on a
    /// value outside its range.
    static func convertLikeTheGateway(_ config: GatewayConfig) {
        for seconds in [
            config.server.drainTimeout, config.server.requestHeadTimeout, config.server.requestBodyTimeout,
            config.server.keepAliveTimeout, config.upstream.connectTimeout, config.upstream.firstByteTimeout,
            config.upstream.idleTimeout, config.discovery.interval,
        ] + config.providers.map(\.healthCheckInterval) {
            _ = Int64(seconds * 1000)
            _ = Int64(seconds * 1_000_000_000)
            _ = Duration.seconds(seconds)
        }
        _ = Int64(config.admin.sessionHours * 3600 * 1000)
        _ = Int64(config.database.eventRetentionDays * 86_400_000)
        _ = Duration.milliseconds(config.providers.map { $0.mock.chunks * $0.mock.chunkDelayMilliseconds + $0.mock.latencyMilliseconds }.max() ?? 0)
        let total = config.providers.reduce(0.0) { $0 + $1.weight * max(1, $1.apiKeys.reduce(0) { $0 + $1.weight }) }
        #expect(total.isFinite)
        _ = UInt32(config.server.maxRequestSize)
        _ = UInt16(exactly: config.server.port)!
    }

    static let seedFormat = """
        cert_file: "/certs/certificate.pem"
        private_key_file: "/certs/private-key.pem"
        auth_keys:
          - "client-api-key-1"
        health_check_interval: 45
        providers:
          - type: "openai"
            host: "openai.example.com"
            endpoint: "api.openai.com"
            port: 443
            tls: true
            weight: 1.0
            api_key: "sk-your-openai-api-key"
            health_check:
              method: "GET"
              path: "/v1/models"
              headers:
                - "Content-Type: application/json"
          - type: "openai"
            endpoint: "localhost"
            port: 8000
            tls: false
            api_keys:
              - key: "sk-key-1"
                weight: 1
              - key: "sk-key-2"
                weight: 2
        """

    static let everyKey = """
        server: {host: 127.0.0.1, port: 8080, allow_unauthenticated_public_bind: false, max_request_size: 10485760,
                 drain_timeout: 30, public_paths: [/health], auth_health_check: false, response_header_filter: [x-a, "b-*"],
                 metrics: true, request_head_timeout: 10, request_body_timeout: 30, keep_alive_timeout: 75,
                 max_connections: 8192, trusted_proxies: [10.0.0.0/8], public_health_details: false}
        upstream: {connect_timeout: 10, first_byte_timeout: 120, idle_timeout: 60, max_connections_per_host: 256, fast_path: true}
        auth: {keys: [client-key-123456]}
        routing: {aliases: {fast: m1}, default_model: m1, default_provider: demo}
        discovery: {local_engines: false, interval: 30, ollama_url: "http://127.0.0.1:11434", vllm_url: "http://127.0.0.1:8000",
                    lmstudio_url: "http://127.0.0.1:1234", llamacpp_url: "http://127.0.0.1:8080"}
        logging: {format: text, level: debug, requests: true}
        database: {enabled: true, path: ./data/x.sqlite, event_queue_limit: 1000, event_retention_days: 90}
        admin: {enabled: true, allow_cidrs: ["::1/128"], cors_origins: ["https://a.example"], session_hours: 24}
        target_urls: ["http://127.0.0.1:9000|key"]
        providers:
          - {name: demo, type: mock, weight: 2, models: [m1, "gpt-*"], mock: {chunks: 3, chunk_delay_ms: 1, latency_ms: 0}}
          - {name: up, type: openai, base_url: "http://127.0.0.1:9/v1", api_keys: [{key: k1, weight: 1}], auth_keys: [provider-key-1],
             discover_models: false, headers: {X-A: b}, health_check: {method: GET, path: /v1/models}, health_check_interval: 5}
        """
}

/// The schema's keys and values that have broken parsers before, for the generator.
enum ConfigCorpus {
    static let sections: [String: [String]] = [
        "server": [
            "host", "port", "allow_unauthenticated_public_bind", "max_request_size", "drain_timeout", "public_paths",
            "auth_health_check", "response_header_filter", "metrics", "request_head_timeout", "request_body_timeout",
            "keep_alive_timeout", "max_connections", "trusted_proxies", "public_health_details",
        ],
        "upstream": ["connect_timeout", "first_byte_timeout", "idle_timeout", "max_connections_per_host", "ca_file", "fast_path"],
        "auth": ["keys"],
        "routing": ["aliases", "default_model", "default_provider"],
        "discovery": ["local_engines", "interval", "ollama_url", "vllm_url", "lmstudio_url", "llamacpp_url"],
        "logging": ["format", "level", "requests"],
        "database": ["enabled", "path", "url", "event_queue_limit", "event_retention_days"],
        "admin": ["enabled", "allow_cidrs", "cors_origins", "jwt_secret", "username", "password", "session_hours"],
    ]
    // Sorted: a dictionary's order changes from run to run, and the sequence must not.
    static let topLevel = sections.keys.sorted() + ["providers", "target_urls", "auth_keys", "health_check_interval", "cert_file", "private_key_file"]
    static let providerKeys = ProviderConfig.knownKeys.sorted()
    static let nested = [
        "api_keys": ["key", "weight"], "mock": ["chunks", "chunk_delay_ms", "latency_ms"],
        "health_check": ["method", "path", "body", "headers"],
    ]
    static let numbers = [
        "0", "-0", "+0", "1", "-1", "0.1", "1e-320", "1e300", "-1e300", "1e400", "-1e400", ".inf", "-.inf", "+.inf", ".nan", ".NaN",
        "nan", "inf", "infinity", "0x10", "0x", "0o17", "0b101", "0b", "010", "08", "1_000", "_", "99999999999999999999",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "0x7fffffffffffffff",
        "0xffffffffffffffff", "1:30", "1:0:0:0:0:0:0:0:0:0:0:0", "-1:0:0:0:0:0:0:0:0:0:0:0:0:0", "1:-1", "190:20:30.15",
        "1.7976931348623157e308", "4.9e-324", "0x1p3", "65535", "65536", "16", "3600", "86400", "86401", "36500", "8760",
    ]
    static let words = [
        "", "~", "null", "true", "false", "yes", "no", "on", "off", "openai", "anthropic", "gemini", "mock", "azure", "GET", "DELETE",
        "/v1/models", "v1", "json", "text", "xml", "debug", "loud", "127.0.0.1", "0.0.0.0", "::1", "localhost", "10.0.0.0/8",
        "10.0.0.0/33", "::/0", "fe80::1%eth0", "1.2.3.4//5", "http://127.0.0.1:9/v1", "https://[::1]:99999", "http://x:0",
        "mock://local", "ftp://x", "http://u:p@x", "http://x/?q", "postgres://u:p@db:5432/x", "mysql://db", "sha256:" + String(repeating: "a", count: 64),
        "sha256:zz", "client-key-123456", "short", "gpt-*", "*", "[", "]", "{", "}", ",", "#", "&", "*x", "!!str", "!!int 5",
        "!!float .nan", "!!binary AAAA", "!!map {}", "|", ">", "'", "\"", "%YAML 1.1", "---", "...", "? a", "<<: *x",
        "é", "🦙", "\u{202E}gnp.exe", "\u{FEFF}", "\u{200B}", "a\u{0301}\u{0301}\u{0301}", "\u{10FFFF}", "日本語", "X-A: b", "NoColon",
    ]
}

/// Builds YAML documents from the real schema with hostile scalars, both flow and block style,
/// with anchors and aliases, some of them undefined.
struct YAMLGenerator {
    var random: SplitMix64
    var anchors: [String] = []

    mutating func document() -> String {
        var pairs: [(String, String)] = []
        for _ in 0..<random.below(6) + 1 {
            let key = random.chance(1, in: 30) ? scalar() : random.pick(ConfigCorpus.topLevel)
            pairs.append((key, value(for: key, depth: 0)))
        }
        if random.chance(1, in: 3) {
            return pairs.map { "\($0): \($1)" }.joined(separator: "\n") + "\n"
        }
        return "{" + pairs.map { "\($0): \($1)" }.joined(separator: ", ") + "}"
    }

    mutating func value(for key: String, depth: Int) -> String {
        var text: String
        // Shallow and narrow: the schema is at most four levels deep, and a wide tree would
        // spend the time budget in Yams rather than in our reader.
        if depth > 3 || random.chance(1, in: 5) {
            text = random.chance(1, in: 8) && !anchors.isEmpty ? "*" + random.pick(anchors) : scalar()
            if random.chance(1, in: 40) { text = "*undefined" }
            return text
        } else if key == "providers" || key == "api_keys" || random.chance(1, in: 6) {
            let element = key == "providers" ? "provider" : key
            text = "[" + (0..<random.below(3)).map { _ in value(for: element, depth: depth + 1) }.joined(separator: ", ") + "]"
        } else {
            let keys = key == "provider" ? ConfigCorpus.providerKeys : ConfigCorpus.sections[key] ?? ConfigCorpus.nested[key] ?? ConfigCorpus.providerKeys
            var members: [String] = []
            var used = Set<String>()
            for _ in 0..<random.below(5) {
                let name = random.chance(1, in: 25) ? scalar() : random.pick(keys)
                guard used.insert(name).inserted || random.chance(1, in: 10) else { continue }
                members.append("\(name): \(value(for: name, depth: depth + 1))")
            }
            text = "{" + members.joined(separator: ", ") + "}"
        }
        if random.chance(1, in: 10) {
            let anchor = "a\(anchors.count)"
            anchors.append(anchor)
            text = "&\(anchor) " + text
        }
        return text
    }

    mutating func scalar() -> String {
        switch random.below(10) {
        case 0...3: return random.pick(ConfigCorpus.numbers)
        case 4...6: return random.pick(ConfigCorpus.words)
        case 7:
            return "\"" + random.pick(ConfigCorpus.words + ConfigCorpus.numbers).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case 8: return String(random.next() % 100_000)
        default:
            let escapes = ["\\u0000", "\\uD800", "\\U0010FFFF", "\\x41", "\\N", "\\_", "\\0", "\\q", "\\"]
            return "\"" + (0..<random.below(4)).map { _ in random.pick(escapes) }.joined() + "\""
        }
    }

    mutating func environment() -> [String: String] {
        let names = [
            "LLMPROXY_PORT", "LLMPROXY_ADDRESS", "SERVER_ADDRESS", "LLMPROXY_MAX_REQUEST_SIZE", "MAX_REQUEST_SIZE",
            "LLMPROXY_FIRST_BYTE_TIMEOUT", "SERVER_TIMEOUT_SECONDS", "LLMPROXY_CONNECT_TIMEOUT", "LLMPROXY_IDLE_TIMEOUT",
            "LLMPROXY_DRAIN_TIMEOUT", "VLLM_PORT", "VLLM_HOST", "LLAMA_CPP_PORT", "LMSTUDIO_API_HOST", "TARGET_URLS",
            "AUTH_ENABLED", "API_KEYS", "LOG_LEVEL", "LLMPROXY_METRICS", "OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL",
        ]
        var result: [String: String] = [:]
        guard random.chance(1, in: 3) else { return result }
        for _ in 0..<random.below(4) {
            let value = random.chance(1, in: 2) ? random.pick(ConfigCorpus.numbers) : random.pick(ConfigCorpus.words)
            result[random.pick(names)] = random.chance(1, in: 5) ? "127.0.0.1:" + value : value
        }
        return result
    }
}

/// Byte-level edits of a document: flips, cuts, repeats and hostile insertions.
enum Mutator {
    static func mutate(_ text: inout [UInt8], with random: inout SplitMix64) {
        guard !text.isEmpty else {
            text = Array(random.pick(ConfigCorpus.numbers).utf8)
            return
        }
        let at = random.below(text.count)
        switch random.below(7) {
        case 0: text[at] ^= UInt8(truncatingIfNeeded: 1 << random.below(8))
        case 1: text.removeSubrange(at..<min(text.count, at + random.below(16) + 1))
        case 2: text.insert(contentsOf: Array(random.pick(ConfigCorpus.numbers + ConfigCorpus.words).utf8), at: at)
        case 3:
            // Replace the value after a colon with a hostile number.
            if let colon = text[at...].firstIndex(of: UInt8(ascii: ":")) {
                let end = text[colon...].firstIndex { $0 == 0x0A || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "}") } ?? text.count
                text.replaceSubrange((colon + 1)..<end, with: Array((" " + random.pick(ConfigCorpus.numbers)).utf8))
            }
        case 4:
            let length = min(text.count - at, random.below(64) + 1)
            text.insert(contentsOf: Array(text[at..<(at + length)]), at: at)
        case 5: text.insert(contentsOf: Array([" ", "\t", "\n", "  ", "- ", "&a ", "*a ", "? ", "<<: "][random.below(9)].utf8), at: at)
        default: text.insert(UInt8(truncatingIfNeeded: random.next()), at: at)
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast generator whose whole state is one
/// seed, so a failing case is reproduced by its seed and iteration.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(_ count: Int, in total: Int) -> Bool { below(total) < count }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}
