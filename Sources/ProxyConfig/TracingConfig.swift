import Yams

/// `tracing:` — OpenTelemetry traces, sent over OTLP/HTTP to a collector. Off unless
/// configured: here, or by the standard `OTEL_*` variables (an OTLP endpoint turns it on), or
/// by the edge seed's `ENABLE_TRACING` and `OTLP_ENDPOINT`. Read once at start: a reload that
/// changes it takes effect at the next restart.
package struct TracingConfig: Sendable, Equatable {
    /// How spans are encoded on the wire.
    package enum WireProtocol: String, Sendable, Equatable, CaseIterable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    package var enabled = false
    /// The collector's OTLP/HTTP base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` gives it: spans go
    /// to its `/v1/traces`. Default `http://127.0.0.1:4318`.
    package var endpoint = "http://127.0.0.1:4318"
    /// The full URL spans are posted to, used as it is (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`);
    /// nil: ``endpoint`` + `/v1/traces`.
    package var tracesEndpoint: String?
    /// The share of requests traced when the client sent no sampling decision, 0 to 1. Default 1.
    package var sampleRatio = 1.0
    /// Follow the client's decision when its `traceparent` carries one (sampled or not), as a
    /// service inside someone else's trace should. Default true.
    package var parentBased = true
    /// `service.name` of the spans. Default `llm-proxy`.
    package var serviceName = "llm-proxy"
    package var wireProtocol = WireProtocol.protobuf
    /// Seconds between batch exports. Default 5.
    package var exportInterval = 5.0
    /// Spans held for export at most; past it new spans are dropped (and counted). Default 2048.
    package var queueSize = 2048

    package init() {}

    /// Where spans are posted.
    package var tracesURL: String {
        if let tracesEndpoint { return tracesEndpoint }
        var base = Substring(endpoint)
        while base.hasSuffix("/") { base = base.dropLast() }
        return base + "/v1/traces"
    }

    /// The sampler's name in the OpenTelemetry spelling (`OTEL_TRACES_SAMPLER`).
    package var samplerName: String {
        switch (parentBased, sampleRatio) {
        case (true, 1): "parentbased_always_on"
        case (true, 0): "parentbased_always_off"
        case (true, _): "parentbased_traceidratio"
        case (false, 1): "always_on"
        case (false, 0): "always_off"
        case (false, _): "traceidratio"
        }
    }
}

