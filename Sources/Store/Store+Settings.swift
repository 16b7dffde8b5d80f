import SQLKit

/// Small named values the gateway generates once and must keep: the JWT secret, the
/// generated admin password's hash, the admin session generation.
extension Store {
    package func setting(_ name: String) async throws -> String? {
        try await all("SELECT value FROM settings WHERE name = \(bind: name)").first?.decode(column: "value", as: String.self)
    }

    /// Stores `value` unless the setting exists; returns the stored value either way, so two
    /// instances starting together agree on one.
    package func settingOrInsert(_ name: String, value: String) async throws -> String {
        switch kind {
        case .sqlite:
            try await run("INSERT OR IGNORE INTO settings (name, value) VALUES (\(bind: name), \(bind: value))")
        case .postgres:
            try await run("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value)) ON CONFLICT (name) DO NOTHING")
        }
        return try await setting(name) ?? value
    }

    package func setSetting(_ name: String, value: String) async throws {
        switch kind {
        case .sqlite:
            try await run("INSERT OR REPLACE INTO settings (name, value) VALUES (\(bind: name), \(bind: value))")
        case .postgres:
            try await run("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: value)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value")
        }
    }
}

extension Store {
    /// Adds one to a numeric setting (missing counts as 0) in one statement, so instances
    /// sharing a database never lose an increment; returns the value read afterwards.
    @discardableResult
    package func incrementSetting(_ name: String) async throws -> Int64 {
        switch kind {
        case .sqlite:
            try await run(
                """
                INSERT INTO settings (name, value) VALUES (\(bind: name), '1')
                ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT)
                """)
        case .postgres:
            try await run(
                """
                INSERT INTO settings (name, value) VALUES (\(bind: name), '1')
                ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)
                """)
        }
        return try await numericSetting(name)
    }

    /// A setting read as a whole number; 0 when missing or not a number.
    package func numericSetting(_ name: String) async throws -> Int64 {
        try await setting(name).flatMap { Int64($0) } ?? 0
    }
}
