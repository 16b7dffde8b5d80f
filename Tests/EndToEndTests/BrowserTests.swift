import Foundation
import PostgresHarness
import Testing

/// The admin UI in headless Chromium (Debian's `chromium`, driven over the DevTools
/// protocol by `Tests/Browser/admin_flow.py`): sign in, create a key, use it through the
/// gateway, see the request in analytics, revoke the key — with no JavaScript error.
/// Screenshots of each step land in `test-artifacts/admin-ui/`.
@Suite("Admin UI in a browser")
struct BrowserTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("sign in, create a key, use it, find it in analytics, revoke it")
    func adminFlow() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-ui-\(UUID().uuidString)/llmproxy.sqlite"
        let config = try TempFile(
            """
            providers: [{name: demo, type: mock}]
            admin: {username: root, password: "correct horse battery staple"}
            database: {path: \(path)}
            """)
        let gateway = try await GatewayProcess.launch(config: config.path)
        let artifacts = Self.root.appendingPathComponent("test-artifacts/admin-ui").path
        let script = Self.root.appendingPathComponent("Tests/Browser/admin_flow.py").path
        let outcome: Result<Void, any Error>
        do {
            try await PostgresServer.runAside("/usr/bin/env", ["python3", script, gateway.url, "root", "correct horse battery staple", artifacts])
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        gateway.signal(SIGTERM)
        _ = await gateway.waitForExit(timeout: .seconds(10))
        config.remove()
        if case .failure(let error) = outcome { Issue.record("the browser flow failed: \(error)") }
        #expect(FileManager.default.fileExists(atPath: artifacts + "/6-revoked.png"))
    }
}
