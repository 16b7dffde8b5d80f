import Synchronization

/// Decides, before any work is done, whether a new proxied request may start: requests in
/// flight against `shedding.max_in_flight`, resident memory and CPU against their thresholds.
/// Memory and CPU are sampled in the background (once a second) and only read here, so the
/// decision costs two atomic loads and, with an in-flight limit, one add.
package final class LoadShedder: Sendable {
    private let inFlight = Atomic<Int>(0)
    /// Latest samples: resident bytes and CPU percent × 100 (of one core).
    private let residentBytes = Atomic<Int>(0)
    private let cpuHundredths = Atomic<Int>(0)

    package init() {}

    package enum Verdict: Sendable, Equatable {
        /// Admitted; the slot (if one was taken) is released through ``release()``.
        case admit(tookSlot: Bool)
        /// Refused, with the reason for the log.
        case shed(String)
    }

    /// Admits or sheds under `config` (its thresholds; 0 turns one off).
    package func admit(maxInFlight: Int, maxMemoryBytes: Int, maxCPUPercent: Double) -> Verdict {
        if maxMemoryBytes > 0, residentBytes.load(ordering: .relaxed) > maxMemoryBytes { return .shed("memory") }
        if maxCPUPercent > 0, Double(cpuHundredths.load(ordering: .relaxed)) / 100 > maxCPUPercent { return .shed("cpu") }
        guard maxInFlight > 0 else { return .admit(tookSlot: false) }
        let now = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        if now > maxInFlight {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            return .shed("in_flight")
        }
        return .admit(tookSlot: true)
    }

    package func release() { inFlight.wrappingSubtract(1, ordering: .relaxed) }

    package var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }

    /// Called by the sampler.
    package func record(residentBytes bytes: Int, cpuPercent: Double) {
        residentBytes.store(bytes, ordering: .relaxed)
        cpuHundredths.store(Int((cpuPercent * 100).rounded()), ordering: .relaxed)
    }
}
