import Foundation
import Logging
import OTel
import ProxyConfig
import ProxyCore
import ServiceLifecycle
import Store
import Synchronization
import Telemetry

/// Builds the OpenTelemetry tracing backend from `tracing`: swift-otel's tracer with its batch
/// processor and OTLP/HTTP exporter, handed to the engine as a ``RequestTracer``. Only the
/// trace signal: metrics stay Prometheus and logs stay ours. The SDK also reads the standard
/// `OTEL_*` variables; the configuration took the same ones, so the two agree.
enum TracingSetup {
    static func make(_ tracing: TracingConfig, version: String) throws -> (tracer: any RequestTracer, service: any Service) {
        var otel = OTel.Configuration.default
        otel.serviceName = tracing.serviceName
        otel.resourceAttributes = ["service.version": version]
        otel.diagnosticLogger = .custom(Logger(label: "llmproxy.otel") { label in QuietOTelLog(inner: Logger(label: label).handler) })
        otel.diagnosticLogLevel = .warning
        otel.propagators = [.traceContext]
        otel.metrics.enabled = false
        otel.logs.enabled = false
        otel.traces.enabled = true
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.endpoint = tracing.tracesURL
        otel.traces.otlpExporter.protocol = tracing.wireProtocol == .json ? .httpJSON : .httpProtobuf
        otel.traces.batchSpanProcessor.scheduleDelay = .milliseconds(Int64(tracing.exportInterval * 1000))
        otel.traces.batchSpanProcessor.maxQueueSize = tracing.queueSize
        otel.traces.batchSpanProcessor.maxExportBatchSize = min(512, tracing.queueSize)
        otel.traces.sampler = sampler(tracing)
        // A final export at shutdown must fit in the drain, and a slow collector must not
        // hold a batch for long.
        otel.traces.otlpExporter.timeout = .seconds(5)
        otel.traces.batchSpanProcessor.exportTimeout = .seconds(5)
        // The SDK traps on any propagator but W3C trace context (`OTEL_PROPAGATORS=
        // tracecontext,baggage` is a common default): the configuration warned; the SDK sees
        // only what it supports. Set before the SDK reads it, while the process starts.
        if let propagators = ProcessInfo.processInfo.environment["OTEL_PROPAGATORS"],
            propagators.split(separator: ",").contains(where: { !["tracecontext", "none"].contains($0.trimmingCharacters(in: .whitespaces).lowercased()) })
        {
            setenv("OTEL_PROPAGATORS", "tracecontext", 1)
        }
        do {
            let backend = try OTel.makeTracingBackend(configuration: otel)
            let tracer = SpanTracer(backend.factory)
            kept.withLock { $0.append(tracer) }
            return (tracer, OffTheLoops(service: backend.service))
        } catch {
            throw ConfigError([ConfigProblem(path: "tracing", message: "the OpenTelemetry exporter could not be set up: \(error)")])
        }
    }

    /// The SDK's diagnostic log, kept quiet: never below warning (`OTEL_LOG_LEVEL` would lower
    /// it, and at info the SDK logs every `OTEL_*` variable it applies, the collector's
    /// credentials in `OTEL_EXPORTER_OTLP_HEADERS` among them), and never a variable's value.
    struct QuietOTelLog: LogHandler {
        var inner: any LogHandler

        var logLevel: Logger.Level {
            get { max(inner.logLevel, .warning) }
            set { inner.logLevel = max(newValue, .warning) }
        }
        var metadata: Logger.Metadata {
            get { inner.metadata }
            set { inner.metadata = newValue }
        }
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { inner[metadataKey: key] }
            set { inner[metadataKey: key] = Self.hidden.contains(key) ? nil : newValue }
        }
        static let hidden: Set<String> = ["environment_value", "previous_value", "new_value"]

        func log(event: LogEvent) {
            guard event.level >= .warning else { return }
            var event = event
            if let metadata = event.metadata { event.metadata = metadata.filter { !Self.hidden.contains($0.key) } }
            inner.log(event: event)
        }
    }

    /// Every tracer made, held to the end of the process: swift-otel's exporter shuts its
    /// HTTP client down synchronously when it is released, which traps on an event loop
    /// thread — and the engine's last reference may well go on one. One per start, so this
    /// holds one in the binary.
    private static let kept = Mutex<[any RequestTracer]>([])

    /// The SDK's work — its tracer's event loop, the batch processor, encoding each batch to
    /// protobuf — on a thread of its own. The gateway runs Swift concurrency on its event
    /// loops, so without this a batch of 512 spans was encoded on the loop serving requests
    /// (at 100 % sampling a request at one connection took three times as long). Normal
    /// priority, not the analytics writer's lower one: the SDK's queues between the tracer and
    /// the batch processor are not bounded, so it must keep up.
    struct OffTheLoops: Service {
        let service: any Service
        static let executor = BackgroundExecutor(name: "llmproxy-otel", nice: 0)

        func run() async throws {
            try await withTaskExecutorPreference(Self.executor) { try await service.run() }
        }
    }

    static func sampler(_ tracing: TracingConfig) -> OTel.Configuration.TracesConfiguration.SamplerConfiguration {
        switch (tracing.parentBased, tracing.sampleRatio) {
        case (true, 1): return .parentBasedAlwaysOn
        case (true, 0): return .parentBasedAlwaysOff
        case (false, 1): return .alwaysOn
        case (false, 0): return .alwaysOff
        case (true, let ratio): return .parentBasedTraceIDRatio(ratio: ratio) ?? .parentBasedAlwaysOn
        case (false, let ratio): return .traceIDRatio(ratio: ratio) ?? .alwaysOn
        }
    }
}
