import NIOCore
import NIOHTTP1

/// Delivers a ``MockAnswer`` to a response sink on an event loop, as a pooled connection
/// would: the configured latency before the head, the configured pause before each content
/// piece, and the sink's backpressure respected (a piece the sink refuses to take more after
/// waits for ``resumeReading()``). So the mock provider goes through the same attempt, stage
/// and recorder code as a real upstream, and a slow mock stream holds no task or thread.
package final class MockExchange: UpstreamExchange {
    private let answer: MockAnswer
    private let loop: any EventLoop
    private let sink: any UpstreamResponseSink
    private let latency: TimeAmount
    private let pause: TimeAmount
    private var next = 0
    private var paused = false
    private var done = false
    private var timer: Scheduled<Void>?

    /// Starts delivering `answer` to `sink`; call on `loop`, which all callbacks run on.
    package static func start(
        _ answer: MockAnswer, latencyMs: Int, pauseMs: Int, on loop: any EventLoop,
        sink: any UpstreamResponseSink
    ) -> MockExchange {
        let exchange = MockExchange(
            answer: answer, loop: loop, sink: sink,
            latency: .milliseconds(Int64(latencyMs)), pause: .milliseconds(Int64(pauseMs)))
        exchange.schedule(after: exchange.latency) { $0.sendHead() }
        return exchange
    }

    private init(answer: MockAnswer, loop: any EventLoop, sink: any UpstreamResponseSink, latency: TimeAmount, pause: TimeAmount) {
        self.answer = answer
        self.loop = loop
        self.sink = sink
        self.latency = latency
        self.pause = pause
    }

    package func resumeReading() {
        guard paused, !done else { return }
        paused = false
        if timer == nil { sendPieces() }
    }

    package func cancel() {
        done = true
        timer?.cancel()
        timer = nil
    }

    /// Runs `step` after `delay` on the loop (at once, without a timer, when there is none).
    private func schedule(after delay: TimeAmount, _ step: @escaping (MockExchange) -> Void) {
        if delay == .zero {
            loop.assumeIsolated().execute { [self] in
                guard !done else { return }
                step(self)
            }
            return
        }
        timer = loop.assumeIsolated().scheduleTask(in: delay) { [self] in
            timer = nil
            guard !done else { return }
            step(self)
        }
    }

    private func sendHead() {
        var headers = answer.headers
        if !answer.streaming {
            headers.replaceOrAdd(name: "content-length", value: String(answer.pieces.reduce(0) { $0 + $1.utf8.count }))
        }
        sink.upstreamHead(HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers))
        sendPieces()
    }

    /// Sends pieces until one must wait for its pause or the sink asks to stop.
    private func sendPieces() {
        while !done, !paused, next < answer.pieces.count {
            let index = next
            let paced = answer.streaming && pause > .zero && index >= answer.leading && index < answer.pieces.count - answer.tailCount
            if paced, timer == nil, !pauseTaken {
                pauseTaken = true
                sink.upstreamReadComplete()
                schedule(after: pause) { $0.sendPieces() }
                return
            }
            pauseTaken = false
            next += 1
            if !sink.upstreamBody(ByteBuffer(string: answer.pieces[index])) { paused = true }
        }
        guard !done else { return }
        sink.upstreamReadComplete()
        if next == answer.pieces.count {
            done = true
            sink.upstreamEnd()
        }
    }

    /// The pause before the next piece has been waited.
    private var pauseTaken = false
}
