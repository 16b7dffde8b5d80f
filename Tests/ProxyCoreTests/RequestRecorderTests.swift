import Synchronization
import Testing

@testable import ProxyCore

@Suite("Recorder: every observer hears of each request once")
struct RequestRecorderTests {
    final class Log: RequestObserver {
        let started = Atomic<Int>(0)
        let finished = Mutex<[String]>([])
        func requestStarted() { started.add(1, ordering: .relaxed) }
        func requestFinished(_ record: RequestRecord) { finished.withLock { $0.append(record.id) } }
    }

    @Test("observers are told in order, once per call")
    func fanOut() {
        let a = Log(), b = Log()
        let recorder = RequestRecorder([a, b])
        recorder.started()
        recorder.finished(RequestRecord(id: "one", method: "GET", path: "/", start: .now))
        for log in [a, b] {
            #expect(log.started.load(ordering: .relaxed) == 1)
            #expect(log.finished.withLock { $0 } == ["one"])
        }
    }
}
