import Foundation
import HummingbirdBcrypt
import Logging
import NIOPosix
import ProxyConfig
import Store

/// The admin account: one user name and a bcrypt hash. From the configuration
/// (`LLMPROXY_ADMIN_USER`/`LLMPROXY_ADMIN_PASSWORD`) when given; otherwise the first start
/// generates a password, prints it once, and keeps only its hash in the store. There is no
/// default password.
package struct AdminCredentials: Sendable {
    package let username: String
    let passwordHash: String

    static let cost: UInt8 = 11

    /// Bcrypt's own thread. On the shared `NIOThreadPool.singleton` a burst of sign-ins (or
    /// many instances hashing at start) queued ahead of the store's blocking work; one thread
    /// also means hashing never takes more than one core from the proxy.
    static let bcryptPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// Resolves the account: configured, stored, or newly generated (and announced once).
    /// When the account differs from the one the current sessions were issued for (another
    /// user name, another password), every session is ended (see ``SessionGeneration``).
    package static func resolve(config: AdminConfig, store: Store, announce: (String, String) -> Void) async throws -> AdminCredentials {
        let credentials = try await account(config: config, store: store, announce: announce)
        let sessionsUser = try await store.setting("admin_session_username")
        let sessionsHash = try await store.setting("admin_session_password_hash")
        if sessionsUser != credentials.username || sessionsHash != credentials.passwordHash {
            try await store.setSetting("admin_session_username", value: credentials.username)
            try await store.setSetting("admin_session_password_hash", value: credentials.passwordHash)
            try await store.incrementSetting(SessionGeneration.setting)
        }
        return credentials
    }

    private static func account(config: AdminConfig, store: Store, announce: (String, String) -> Void) async throws -> AdminCredentials {
        if let hash = config.passwordHash {
            // `$2y$` (PHP, htpasswd) is `$2b$` under another name; the bcrypt library knows only the latter.
            let normalised = hash.hasPrefix("$2y$") ? "$2b$" + hash.dropFirst(4) : hash
            return AdminCredentials(username: config.username ?? "admin", passwordHash: normalised)
        }
        if let username = config.username, let password = config.password {
            // Bcrypt salts every hash: the configured password is compared with the hash the
            // sessions were issued under, and that hash is kept while it still matches.
            if try await store.setting("admin_session_username") == username, let previous = try await store.setting("admin_session_password_hash"),
                await matches(password, hash: previous)
            {
                return AdminCredentials(username: username, passwordHash: previous)
            }
            return AdminCredentials(username: username, passwordHash: await hash(password))
        }
        if let username = try await store.setting("admin_username"), let hash = try await store.setting("admin_password_hash") {
            return AdminCredentials(username: username, passwordHash: hash)
        }
        let username = config.username ?? "admin"
        let password = generatePassword()
        let hashed = await hash(password)
        // Two instances starting together on one database keep one password: the first stored.
        let storedHash = try await store.settingOrInsert("admin_password_hash", value: hashed)
        _ = try await store.settingOrInsert("admin_username", value: username)
        if storedHash == hashed { announce(username, password) }
        return AdminCredentials(username: try await store.setting("admin_username") ?? username, passwordHash: storedHash)
    }

    /// Checks a login off the event loops (bcrypt is deliberately slow).
    func verify(username: String, password: String) async -> Bool {
        let matches = await Self.matches(password, hash: passwordHash)
        return matches && constantTimeEquals(username, self.username)
    }

    static func matches(_ password: String, hash: String) async -> Bool {
        (try? await bcryptPool.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
    }

    package static func hash(_ password: String) async -> String {
        (try? await bcryptPool.runIfActive { Bcrypt.hash(password, cost: cost) }) ?? Bcrypt.hash(password, cost: cost)
    }

    /// 24 characters from an alphabet without look-alikes, from the system's secure source.
    static func generatePassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }
}
