import Dialects
import NIOCore
import NIOHTTP1

/// One synchronous step the upstream's response passes through on its way to the client,
/// per attempt: it sees the head, then each body buffer (and may change, hold back or drop
/// it), then the end (and may add a last buffer). Today: the usage tap, the usage-chunk
/// filter, translation between dialects and the stream budget cut-off; the cache tee later.
package protocol ResponseStage: AnyObject {
    /// Changes the head the client gets (translation does: content type, length, status);
    /// later stages see the changed head.
    func rewriteHead(status: inout Int, headers: inout HTTPHeaders)
    func head(status: Int, headers: HTTPHeaders)
    /// The buffer to pass on, or nil to send nothing for this one.
    func body(_ buffer: ByteBuffer) -> ByteBuffer?
    /// A last buffer to send before the end, if any.
    func end() -> ByteBuffer?
    /// Adds what the stage learned to the request's record (called once, at the end or when
    /// the response broke off).
    func finish(into record: inout RequestRecord)
    /// Set when the stage ended the response early (a stream cut off at its budget): the
    /// driver then sends what ``end()`` returns, ends the response and cancels the upstream.
    var cutOff: GatewayError? { get }
}

extension ResponseStage {
    package func rewriteHead(status: inout Int, headers: inout HTTPHeaders) {}
    package func head(status: Int, headers: HTTPHeaders) {}
    package func end() -> ByteBuffer? { nil }
    package func finish(into record: inout RequestRecord) {}
    package var cutOff: GatewayError? { nil }
}

/// The stages of one attempt, in order.
package struct ResponseStages {
    package private(set) var stages: [any ResponseStage]

    package init(_ stages: [any ResponseStage]) { self.stages = stages }

    /// Passes the upstream's head through the stages, each seeing what the earlier ones
    /// made of it; `status` and `headers` end as what the client gets.
    package func head(status: inout Int, headers: inout HTTPHeaders) {
        for stage in stages {
            stage.rewriteHead(status: &status, headers: &headers)
            stage.head(status: status, headers: headers)
        }
    }

    package func body(_ buffer: ByteBuffer) -> ByteBuffer? {
        var current = buffer
        for stage in stages {
            guard let next = stage.body(current) else { return nil }
            current = next
        }
        return current
    }

    /// What the stages still had to send, each stage's leftover passed through the later ones.
    package func end() -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        for (index, stage) in stages.enumerated() {
            guard var rest = stage.end() else { continue }
            var dropped = false
            for later in stages[(index + 1)...] {
                guard let next = later.body(rest) else {
                    dropped = true
                    break
                }
                rest = next
            }
            if !dropped { out.append(rest) }
        }
        return out
    }

    package func finish(into record: inout RequestRecord) {
        for stage in stages { stage.finish(into: &record) }
    }

    /// Whether a stage ended the response early (see ``ResponseStage/cutOff``).
    package var isCutOff: Bool { stages.contains { $0.cutOff != nil } }
}

/// Reads token counts off the response as it passes (JSON bodies and event streams of the
/// three dialects), without changing a byte.
package final class UsageTap: ResponseStage {
    private var scanner = UsageScanner()
    private let counting: UsageScanner.Counting

    /// - Parameter counting: how the upstream's dialect counts, so the record holds the
    ///   normalised counts (input with cached tokens, output with reasoning).
    package init(counting: UsageScanner.Counting = .inclusive) { self.counting = counting }

    package func body(_ buffer: ByteBuffer) -> ByteBuffer? {
        scanner.scan(buffer)
        return buffer
    }

    package func finish(into record: inout RequestRecord) {
        record.take(scanner)
        let counts = scanner.normalised(counting)
        if counting != .inclusive || counts.cachedInput != nil || counts.reasoning != nil { record.take(counts) }
    }
}

/// Removes the usage chunk the gateway asked an OpenAI-compatible upstream for
/// (`stream_options.include_usage`) when the client did not ask for it. Only a chunked 200
/// event stream can lose a chunk without breaking its framing, so any other response passes
/// untouched.
package final class UsageChunkRemoval: ResponseStage {
    private var filter: UsageChunkFilter? = UsageChunkFilter()

    package init() {}

    package func head(status: Int, headers: HTTPHeaders) {
        if status != 200 || headers.contains(name: "content-length") { filter = nil }
    }

    package func body(_ buffer: ByteBuffer) -> ByteBuffer? {
        guard filter != nil else { return buffer }
        return filter!.filter(buffer)
    }

    package func end() -> ByteBuffer? { filter?.finish() }
}
