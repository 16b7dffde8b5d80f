import ArgumentParser
import Foundation
import LLMProxy
import Logging
import ProxyConfig
import Store

/// `llm-proxy keys …`: managed client keys, against the store the configuration names (the
/// SQLite file, or PostgreSQL with `database.url`). A running gateway sees a new or revoked
/// key within seconds (at once with PostgreSQL, which notifies it).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke managed client keys.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct StoreOptions: ParsableArguments {
        @Option(name: [.short, .customLong("config")], help: "Configuration file (YAML). Default: $LLMPROXY_CONFIG, else built-in defaults.")
        var config: String?

        func open() async throws -> Store {
            let loader = ConfigLoader(path: config, environment: ProcessInfo.processInfo.environment)
            let configuration: GatewayConfig
            do {
                configuration = try loader.load()
            } catch let error as ConfigError {
                throw ValidationError("configuration is not valid:\n\(error.description)")
            }
            guard configuration.database.enabled else { throw ValidationError("database.enabled is false: managed keys need the database") }
            do {
                return try await Gateway.openStore(configuration.database, logger: Logger(label: "keys", factory: { _ in SwiftLogNoOpLogHandler() }))
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; the key is printed once and never stored.")

        @OptionGroup var store: StoreOptions
        @Option(name: .long, help: "Owner: 3–50 characters of letters, digits, _ . -")
        var user: String
        @Option(name: .long, help: "A name to tell the owner's keys apart.")
        var name: String?
        @Option(name: .long, help: "Lifetime, e.g. 30d, 12h, 90m.")
        var expires: String?
        @Option(name: .long, help: "Models the key may use, comma-separated (globs allowed).")
        var models: String?
        @Option(name: .long, help: "Requests per minute (at most 1000000000).")
        var rpm: Int?
        @Option(name: .long, help: "Tokens per minute (at most 1000000000000).")
        var tpm: Int?
        @Option(name: .long, help: "Requests in flight at once (at most 1000000).")
        var concurrency: Int?
        @Option(name: .customLong("token-budget"), help: "Tokens per budget period.")
        var tokenBudget: Int64?
        @Option(name: .customLong("cost-budget"), help: "US dollars per budget period.")
        var costBudget: Double?
        @Option(name: .customLong("budget-period"), help: "day, month or total (default total).")
        var budgetPeriod: String?

        func validate() throws {
            if let rpm, !(1...1_000_000_000).contains(rpm) { throw ValidationError("--rpm must be from 1 to 1000000000 (got \(rpm))") }
            if let tpm, !(1...1_000_000_000_000).contains(tpm) { throw ValidationError("--tpm must be from 1 to 1000000000000 (got \(tpm))") }
            if let concurrency, !(1...1_000_000).contains(concurrency) { throw ValidationError("--concurrency must be from 1 to 1000000 (got \(concurrency))") }
            if let tokenBudget, !(1...1_000_000_000_000_000).contains(tokenBudget) {
                throw ValidationError("--token-budget must be from 1 to 1000000000000000 (got \(tokenBudget))")
            }
            if let costBudget, !(costBudget.isFinite && costBudget > 0 && costBudget <= 1_000_000_000) {
                throw ValidationError("--cost-budget must be a number of US dollars above 0 and at most 1000000000 (got \(costBudget))")
            }
            if let budgetPeriod {
                guard ["day", "month", "total"].contains(budgetPeriod) else { throw ValidationError("--budget-period must be day, month or total (got \"\(budgetPeriod)\")") }
                guard tokenBudget != nil || costBudget != nil else { throw ValidationError("--budget-period needs --token-budget or --cost-budget") }
            }
            guard AdminConfig.isValidUsername(user) else { throw ValidationError("--user must be 3–50 characters of letters, digits, _ . - (got \"\(user)\")") }
            if let expires, KeyIssuer.duration(expires) == nil {
                throw ValidationError("--expires must be a number and a unit, at most 36500d (100 years): 30d, 12h, 90m or 3600s (got \"\(expires)\")")
            }
        }

        func run() async throws {
            let store = try await store.open()
            let now = WallClock.nowMs()
            let models = self.models.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            let (key, secret) = KeyIssuer.issue(
                username: user, name: name, expiresAt: expires.flatMap(KeyIssuer.duration).map { now + $0 },
                limits: KeyLimits(
                    models: models, requestsPerMinute: rpm, tokensPerMinute: tpm, tokenBudget: tokenBudget, concurrency: concurrency,
                    costBudget: costBudget, budgetPeriod: budgetPeriod),
                now: now)
            do {
                try await store.insertKey(key)
            } catch {
                await store.close()
                throw ValidationError("cannot store the key: \(error)")
            }
            await store.close()
            print("created \(key.id) for \(key.username)\(key.expiresAt.map { " (expires \(Self.date($0)))" } ?? "")")
            print(secret)
            FileHandle.standardError.write(Data("This is the only time the key is shown: store it now.\n".utf8))
        }

        static func date(_ ms: Int64) -> String {
            ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the keys themselves).")

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let store = try await store.open()
            let keys: [ManagedKey]
            do {
                keys = try await store.keys()
            } catch {
                await store.close()
                throw ValidationError("cannot read the keys: \(error)")
            }
            await store.close()
            let now = WallClock.nowMs()
            let rows =
                [["ID", "USER", "NAME", "KEY", "CREATED", "LAST USED", "EXPIRES", "STATUS"]]
                + keys.map { key in
                    [
                        key.id, key.username, key.name ?? "", key.hint, Create.date(key.createdAt), key.lastUsedAt.map(Create.date) ?? "never",
                        key.expiresAt.map(Create.date) ?? "never", key.revokedAt != nil ? "revoked" : key.isActive(at: now) ? "active" : "expired",
                    ]
                }
            let widths = (0..<8).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: it stops working at once on every gateway sharing the store.")

        @OptionGroup var store: StoreOptions
        @Argument(help: "The key's id (from `keys list`).")
        var id: String

        func run() async throws {
            let store = try await store.open()
            let found: Bool
            do {
                found = try await store.revokeKey(id: id, at: WallClock.nowMs())
            } catch {
                await store.close()
                throw ValidationError("cannot revoke the key: \(error)")
            }
            await store.close()
            guard found else { throw ValidationError("no key has the id \(id) (see `llm-proxy keys list`)") }
            print("revoked \(id)")
        }
    }
}
