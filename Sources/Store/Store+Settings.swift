import SQLKit

/// Small named values the gateway generates once and must keep: the JWT secret, the
/// generated admin password's hash.
extension Store {
    public func setting(_ name: String) async throws -> String? {
        try await all("SELECT value FROM settings WHERE name = \(bind: name)").first?.decode(column: "value", as: String.self)
    }

    /// Stores `value` unless the setting exists; returns the stored value either way, so two
    /// instances starting together agree on one.
    public func settingOrInsert(_ name: String, value: String) async throws -> String {
        switch kind {
        case .sqlite:
            try await run("INSERT OR IGNORE INTO settings (name, value) VALUES (\(bind: name), \(bind: value))")
        case .postgres:
            try await run("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value)) ON CONFLICT (name) DO NOTHING")
        }
        return try await setting(name) ?? value
    }

    public func setSetting(_ name: String, value: String) async throws {
        switch kind {
        case .sqlite:
            try await run("INSERT OR REPLACE INTO settings (name, value) VALUES (\(bind: name), \(bind: value))")
        case .postgres:
            try await run("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
        }
    }
}
