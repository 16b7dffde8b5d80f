import Foundation
import Testing

/// The benchmark's numbers live in bench/, never here; this only keeps the script from
/// rotting: a tiny run must complete, check every answer, and print its table.
@Suite("Benchmark smoke run")
struct BenchmarkSmokeTests {
    @Test("bench/run.py --smoke completes against nginx and the gateway and prints the targets table")
    func smoke() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = NSTemporaryDirectory() + "llmproxy-bench-smoke-\(UUID().uuidString).md"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (status, output) = try Tool.run(
            "/usr/bin/env", ["python3", root.appendingPathComponent("bench/run.py").path, "--smoke", "--binary", GatewayProcess.binary.path, "--out", out],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin"])
        #expect(status == 0, "bench failed (nginx and wrk come from scripts/test):\n\(output.suffix(3000))")
        #expect(output.contains("## Targets"))
        #expect(output.contains("every one a 200 completion"))
        // The resilience and cache scenarios (issue 14) ran and were checked.
        #expect(output.contains("## One of two upstreams failing") && output.contains("## Cache hits"))
        // CPU per request, the gateway's against nginx's (issue 16).
        #expect(output.contains("conn: CPU µs per request"))
        let written = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(written.contains("| throughput at 64 connections"))
    }

    @Test("bench/instructions.py counts instructions and allocations per request under callgrind")
    func instructions() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (status, output) = try Tool.run(
            "/usr/bin/env", ["python3", root.appendingPathComponent("bench/instructions.py").path, GatewayProcess.binary.path, "--requests", "20"],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin"])
        #expect(status == 0, "bench/instructions.py failed (valgrind comes from scripts/test):\n\(output.suffix(3000))")
        // One row for the binary, with a count that is a real number of instructions.
        let row = output.split(separator: "\n").first { $0.hasPrefix("| llm-proxy |") }
        let cells = row?.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        let instructions = cells.count > 1 ? Int(cells[1].replacingOccurrences(of: ",", with: "")) : nil
        #expect((instructions ?? 0) > 10_000, "\(output.suffix(2000))")
        #expect(cells.count > 2 && (Double(cells[2]) ?? 0) > 1)
    }
}
