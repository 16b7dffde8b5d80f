import Guards
import Testing

@Suite("Intrusion patterns, the decaying detector and the block list")
struct ThreatDetectorTests {
    @Test(
        "probes are recognised, plain and encoded",
        arguments: [
            ("GET", "/.env", nil, nil, IntrusionPatterns.Finding.honeypot), ("GET", "/wp-admin/install.php", nil, nil, .honeypot),
            ("GET", "/x/y.php", nil, nil, .honeypot), ("GET", "/v1/../etc/passwd", nil, nil, .traversal),
            ("GET", "/v1/%2e%2e/%2e%2e/x", nil, nil, .traversal), ("GET", "/v1/..%252f..%252fx", nil, nil, .traversal),
            ("GET", "/v1/models", "q=1%27%20or%201%3D1--", nil, .injection), ("GET", "/v1/models", "q=<script>", nil, .injection),
            ("POST", "/v1/chat/completions", nil, "sqlmap/1.7", .scanner), ("TRACE", "/", nil, nil, .traceMethod),
        ] as [(String, String, String?, String?, IntrusionPatterns.Finding)])
    func probes(method: String, path: String, query: String?, agent: String?, finding: IntrusionPatterns.Finding) {
        #expect(IntrusionPatterns.inspect(method: method, path: path, query: query.map { Substring($0) }, userAgent: agent) == finding)
    }

    @Test("the official SDKs, curl, python-requests and browsers on API paths are never findings")
    func ordinaryClients() {
        let agents = [
            "OpenAI/Python 1.54.0", "AsyncOpenAI/Python 1.54.0", "Anthropic/Python 0.40.0", "google-genai-sdk/1.2.0 gl-python/3.11.7", "curl/8.5.0",
            "python-requests/2.32.3", "OpenAI/JS 4.73.0", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
            "Go-http-client/1.1", "node-fetch", "axios/1.7.7",
        ]
        let paths: [(String, String, String?)] = [
            ("POST", "/v1/chat/completions", nil), ("POST", "/v1/messages", nil), ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse"),
            ("GET", "/v1/models", nil), ("POST", "/v1/embeddings", nil), ("POST", "/v1/responses", nil), ("GET", "/v1beta/models", "key=AIzaSyA-abc_123"),
            ("POST", "/v1/messages/count_tokens", "beta=true"), ("GET", "/v1/models/gpt-4o-mini-2024-07-18", nil),
        ]
        for agent in agents {
            for (method, path, query) in paths {
                #expect(IntrusionPatterns.inspect(method: method, path: path, query: query.map { Substring($0) }, userAgent: agent) == nil, "\(agent) \(path)")
            }
        }
    }

    @Test("scores decay: a handful of failures never blocks, dozens within minutes do, and spread over hours never")
    func decay() {
        let detector = ThreatDetector()
        var now = 1_000_000.0
        for _ in 0..<10 { #expect(!detector.observe("a", evidence: .authFailure, now: now).block) }
        // Fifty failures in a minute block.
        var blocked = false
        for _ in 0..<50 where !blocked {
            now += 1
            blocked = detector.observe("a", evidence: .authFailure, now: now).block
        }
        #expect(blocked)
        // One failure every two minutes, for hours, never reaches the threshold.
        let slow = ThreatDetector()
        for step in 0..<200 { #expect(!slow.observe("b", evidence: .authFailure, now: 1_000_000 + Double(step) * 120).block) }
        // Twenty probes block.
        let probes = ThreatDetector()
        let results = (0..<20).map { _ in probes.observe("c", evidence: .probe(.honeypot), now: 5000).block }
        #expect(results.last == true && results.dropLast().allSatisfy { !$0 })
    }

    @Test("anomalies raise alerts once a minute: rate spikes against the baseline, error ratios, body-size outliers")
    func anomalies() {
        let detector = ThreatDetector()
        let start = 60_000.0
        var spikes = 0
        for index in 0..<700 where detector.observe("k", evidence: nil, now: start + Double(index) / 100).spike { spikes += 1 }
        #expect(spikes == 1)
        var ratio: [ThreatDetector.Anomaly] = []
        for index in 0..<120 { ratio += detector.observe("e", evidence: nil, now: start + Double(index) / 10, failed: true).anomalies }
        #expect(ratio == [.errorRatioSpike])
        var sizes: [ThreatDetector.Anomaly] = []
        for index in 0..<30 { sizes += detector.observe("s", evidence: nil, now: start + Double(index), bodyBytes: 2000).anomalies }
        #expect(sizes.isEmpty)
        #expect(detector.observe("s", evidence: nil, now: start + 31, bodyBytes: 5_000_000).anomalies == [.bodySizeOutlier])
    }

    @Test("the block list: blocks expire, repeat offenders wait longer, pending blocks survive a sync, a lift ends a block")
    func blockList() {
        let list = BlockList()
        #expect(list.isEmpty)
        let first = list.block("10.0.0.1", reason: "auth_failures", seconds: 60, maxSeconds: 200, nowMs: 0)
        #expect(first.expiresAt == 60_000 && list.isBlocked("10.0.0.1", nowMs: 59_999) && !list.isBlocked("10.0.0.1", nowMs: 60_000))
        #expect(list.block("10.0.0.1", reason: "auth_failures", seconds: 60, maxSeconds: 200, nowMs: 100_000).expiresAt == 220_000)
        #expect(list.block("10.0.0.1", reason: "auth_failures", seconds: 60, maxSeconds: 200, nowMs: 300_000).expiresAt == 500_000)
        // A sync with a store that does not know the block yet keeps it (it is still pending).
        list.replaceAll([])
        #expect(list.isBlocked("10.0.0.1", nowMs: 300_001))
        let pending = list.takePending()
        #expect(pending.map(\.address) == ["10.0.0.1"])
        // Once written, the store's list is the truth: a lift elsewhere ends it here.
        list.replaceAll([])
        #expect(!list.isBlocked("10.0.0.1", nowMs: 300_001) && list.isEmpty)
        list.block("10.0.0.2", reason: "x", seconds: 60, maxSeconds: 60, nowMs: 0)
        list.lift("10.0.0.2")
        #expect(!list.isBlocked("10.0.0.2", nowMs: 1))
    }
}
