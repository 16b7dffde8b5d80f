import Foundation
import Logging
import Store
import Synchronization
import Testing

/// The event batcher's bound, seen from the drop callback the gateway counts with.
@Suite("Event recorder")
struct EventRecorderTests {
    @Test("events past the queue bound are dropped and reported through the callback, one call per event")
    func dropsAreReported() async throws {
        let (store, _) = try await StoreTests.fresh(.sqlite)
        let reported = Mutex<[Int]>([])
        let recorder = EventRecorder(store: store, limit: 2, logger: StoreTests.logger) { count in
            reported.withLock { $0.append(count) }
        }
        for index in 0..<5 {
            recorder.record(EventAggregationTests.event("req_\(index)", key: "key_1", start: 1_000, duration: 5))
        }
        #expect(recorder.queued == 2)
        #expect(reported.withLock { $0 } == [1, 1, 1])
        await store.close()
    }

    @Test("a batch is built and written on the store's own thread, not on the caller's executor (the event loops, in the gateway)")
    func writesOnTheStoreThread() async throws {
        let onStore = Mutex<Bool?>(nil)
        try await EventRecorder.withDeadline(.seconds(20)) { onStore.withLock { $0 = BackgroundExecutor.store.isCurrentThread } }
        #expect(onStore.withLock { $0 } == true)
        // And the test itself does not: the check can fail.
        #expect(!BackgroundExecutor.store.isCurrentThread)
    }
}
