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
