import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A task executor on one thread of its own, at a lower CPU priority than the event loops.
/// Background work that is CPU-heavy in bursts (building and encoding batch inserts of
/// request events) runs here instead of on an event loop, where it would hold up requests.
package final class BackgroundExecutor: TaskExecutor, @unchecked Sendable {
    /// Where the store's periodic work runs (event batches, key reloads, budget leases,
    /// pruning): building SQL, binding values and decoding rows take milliseconds per batch,
    /// and on the event loops — which run Swift concurrency in this process — every such
    /// millisecond is added to a request waiting behind it.
    package static let store = BackgroundExecutor(name: "llmproxy-store")

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    /// The thread's identity, set (under `condition`) before it runs any job.
    private var worker: pthread_t?

    package init(name: String, nice: Int32 = 10) {
        let thread = Thread { [unowned self] in
            #if canImport(Glibc)
                // On Linux, "0" is the calling thread.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
                Thread.current.name = name
            #endif
            self.condition.lock()
            self.worker = pthread_self()
            self.condition.unlock()
            self.run()
        }
        thread.name = name
        thread.start()
    }

    /// Whether the caller runs on this executor's thread. By identity, not by name: on
    /// Linux a thread's name is inherited from the thread that made it and set again only
    /// once it runs, so a name says less than it seems.
    package var isCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let worker else { return false }
        return pthread_equal(worker, pthread_self()) != 0
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
