/// The store's schema, as numbered steps with SQL for each database. Applied in order at
/// start; each step runs once and is recorded in `llmproxy_schema`. Never edit a released
/// step: add the next one.
enum Migrations {
    struct Step {
        let version: Int
        let sqlite: [String]
        let postgres: [String]
    }

    static let steps: [Step] = [
        Step(
            version: 1,
            sqlite: [
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, key_hint TEXT NOT NULL,
                    username TEXT NOT NULL, name TEXT, created_at INTEGER NOT NULL, last_used_at INTEGER,
                    expires_at INTEGER, revoked_at INTEGER, models TEXT, rpm INTEGER, tpm INTEGER, token_budget INTEGER)
                """,
                "CREATE INDEX api_keys_username ON api_keys (username)",
                """
                CREATE TABLE request_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, key_id TEXT, username TEXT,
                    start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, status INTEGER NOT NULL, success INTEGER NOT NULL,
                    model TEXT, route TEXT, upstream TEXT, dialect TEXT, stream INTEGER NOT NULL, ttfb_ms REAL,
                    prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
                    bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, error_code TEXT)
                """,
                "CREATE INDEX request_events_key_start ON request_events (key_id, start_ms)",
                "CREATE INDEX request_events_start ON request_events (start_ms)",
                "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            ],
            postgres: [
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, key_hint TEXT NOT NULL,
                    username TEXT NOT NULL, name TEXT, created_at BIGINT NOT NULL, last_used_at BIGINT,
                    expires_at BIGINT, revoked_at BIGINT, models TEXT, rpm BIGINT, tpm BIGINT, token_budget BIGINT)
                """,
                "CREATE INDEX api_keys_username ON api_keys (username)",
                """
                CREATE TABLE request_events (
                    id BIGSERIAL PRIMARY KEY, request_id TEXT NOT NULL, key_id TEXT, username TEXT,
                    start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL, status BIGINT NOT NULL, success BIGINT NOT NULL,
                    model TEXT, route TEXT, upstream TEXT, dialect TEXT, stream BIGINT NOT NULL, ttfb_ms DOUBLE PRECISION,
                    prompt_tokens BIGINT, completion_tokens BIGINT, total_tokens BIGINT,
                    bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL, error_code TEXT)
                """,
                "CREATE INDEX request_events_key_start ON request_events (key_id, start_ms)",
                "CREATE INDEX request_events_start ON request_events (start_ms)",
                "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            ]
        ),
        // Exports page through events newest first on (start_ms, id). SQLite's start_ms
        // index already ends in the rowid (= id); PostgreSQL needs the pair spelled out.
        Step(
            version: 2,
            sqlite: [],
            postgres: [
                "CREATE INDEX request_events_start_id ON request_events (start_ms, id)",
                "CREATE INDEX request_events_key_start_id ON request_events (key_id, start_ms, id)",
                "DROP INDEX request_events_start",
                "DROP INDEX request_events_key_start",
            ]
        ),
        // Issue 10: a key's concurrency and money budget with its period; each event's cost;
        // the automatic block list, shared by instances; the budget pool instances lease from.
        Step(
            version: 3,
            sqlite: [
                "ALTER TABLE api_keys ADD COLUMN concurrency INTEGER",
                "ALTER TABLE api_keys ADD COLUMN cost_budget REAL",
                "ALTER TABLE api_keys ADD COLUMN budget_period TEXT",
                "ALTER TABLE request_events ADD COLUMN cost_usd REAL",
                """
                CREATE TABLE blocks (
                    address TEXT PRIMARY KEY, reason TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                    strikes INTEGER NOT NULL)
                """,
                """
                CREATE TABLE budget_pool (
                    subject TEXT NOT NULL, period_start INTEGER NOT NULL, spent_tokens INTEGER NOT NULL, spent_cost REAL NOT NULL,
                    leased_tokens INTEGER NOT NULL, leased_cost REAL NOT NULL, grant_tokens INTEGER NOT NULL, grant_cost REAL NOT NULL,
                    PRIMARY KEY (subject, period_start))
                """,
            ],
            postgres: [
                "ALTER TABLE api_keys ADD COLUMN concurrency BIGINT",
                "ALTER TABLE api_keys ADD COLUMN cost_budget DOUBLE PRECISION",
                "ALTER TABLE api_keys ADD COLUMN budget_period TEXT",
                "ALTER TABLE request_events ADD COLUMN cost_usd DOUBLE PRECISION",
                """
                CREATE TABLE blocks (
                    address TEXT PRIMARY KEY, reason TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                    strikes BIGINT NOT NULL)
                """,
                """
                CREATE TABLE budget_pool (
                    subject TEXT NOT NULL, period_start BIGINT NOT NULL, spent_tokens BIGINT NOT NULL, spent_cost DOUBLE PRECISION NOT NULL,
                    leased_tokens BIGINT NOT NULL, leased_cost DOUBLE PRECISION NOT NULL, grant_tokens BIGINT NOT NULL,
                    grant_cost DOUBLE PRECISION NOT NULL, PRIMARY KEY (subject, period_start))
                """,
            ]
        ),
        // Issue 10: the instances sharing the store, so each enforces its part of every rate.
        Step(
            version: 4,
            sqlite: ["CREATE TABLE gateway_instances (id TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL)"],
            postgres: ["CREATE TABLE gateway_instances (id TEXT PRIMARY KEY, seen_ms BIGINT NOT NULL)"]
        ),
        // Issue 12: normalised usage keeps cached input and reasoning output apart.
        Step(
            version: 5,
            sqlite: [
                "ALTER TABLE request_events ADD COLUMN cached_tokens INTEGER",
                "ALTER TABLE request_events ADD COLUMN reasoning_tokens INTEGER",
            ],
            postgres: [
                "ALTER TABLE request_events ADD COLUMN cached_tokens BIGINT",
                "ALTER TABLE request_events ADD COLUMN reasoning_tokens BIGINT",
            ]
        ),
        // Issue 14: the response cache's second level, shared by the instances.
        Step(
            version: 6,
            sqlite: [
                """
                CREATE TABLE response_cache (
                    key TEXT PRIMARY KEY, instance TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
                    size INTEGER NOT NULL, payload TEXT NOT NULL)
                """,
                "CREATE INDEX response_cache_created ON response_cache (created_ms)",
                "CREATE INDEX response_cache_expires ON response_cache (expires_ms)",
            ],
            postgres: [
                """
                CREATE TABLE response_cache (
                    key TEXT PRIMARY KEY, instance TEXT NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL,
                    size BIGINT NOT NULL, payload TEXT NOT NULL)
                """,
                "CREATE INDEX response_cache_created ON response_cache (created_ms)",
                "CREATE INDEX response_cache_expires ON response_cache (expires_ms)",
            ]
        ),
    ]

    static var latest: Int { steps.last?.version ?? 0 }
}
