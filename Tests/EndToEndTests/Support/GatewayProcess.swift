import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The real `llm-proxy` binary run as a child process, for what only a process can show:
/// signals (SIGHUP reload, SIGTERM drain) and the exit status.
final class GatewayProcess: Sendable {
    let process: Process
    let port: Int
    /// The HTTPS listener's port, in a TLS mode.
    let httpsPort: Int?
    private let output: SharedText
    /// The folder of the SQLite file made for this process (nil when the test named a
    /// database), removed once the process is gone.
    private let scratch: String?

    var log: String { output.value }

    private init(process: Process, port: Int, httpsPort: Int?, output: SharedText, scratch: String?) {
        self.process = process
        self.port = port
        self.httpsPort = httpsPort
        self.output = output
        self.scratch = scratch
    }

    /// A test that throws between launch and `stop()` must not leave the gateway running
    /// (it would hold a port and a core for the rest of the run).
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
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

    /// Starts `llm-proxy start -c config --port 0` (with `arguments` after) and waits for its
    /// "listening" line — and, when `tls`, for the HTTPS listener's too.
    static func launch(config: String, arguments: [String] = [], tls: Bool = false, environment: [String: String] = [:]) async throws -> GatewayProcess {
        try await launch(command: ["start", "-c", config, "--port", "0", "--host", "127.0.0.1"] + arguments, config: config, tls: tls, environment: environment)
    }

    /// Starts `llm-proxy` with `command` and waits for the log line announcing
    /// `"address":"<scheme>://127.0.0.1:<port>"` (`tcp` for the tunnel server).
    static func launch(
        command: [String], config: String?, scheme: String = "http", tls: Bool = false, environment: [String: String] = [:]
    ) async throws -> GatewayProcess {
        let process = Process()
        process.executableURL = binary
        process.arguments = command
        var env = ["PATH": "/usr/bin:/bin", "LLMPROXY_DISCOVERY": "false"]
        // Each process gets its own SQLite file unless its configuration names a database.
        var scratch: String?
        if let config, !((try? String(contentsOfFile: config, encoding: .utf8))?.contains("database:") ?? false),
            environment["LLMPROXY_DATABASE_PATH"] == nil
        {
            let folder = NSTemporaryDirectory() + "llmproxy-test-\(UUID().uuidString)"
            env["LLMPROXY_DATABASE_PATH"] = folder + "/llmproxy.sqlite"
            scratch = folder
        }
        env.merge(environment) { _, new in new }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = SharedText()
        try process.run()
        // Blocking reads on a thread of its own until end of file, not a `readabilityHandler`:
        // that installs a libdispatch read source, and tearing such sources down while other
        // tests set theirs up corrupts libdispatch's epoll bookkeeping on Linux — the test
        // process then dies of SIGSEGV in `_dispatch_event_loop_drain`
        // (swift-corelibs-libdispatch issue 949; it did, once, in CI).
        let reading = pipe.fileHandleForReading
        Thread {
            while true {
                let data = reading.availableData
                if data.isEmpty { break }
                output.append(String(decoding: data, as: UTF8.self))
            }
        }.start()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = output.value
            func port(after marker: String) -> Int? {
                guard let range = text.range(of: marker) else { return nil }
                return Int(text[range.upperBound...].prefix { $0.isNumber })
            }
            if let plain = port(after: "\"address\":\"\(scheme)://127.0.0.1:") {
                if !tls { return GatewayProcess(process: process, port: plain, httpsPort: nil, output: output, scratch: scratch) }
                if let secure = port(after: #""address":"https://127.0.0.1:"#) {
                    return GatewayProcess(process: process, port: plain, httpsPort: secure, output: output, scratch: scratch)
                }
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
        throw LaunchError(output: output.value)
    }

    struct LaunchError: Error, CustomStringConvertible {
        var output: String
        var description: String { "llm-proxy did not start listening; its output:\n\(output)" }
    }

    var isRunning: Bool { process.isRunning }

    /// Whether a TCP connect to the gateway's port is refused now (its listener is closed).
    var refusesConnections: Bool {
        guard let connection = try? RawConnection(port: port) else { return true }
        connection.closeConnection()
        return false
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 20 s).
    func stop() async {
        signal(SIGTERM)
        _ = await waitForExit(timeout: .seconds(20))
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

/// A plain TCP connection for what HTTP clients cannot do on purpose: pipelining, exact
/// bytes, hostile input. Blocking calls with send and receive timeouts, so a hung server
/// fails the test instead of hanging it.
struct RawConnection: Sendable {
    let fd: Int32

    init(port: Int, timeout: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    @discardableResult
    func send(_ text: String) -> Int { send(Array(text.utf8)) }

    /// Sends all of `bytes` unless the peer goes away (no SIGPIPE); returns how many went.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return offset }
            offset += sent
        }
        return offset
    }

    /// Everything the server sends until it closes the connection (or the receive timeout),
    /// read on a thread of its own: a blocking read must not hold one of the few threads
    /// the in-process gateway and mock upstreams run their tasks on.
    func readToEnd() async -> String {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: readUntil(nil)) }.start()
        }
    }

    /// Everything until the peer closes (or the receive timeout passes), on this thread.
    func readUntilClosed() -> String { readUntil(nil) }

    /// Everything until `marker` has been read, the peer closes, or the timeout passes.
    func readUntil(_ marker: String?) -> String {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
            if let marker, String(decoding: data, as: UTF8.self).contains(marker) { break }
        }
        return String(decoding: data, as: UTF8.self)
    }

    func closeConnection() { close(fd) }
}
