import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import SQLKit
import SQLiteKit

#if canImport(Glibc)
    import Glibc
#endif

/// The gateway's persistent state — managed keys, request events, settings — behind one
/// repository layer over sql-kit: an embedded SQLite file by default, PostgreSQL when several
/// instances share state. Nothing on the request path calls it: callers keep caches and
/// queue writes (see the key index and the event recorder).
package final class Store: Sendable {
    package enum Kind: String, Sendable { case sqlite, postgres }

    package let kind: Kind
    let backend: Backend
    /// What to close at shutdown.
    private let closer: @Sendable () async -> Void

    enum Backend: Sendable {
        /// One SQLite connection: SQLite serialises writers anyway. The connection itself
        /// is kept beside its SQLKit face for the statements that bind values directly.
        case sqlite(any SQLDatabase, SQLiteConnection)
        /// PostgresNIO's connection pool.
        case postgres(PostgresClient)
    }

    /// The PostgreSQL channel key changes are announced on.
    package static let keyChannel = "llmproxy_keys"

    private init(backend: Backend, closer: @escaping @Sendable () async -> Void) {
        switch backend {
        case .sqlite: kind = .sqlite
        case .postgres: kind = .postgres
        }
        self.backend = backend
        self.closer = closer
    }

    /// Runs `body` with a database handle (a pooled connection for PostgreSQL).
    func withDatabase<R: Sendable>(_ body: (any SQLDatabase) async throws -> R) async throws -> R {
        switch backend {
        case .sqlite(let database, _): return try await body(database)
        case .postgres(let client): return try await client.withConnection { try await body($0.sql(queryLogLevel: nil)) }
        }
    }

    func run(_ query: SQLQueryString) async throws {
        try await withDatabase { try await $0.raw(query).run() }
    }

    func all(_ query: SQLQueryString) async throws -> [any SQLRow] {
        try await withDatabase { try await $0.raw(query).all() }
    }

    /// Opens the SQLite file at `path`, creating it and its folder when missing.
    package static func openSQLite(path: String, logger: Logger) async throws -> Store {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw StoreError.unavailable("cannot create the folder \(folder) for the database: \(error.localizedDescription); set database.path to a writable place")
            }
        }
        // SQLite works on a thread of its own, at a lower priority than the event loops:
        // batch inserts then fill idle CPU instead of delaying requests. (On Linux, priority
        // "0" means the calling thread.)
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        _ = try? await thread.runIfActive { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) }
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: thread, logger: logger,
                on: Self.eventLoops.any()
            ).get()
        } catch {
            try? await thread.shutdownGracefully()
            throw StoreError.unavailable("cannot open the SQLite database \(path): \(error)")
        }
        do {
            // Readers do not block the writer, and a busy file waits instead of failing.
            _ = try await connection.query("PRAGMA journal_mode=WAL").get()
            _ = try await connection.query("PRAGMA busy_timeout=5000").get()
            _ = try await connection.query("PRAGMA synchronous=NORMAL").get()
        } catch {
            try? await connection.close().get()
            try? await thread.shutdownGracefully()
            throw StoreError.unavailable("cannot use the SQLite database \(path): \(error)")
        }
        // From here on the connection must be closed on every path (SQLiteNIO insists).
        let store = Store(backend: .sqlite(connection.sql(queryLogLevel: nil), connection)) {
            try? await connection.close().get()
            try? await thread.shutdownGracefully()
        }
        do {
            try await store.migrate()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:password@host:port/database`).
    package static func openPostgres(url: String, logger: Logger) async throws -> Store {
        let configuration: SQLPostgresConfiguration
        do {
            configuration = try SQLPostgresConfiguration(url: url)
        } catch {
            throw StoreError.unavailable("database.url is not a PostgreSQL URL (postgres://user:password@host:5432/database)")
        }
        let core = configuration.coreConfiguration
        guard let host = core.host else {
            throw StoreError.unavailable("database.url must name a host (postgres://user:password@host:5432/database)")
        }
        var clientConfiguration = PostgresClient.Configuration(
            host: host, port: core.port ?? 5432, username: core.username,
            password: core.password, database: core.database, tls: .disable)
        if core.tls.isEnforced, let tls = core.tls.sslContext?.configuration {
            clientConfiguration = PostgresClient.Configuration(
                host: host, port: core.port ?? 5432, username: core.username,
                password: core.password, database: core.database, tls: .require(tls))
        } else if core.tls.isAllowed, let tls = core.tls.sslContext?.configuration {
            clientConfiguration = PostgresClient.Configuration(
                host: host, port: core.port ?? 5432, username: core.username,
                password: core.password, database: core.database, tls: .prefer(tls))
        }
        clientConfiguration.options.connectTimeout = .seconds(3)
        let client = PostgresClient(configuration: clientConfiguration, eventLoopGroup: Self.eventLoops, backgroundLogger: logger)
        let runner = Task { await client.run() }
        // Let the pool start before the first lease (PostgresNIO warns about leases that
        // come before `run()`; they would wait, not fail).
        try? await Task.sleep(for: .milliseconds(20))
        let store = Store(backend: .postgres(client)) {
            runner.cancel()
            await runner.value
        }
        do {
            try await store.migrate()
        } catch let error as StoreError {
            await store.close()
            throw error
        } catch {
            await store.close()
            throw StoreError.unavailable("cannot reach PostgreSQL at \(Self.redacted(url)): \(String(reflecting: error))")
        }
        return store
    }

    package func close() async { await closer() }

    /// The store's own event loop, at the store's low priority: its connections' I/O and the
    /// delivery of results (sqlite-nio hands each row to its connection's loop as a job of its
    /// own) happen here, never on a loop that serves requests. Shared by every store in the
    /// process and never shut down, like NIO's singletons.
    static let eventLoops: MultiThreadedEventLoopGroup = {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        group.next().execute { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) }
        return group
    }()

    /// Applies the migrations this binary knows and the database lacks. A database written
    /// by a newer binary is refused rather than misread.
    func migrate() async throws {
        try await run("CREATE TABLE IF NOT EXISTS llmproxy_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        let current = try await schemaVersion()
        if current > Migrations.latest {
            throw StoreError.schemaTooNew(found: current, known: Migrations.latest)
        }
        for step in Migrations.steps where step.version > current {
            let statements = kind == .sqlite ? step.sqlite : step.postgres
            try await withDatabase { database in
                try await database.withSession { session in
                    try await session.raw("BEGIN").run()
                    do {
                        for statement in statements { try await session.raw(SQLQueryString(statement)).run() }
                        try await session.raw("INSERT INTO llmproxy_schema (version, applied_at) VALUES (\(bind: step.version), \(bind: WallClock.nowMs()))").run()
                        try await session.raw("COMMIT").run()
                    } catch {
                        try? await session.raw("ROLLBACK").run()
                        throw error
                    }
                }
            }
        }
    }

    /// The schema version recorded in the database.
    package func schemaVersion() async throws -> Int {
        let rows = try await all("SELECT MAX(version) AS version FROM llmproxy_schema")
        return try rows.first.flatMap { try $0.decodeNil(column: "version") ? nil : $0.decode(column: "version", as: Int.self) } ?? 0
    }

    /// Whether the database answers now.
    package func ping() async -> Bool {
        (try? await all("SELECT 1 AS one")) != nil
    }

    /// `url` without its password, for messages.
    package static func redacted(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// Why the store cannot be used, in words an operator can act on.
package enum StoreError: Error, CustomStringConvertible, Equatable {
    case unavailable(String)
    case schemaTooNew(found: Int, known: Int)

    package var description: String {
        switch self {
        case .unavailable(let message): return message
        case .schemaTooNew(let found, let known):
            return "the database schema is version \(found), newer than this llm-proxy understands (\(known)): upgrade llm-proxy, or point the gateway at another database"
        }
    }
}

/// Wall-clock milliseconds, the unit every stored time uses.
package enum WallClock {
    package static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}

extension Store {
    /// Pretends a newer binary migrated this database (tests of the refusal).
    package func recordSchemaVersionForTests(_ version: Int) async throws {
        try await run("INSERT INTO llmproxy_schema (version, applied_at) VALUES (\(bind: version), \(bind: WallClock.nowMs()))")
    }
}
