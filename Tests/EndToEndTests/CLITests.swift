import Foundation
import Testing

@Suite("Command line")
struct CLITests {
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = GatewayProcess.binary
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test("config check prints the effective configuration with secrets redacted and exits 0")
    func checkValid() throws {
        let file = try TempFile("""
            auth: {keys: [client-secret-value]}
            providers:
              - {name: oa, type: openai, api_key: sk-upstream-secret}
            """)
        defer { file.remove() }
        let result = try run(["config", "check", "-c", file.path], environment: ["GEMINI_API_KEY": "gemini-secret"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("configuration is valid"))
        #expect(result.stdout.contains("name: \"gemini\""))
        for secret in ["client-secret-value", "sk-upstream-secret", "gemini-secret"] { #expect(!result.stdout.contains(secret)) }
    }

    @Test("config check lists every problem and exits non-zero")
    func checkInvalid() throws {
        let file = try TempFile("server: {port: 99999}\nproviders: [{type: openai, weight: 0}, {type: nonsense}]\n")
        defer { file.remove() }
        let result = try run(["config", "check", "-c", file.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("server.port"))
        #expect(result.stderr.contains("providers[0].weight"))
        #expect(result.stderr.contains("providers[1].type"))
    }

    @Test("start refuses an invalid configuration with the reasons and a non-zero exit")
    func startInvalid() throws {
        let result = try run(["start", "--host", "0.0.0.0", "--port", "0"], environment: ["LLMPROXY_DISCOVERY": "false"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no client key is configured"))
    }

    @Test("--help names only the modes that work")
    func help() throws {
        let result = try run(["start", "--help"])
        #expect(result.stdout.contains("local-http"))
        #expect(!result.stdout.contains("acme"))
    }
}