extension TracingConfig {
    static let knownKeys: Set<String> = [
        "enabled", "endpoint", "traces_endpoint", "sample_ratio", "parent_based", "service_name", "protocol", "export_interval", "queue_size",
    ]

    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: Self.knownKeys)
        enabled = reader.bool(map["enabled"], at: "\(path).enabled") ?? enabled
        endpoint = reader.string(map["endpoint"], at: "\(path).endpoint") ?? endpoint
        tracesEndpoint = reader.string(map["traces_endpoint"], at: "\(path).traces_endpoint") ?? tracesEndpoint
        sampleRatio = reader.double(map["sample_ratio"], at: "\(path).sample_ratio") ?? sampleRatio
        parentBased = reader.bool(map["parent_based"], at: "\(path).parent_based") ?? parentBased
        serviceName = reader.string(map["service_name"], at: "\(path).service_name") ?? serviceName
        exportInterval = reader.double(map["export_interval"], at: "\(path).export_interval") ?? exportInterval
        queueSize = reader.int(map["queue_size"], at: "\(path).queue_size") ?? queueSize
        if let value = reader.string(map["protocol"], at: "\(path).protocol") {
            if let parsed = WireProtocol(rawValue: value.lowercased()) {
                wireProtocol = parsed
            } else {
                reader.problem("\(path).protocol", Self.protocolMessage(got: value))
            }
        }
    }

    static func protocolMessage(got value: String) -> String {
        "must be http/protobuf or http/json (OTLP over gRPC is not part of this build; collectors take OTLP/HTTP on port 4318) (got \"\(value)\")"
    }

    /// Takes the OpenTelemetry variables (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`,
    /// `OTEL_SERVICE_NAME`) and the edge seed's (`ENABLE_TRACING`, `OTLP_ENDPOINT`). An endpoint
    /// turns tracing on unless a variable turns it off.
    mutating func apply(_ env: [String: String], flag: (String) -> Bool?, problem: (String, String) -> Void, warn: (String) -> Void = { _ in }) {
        // An empty variable is an unset one, as everywhere else in the configuration.
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let base = value("OTEL_EXPORTER_OTLP_ENDPOINT") ?? value("LLMPROXY_OTLP_ENDPOINT") ?? value("OTLP_ENDPOINT") {
            endpoint = base
            // The SDK derives the traces URL from the general variable over a configured one.
            if value("OTEL_EXPORTER_OTLP_ENDPOINT") != nil { tracesEndpoint = nil }
            enabled = true
        }
        if let traces = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            tracesEndpoint = traces
            enabled = true
        }
        if let name = value("OTEL_SERVICE_NAME") { serviceName = name }
        if let wire = value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? value("OTEL_EXPORTER_OTLP_PROTOCOL") {
            if let parsed = WireProtocol(rawValue: wire.lowercased()) {
                wireProtocol = parsed
            } else {
                problem(env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] != nil ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL", Self.protocolMessage(got: wire))
            }
        }
        if let sampler = value("OTEL_TRACES_SAMPLER") {
            let argument = value("OTEL_TRACES_SAMPLER_ARG")
            let ratio = argument.flatMap { Double($0.trimmingSpaces()) }
            if argument != nil, ratio == nil || !(0...1).contains(ratio!) {
                problem("OTEL_TRACES_SAMPLER_ARG", "must be a number from 0 to 1 (got \"\(argument!)\")")
            }
            switch sampler.lowercased().trimmingSpaces() {
            case "always_on": (parentBased, sampleRatio) = (false, 1)
            case "always_off": (parentBased, sampleRatio) = (false, 0)
            case "traceidratio": (parentBased, sampleRatio) = (false, ratio ?? 1)
            case "parentbased_always_on": (parentBased, sampleRatio) = (true, 1)
            case "parentbased_always_off": (parentBased, sampleRatio) = (true, 0)
            case "parentbased_traceidratio": (parentBased, sampleRatio) = (true, ratio ?? 1)
            default:
                problem(
                    "OTEL_TRACES_SAMPLER",
                    "must be always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio (got \"\(sampler)\")")
            }
        }
        if value("OTEL_TRACES_SAMPLER") == nil, let argument = value("OTEL_TRACES_SAMPLER_ARG"), sampleRatio > 0, sampleRatio < 1 {
            // The SDK applies a lone argument to a ratio sampler configured here.
            if let ratio = Double(argument.trimmingSpaces()), (0...1).contains(ratio) {
                sampleRatio = ratio
            } else {
                problem("OTEL_TRACES_SAMPLER_ARG", "must be a number from 0 to 1 (got \"\(argument)\")")
            }
        }
        // The batch processor's variables, read by the SDK too: checked here with the same ranges.
        if let delay = value("OTEL_BSP_SCHEDULE_DELAY") {
            if let ms = Double(delay.trimmingSpaces()), ms.isFinite {
                exportInterval = ms / 1000
            } else {
                problem("OTEL_BSP_SCHEDULE_DELAY", "must be milliseconds (got \"\(delay)\")")
            }
        }
        if let size = value("OTEL_BSP_MAX_QUEUE_SIZE") {
            if let spans = Int(size.trimmingSpaces()) { queueSize = spans } else { problem("OTEL_BSP_MAX_QUEUE_SIZE", "must be a whole number of spans (got \"\(size)\")") }
        }
        if let propagators = value("OTEL_PROPAGATORS") {
            let names = propagators.split(separator: ",").map { String($0).trimmingSpaces().lowercased() }
            let unsupported = names.filter { $0 != "tracecontext" && $0 != "none" }
            if !unsupported.isEmpty {
                warn("$OTEL_PROPAGATORS: only tracecontext (W3C traceparent) is propagated by this build; \(unsupported.joined(separator: ", ")) ignored")
            }
        }
        for name in ["LLMPROXY_TRACING", "ENABLE_TRACING"] {
            if value(name) != nil, let on = flag(name) { enabled = on }
        }
        if let exporter = value("OTEL_TRACES_EXPORTER") {
            switch exporter.lowercased() {
            case "none": enabled = false
            case "otlp": break
            default: problem("OTEL_TRACES_EXPORTER", "must be otlp or none (got \"\(exporter)\")")
            }
        }
        if value("OTEL_SDK_DISABLED") != nil, flag("OTEL_SDK_DISABLED") == true { enabled = false }
    }

    /// The problems of the section, each naming its key and what it may be.
    func problems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        for (key, url) in [("tracing.endpoint", endpoint), ("tracing.traces_endpoint", tracesEndpoint)] {
            guard let url else { continue }
            let lower = url.lowercased()
            let rest = lower.hasPrefix("http://") ? lower.dropFirst(7) : lower.hasPrefix("https://") ? lower.dropFirst(8) : nil
            let host = rest.map { $0.prefix { $0 != "/" && $0 != "?" && $0 != "#" } }
            let hostile = url.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F || $0 == "?" || $0 == "#" }
            if host == nil || host!.isEmpty || hostile || url.utf8.count > 2048 {
                problems.append(
                    ConfigProblem(path: key, message: "must be an http:// or https:// URL of the collector, for example http://127.0.0.1:4318 (got \"\(url)\")"))
            }
        }
        if !(0...1).contains(sampleRatio) {
            problems.append(ConfigProblem(path: "tracing.sample_ratio", message: "must be from 0 to 1, the share of requests traced (got \(sampleRatio))"))
        }
        if serviceName.isEmpty || serviceName.utf8.count > 255 || serviceName.contains(where: \.isNewline) {
            problems.append(ConfigProblem(path: "tracing.service_name", message: "must be 1 to 255 characters on one line"))
        }
        if !(0.1...600).contains(exportInterval) {
            problems.append(ConfigProblem(path: "tracing.export_interval", message: "must be from 0.1 to 600 seconds (got \(exportInterval))"))
        }
        if !(16...1_000_000).contains(queueSize) {
            problems.append(ConfigProblem(path: "tracing.queue_size", message: "must be from 16 to 1000000 spans (got \(queueSize))"))
        }
        return problems
    }
}
