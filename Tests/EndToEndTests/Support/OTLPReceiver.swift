import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The OTLP/HTTP receiver of `Tests/Telemetry/otlp_receiver.py` (the `opentelemetry-proto`
/// package decodes what the gateway exports), run as a child process on a port of its own
/// choosing.
final class OTLPReceiver: Sendable {
    let process: Process
    let port: Int

    var endpoint: String { "http://127.0.0.1:\(port)" }

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    deinit { stop() }

    static func start() async throws -> OTLPReceiver {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("Telemetry/otlp_receiver.py").path
        let portFile = NSTemporaryDirectory() + "llmproxy-otlp-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: portFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, portFile]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                return OTLPReceiver(process: process, port: port)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw ReceiverError(description: "the OTLP receiver did not start (is opentelemetry-proto installed?): \(said)")
    }

    struct ReceiverError: Error, CustomStringConvertible {
        var description: String
    }

    /// What it received so far: the spans and the raw bodies of the exports.
    func received() async throws -> (spans: [Span], bodies: [Data]) {
        let answer = try await TestHTTP.send(.GET, endpoint + "/spans")
        let spans = (answer.json["spans"] as? [[String: Any]] ?? []).map(Span.init)
        let bodies = (answer.json["posts"] as? [[String: Any]] ?? []).compactMap { ($0["body"] as? String).flatMap { Data(base64Encoded: $0) } }
        return (spans, bodies)
    }

    /// Waits until `enough` holds of the spans received (exports come in batches).
    func spans(within limit: Duration = .seconds(20), until enough: ([Span]) -> Bool) async throws -> (spans: [Span], bodies: [Data]) {
        let deadline = ContinuousClock.now + limit
        while true {
            let got = try await received()
            if enough(got.spans) || ContinuousClock.now > deadline { return got }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// One span as the receiver decoded it.
    struct Span: @unchecked Sendable {
        let traceID: String
        let spanID: String
        let parentSpanID: String
        let name: String
        /// OTLP's numbers: 2 server, 3 client.
        let kind: Int
        let attributes: [String: Any]
        /// 0 unset, 1 ok, 2 error.
        let statusCode: Int
        let resource: [String: Any]

        init(_ json: [String: Any]) {
            traceID = json["trace_id"] as? String ?? ""
            spanID = json["span_id"] as? String ?? ""
            parentSpanID = json["parent_span_id"] as? String ?? ""
            name = json["name"] as? String ?? ""
            kind = json["kind"] as? Int ?? 0
            attributes = json["attributes"] as? [String: Any] ?? [:]
            statusCode = (json["status"] as? [String: Any])?["code"] as? Int ?? 0
            resource = json["resource"] as? [String: Any] ?? [:]
        }

        func string(_ key: String) -> String? { attributes[key] as? String }
        func int(_ key: String) -> Int? { attributes[key] as? Int }
    }
}
