import Testing

@testable import ProxyConfig

@Suite("Database and admin configuration")
struct StoreConfigTests {
    @Test("file, environment and redaction")
    func loading() throws {
        var config = try GatewayConfig.parse(
            yaml: """
                database: {path: /var/lib/llmproxy/db.sqlite, event_queue_limit: 5000}
                admin: {allow_cidrs: [10.0.0.0/8, "::1"], cors_origins: ["https://ops.example"], session_hours: 8}
                """)
        #expect(config.database.path == "/var/lib/llmproxy/db.sqlite" && config.database.eventQueueLimit == 5000)
        #expect(config.admin.allowCIDRs == ["10.0.0.0/8", "::1"] && config.admin.sessionHours == 8)
        try config.applyEnvironment([
            "DATABASE_URL": "postgres://llm:s3cret-pw@db:5432/llm", "LLMPROXY_ADMIN_USER": "ops",
            "LLMPROXY_ADMIN_PASSWORD": "a-long-admin-password", "JWT_SECRET": String(repeating: "k", count: 40),
        ])
        #expect(config.database.url == "postgres://llm:s3cret-pw@db:5432/llm" && config.admin.username == "ops")
        #expect(config.validate().isEmpty)
        let text = config.redactedYAML()
        #expect(!text.contains("s3cret-pw") && !text.contains("a-long-admin-password") && !text.contains(String(repeating: "k", count: 40)))
        #expect(text.contains("postgres://llm:<redacted>@db:5432/llm"))
    }

    @Test("each mistake is named with its key and the fix")
    func validation() throws {
        var config = GatewayConfig()
        config.database.url = "mysql://db/llm"
        config.database.eventQueueLimit = 0
        config.admin.allowCIDRs = ["10.0.0.0/33", "not-an-address"]
        config.admin.jwtSecret = "short"
        config.admin.password = "pw"
        let paths = config.validate().map(\.path)
        for path in ["database.url", "database.event_queue_limit", "admin.allow_cidrs[0]", "admin.allow_cidrs[1]", "admin.jwt_secret", "admin.password"] {
            #expect(paths.contains(path), "\(path) not reported in \(paths)")
        }
        #expect(throws: ConfigError.self) { try GatewayConfig.parse(yaml: "admin: {allow_cidr: [1.2.3.4]}") }
    }

    @Test("admin.password_hash: bcrypt's $2a$, $2b$ and $2y$ with a two-digit cost 04–16; anything else named with the fix")
    func passwordHash() {
        let tail = String(repeating: "N", count: 22) + String(repeating: "x", count: 31)
        for good in ["$2b$12$", "$2a$04$", "$2y$16$"] { #expect(AdminConfig.isBcryptHash(good + tail), "\(good)") }
        for bad in ["$2b$17$", "$2b$03$", "$2b$+4$", "$2x$12$", "$1b$12$"] { #expect(!AdminConfig.isBcryptHash(bad + tail), "\(bad)") }
        #expect(!AdminConfig.isBcryptHash("$2b$12$" + tail + "x"))
        #expect(!AdminConfig.isBcryptHash("$2b$12$" + tail.dropLast() + "!"))
        var config = GatewayConfig()
        config.admin.passwordHash = "$2b$99$" + tail
        #expect(config.validate().contains { $0.path == "admin.password_hash" && $0.message.contains("llm-proxy hash-password") })
        config.admin.passwordHash = "$2b$12$" + tail
        config.admin.username = "root"
        config.admin.password = "long enough password"
        #expect(config.validate().contains { $0.path == "admin.password_hash" && $0.message.contains("keep one") })
    }

    @Test("CIDR matching for IPv4, IPv6 and IPv4-mapped addresses")
    func cidr() throws {
        let v4 = try #require(CIDR("10.0.0.0/8"))
        #expect(v4.contains("10.200.3.4") && !v4.contains("11.0.0.1") && v4.contains("::ffff:10.1.2.3"))
        let host = try #require(CIDR("127.0.0.1"))
        #expect(host.contains("127.0.0.1") && !host.contains("127.0.0.2"))
        let v6 = try #require(CIDR("fd00::/8"))
        #expect(v6.contains("fd12:3456::1") && !v6.contains("fe80::1") && !v6.contains("10.0.0.1"))
        #expect(CIDR("300.1.1.1") == nil && CIDR("::1/129") == nil)
    }
}
