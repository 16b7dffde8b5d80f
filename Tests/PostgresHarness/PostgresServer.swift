import Foundation

/// A throwaway PostgreSQL cluster for tests: `initdb` in a temporary folder, the server on a
/// free port of 127.0.0.1, one fresh database per test. Started once per test process and
/// stopped when the process exits. Needs Debian's `postgresql` package (the test command
/// installs it).
public final class PostgresServer: Sendable {
    public let port: Int
    let folder: String
    let bin: String
    let asUser: String?

    public static let shared: Result<PostgresServer, PostgresServerError> = Result { try PostgresServer() }.mapError {
        $0 as? PostgresServerError ?? PostgresServerError(message: "\($0)")
    }

    /// A cluster of its own (for tests that stop and start the server); most tests share
    /// ``shared``.
    public init() throws {
        guard let bin = Self.findBinaries() else {
            throw PostgresServerError(message: "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install the postgresql package (scripts/test does)")
        }
        self.bin = bin
        // initdb refuses to run as root: run the cluster as the postgres user then.
        self.asUser = getuid() == 0 ? "postgres" : nil
        folder = NSTemporaryDirectory() + "llmproxy-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if asUser != nil { try Self.run("/usr/bin/chown", ["-R", "postgres:postgres", folder]) }
        port = Self.freePort()
        try runAsOwner("\(bin)/initdb", ["-D", "\(folder)/data", "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        try runAsOwner(
            "\(bin)/pg_ctl",
            [
                "-D", "\(folder)/data", "-l", "\(folder)/server.log", "-w", "-t", "60", "-o",
                "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start",
            ])
        PostgresServer.register(self)
    }

    /// Every cluster started by this process, stopped when it exits.
    nonisolated(unsafe) static var running: [PostgresServer] = []
    static let registration = NSLock()

    static func register(_ server: PostgresServer) {
        registration.lock()
        defer { registration.unlock() }
        if running.isEmpty { atexit { PostgresServer.stopAll() } }
        running.append(server)
    }

    static func stopAll() {
        registration.lock()
        defer { registration.unlock() }
        for server in running { try? server.stopServer() }
        running.removeAll()
    }

    /// A new, empty database; returns its URL.
    public func createDatabase() throws -> String {
        let name = "t_\(UInt64.random(in: 0...UInt64.max))"
        try runAsOwner("\(bin)/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name])
        return url(database: name)
    }

    public func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable" }

    /// Stops the server at once (a database outage), or starts it again on the same port.
    public func stopServer() throws {
        try runAsOwner("\(bin)/pg_ctl", ["-D", "\(folder)/data", "-m", "immediate", "-w", "stop"])
    }

    public func startServer() throws {
        try runAsOwner(
            "\(bin)/pg_ctl",
            [
                "-D", "\(folder)/data", "-l", "\(folder)/server.log", "-w", "-t", "60", "-o",
                "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start",
            ])
    }

    private func runAsOwner(_ tool: String, _ arguments: [String]) throws {
        if let asUser {
            try Self.run("/usr/sbin/runuser", ["-u", asUser, "--", tool] + arguments)
        } else {
            try Self.run(tool, arguments)
        }
    }

    /// `work` on a thread of its own, for async code: a tool that runs for seconds (initdb,
    /// pg_ctl, an SDK script) must not hold one of the cooperative pool's threads (two on a
    /// 2-core machine), or every other test's tasks, mock upstreams and clocks stall behind it.
    public static func aside<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let outcome: Result<T, any Error> = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Result { try work() }) }.start()
        }
        return try outcome.get()
    }

    /// ``run(_:_:)`` aside (see ``aside(_:)``).
    public static func runAside(_ tool: String, _ arguments: [String]) async throws {
        try await aside { try run(tool, arguments) }
    }

    /// A new database on the shared cluster (started on first use), aside.
    public static func sharedDatabase() async throws -> String {
        try await aside { try shared.get().createDatabase() }
    }

    /// Runs a tool to completion with posix_spawn and waitpid (Foundation's `Process` can
    /// miss the exit of a child whose own children live on, as `pg_ctl start`'s server does).
    /// Output goes to a file, never a pipe the server would hold open.
    public static func run(_ tool: String, _ arguments: [String]) throws {
        let outputPath = NSTemporaryDirectory() + "llmproxy-pg-out-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard spawned == 0 else { throw PostgresServerError(message: "cannot start \(tool): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw PostgresServerError(message: "\(tool) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
    }

    static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(root)/\($0)/bin" }.first { FileManager.default.fileExists(atPath: "\($0)/initdb") }
    }

    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct PostgresServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
