import Foundation
import Synchronization

/// The real `llm-proxy` binary run as a child process, for what only a process can show:
/// signals (SIGHUP reload, SIGTERM drain) and the exit status.
final class GatewayProcess: Sendable {
    let process: Process
    let port: Int
    private let output: SharedText

    var log: String { output.value }

    private init(process: Process, port: Int, output: SharedText) {
        self.process = process
        self.port = port
        self.output = output
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// The binary built beside the test bundle (`swift build` puts both in one folder).
    static var binary: URL {
        if let explicit = ProcessInfo.processInfo.environment["LLMPROXY_BINARY"] { return URL(fileURLWithPath: explicit) }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("llm-proxy")
        if FileManager.default.fileExists(atPath: beside.path) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/llm-proxy")
    }

    /// Starts `llm-proxy start -c config --port 0` and waits for its "listening" line.
    static func launch(config: String, environment: [String: String] = [:]) async throws -> GatewayProcess {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["start", "-c", config, "--port", "0", "--host", "127.0.0.1"]
        var env = ["PATH": "/usr/bin:/bin", "LLMPROXY_DISCOVERY": "false"]
        env.merge(environment) { _, new in new }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = SharedText()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }
            output.append(String(decoding: data, as: UTF8.self))
        }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = output.value
            if let range = text.range(of: #""address":"http://127.0.0.1:"#) {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return GatewayProcess(process: process, port: port, output: output) }
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw LaunchError(output: output.value)
    }

    struct LaunchError: Error, CustomStringConvertible {
        var output: String
        var description: String { "llm-proxy did not start listening; its output:\n\(output)" }
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit; kills it (and returns nil) if it has not by `timeout`.
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }
}

/// A temporary file holding `text`, removed by `remove()`.
struct TempFile {
    let path: String

    init(_ text: String, suffix: String = ".yaml") throws {
        path = NSTemporaryDirectory() + "llmproxy-test-\(UUID().uuidString)\(suffix)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func replace(with text: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Text appended from one thread and read from others.
final class SharedText: Sendable {
    private let text = Mutex("")
    var value: String { text.withLock { $0 } }
    func append(_ more: String) { text.withLock { $0 += more } }
}
