import Testing

@testable import ProxyConfig

@Suite("Tracing configuration")
struct TracingConfigTests {
    func config(_ yaml: String = "", _ environment: [String: String] = [:]) throws -> GatewayConfig {
        var config = try GatewayConfig.parse(yaml: yaml)
        try config.applyEnvironment(environment)
        return config
    }

    @Test("off unless configured; the section reads, round-trips through the effective YAML, and posts to {endpoint}/v1/traces")
    func section() throws {
        #expect(try config().tracing.enabled == false)
        #expect(try config().redactedYAML().contains("tracing") == false)
        let traced = try config(
            """
            tracing: {enabled: true, endpoint: "http://collector:4318/", sample_ratio: 0.01, service_name: edge-1, protocol: http/json, export_interval: 1, queue_size: 4096}
            """)
        #expect(traced.tracing.enabled)
        #expect(traced.tracing.tracesURL == "http://collector:4318/v1/traces")
        #expect(traced.tracing.sampleRatio == 0.01 && traced.tracing.samplerName == "parentbased_traceidratio")
        #expect(traced.tracing.wireProtocol == .json && traced.tracing.serviceName == "edge-1" && traced.tracing.queueSize == 4096)
        #expect(traced.validate().isEmpty)
        #expect(try GatewayConfig.parse(yaml: traced.redactedYAML()).tracing == traced.tracing)
        #expect(try config("tracing: {enabled: true, traces_endpoint: \"https://otel.example.com/custom\"}").tracing.tracesURL == "https://otel.example.com/custom")
    }

    @Test("the standard OTEL_* variables and the edge seed's ENABLE_TRACING / OTLP_ENDPOINT; an endpoint turns tracing on, a variable may turn it off")
    func environment() throws {
        let otel = try config(
            "", ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SERVICE_NAME": "gw", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"])
        #expect(otel.tracing.enabled && otel.tracing.tracesURL == "http://127.0.0.1:4318/v1/traces" && otel.tracing.serviceName == "gw")
        #expect(otel.tracing.sampleRatio == 0.25 && !otel.tracing.parentBased)
        let signal = try config("", ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"])
        #expect(signal.tracing.enabled && signal.tracing.tracesURL == "http://c:4318/v1/traces" && signal.tracing.wireProtocol == .json)
        let edge = try config("", ["ENABLE_TRACING": "true", "OTLP_ENDPOINT": "http://jaeger:4318"])
        #expect(edge.tracing.enabled && edge.tracing.endpoint == "http://jaeger:4318")
        #expect(try config("", ["OTLP_ENDPOINT": "http://jaeger:4318", "ENABLE_TRACING": "false"]).tracing.enabled == false)
        #expect(try config("tracing: {enabled: true}", ["OTEL_SDK_DISABLED": "true"]).tracing.enabled == false)
        #expect(try config("tracing: {enabled: true}", ["OTEL_TRACES_EXPORTER": "none"]).tracing.enabled == false)
        #expect(try config("", ["OTEL_TRACES_SAMPLER": "parentbased_always_off"]).tracing.sampleRatio == 0)
        // Empty means unset, as for every other variable.
        #expect(try config("tracing: {enabled: true}", ["OTEL_SDK_DISABLED": "", "ENABLE_TRACING": "", "LLMPROXY_TRACING": ""]).tracing.enabled)
        // What the SDK reads as well, taken the same way: its traces URL, a lone sampler argument, the batch variables.
        let general = try config("tracing: {traces_endpoint: \"http://a:4318/x\"}", ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318"])
        #expect(general.tracing.tracesURL == "http://b:4318/v1/traces")
        #expect(try config("tracing: {sample_ratio: 0.1}", ["OTEL_TRACES_SAMPLER_ARG": "0.3"]).tracing.sampleRatio == 0.3)
        let batch = try config("", ["OTEL_BSP_SCHEDULE_DELAY": "250", "OTEL_BSP_MAX_QUEUE_SIZE": "512"])
        #expect(batch.tracing.exportInterval == 0.25 && batch.tracing.queueSize == 512)
        let propagators = try config("", ["OTEL_PROPAGATORS": "tracecontext,baggage"])
        #expect(propagators.warnings.contains { $0.contains("OTEL_PROPAGATORS") && $0.contains("baggage") }, "\(propagators.warnings)")
    }

    @Test("problems name the key or the variable and what it may be")
    func problems() {
        let found = configProblems(
            """
            tracing: {enabled: true, endpoint: "collector:4318", sample_ratio: 1.5, service_name: "", export_interval: 0, queue_size: 1}
            """
        ).joined(separator: "\n")
        for key in ["tracing.endpoint", "tracing.sample_ratio", "tracing.service_name", "tracing.export_interval", "tracing.queue_size"] {
            #expect(found.contains(key), "\(key) not named in \(found)")
        }
        let batch = configProblems("", environment: ["OTEL_BSP_SCHEDULE_DELAY": "0", "OTEL_BSP_MAX_QUEUE_SIZE": "99999999999"]).joined(separator: "\n")
        #expect(batch.contains("tracing.export_interval") && batch.contains("tracing.queue_size"), "\(batch)")
        for url in ["http://c:4318/?x=1", "http://c:4318/#f", "http://c:4318/\tx"] {
            #expect(configProblems("tracing: {endpoint: \"\(url)\"}").joined().contains("tracing.endpoint"), "\(url)")
        }
        let unread = configProblems("tracing: {protocol: grpc, sampler: on}").joined(separator: "\n")
        #expect(unread.contains("tracing.sampler is not a known key"), "\(unread)")
        #expect(unread.contains("tracing.protocol") && unread.contains("OTLP over gRPC is not part of this build"), "\(unread)")
        let variables = configProblems(
            "",
            environment: [
                "OTEL_TRACES_SAMPLER": "sometimes", "OTEL_TRACES_SAMPLER_ARG": "2", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_EXPORTER": "zipkin",
                "ENABLE_TRACING": "maybe",
            ]
        ).joined(separator: "\n")
        for name in ["$OTEL_TRACES_SAMPLER must", "$OTEL_TRACES_SAMPLER_ARG", "$OTEL_EXPORTER_OTLP_PROTOCOL", "$OTEL_TRACES_EXPORTER", "$ENABLE_TRACING"] {
            #expect(variables.contains(name), "\(name) not named in \(variables)")
        }
    }
}
