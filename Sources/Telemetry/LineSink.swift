import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Log lines leave the process from one background thread, in batches: a request appends its
/// line to memory and moves on, instead of paying a write(2) each. The buffer is bounded;
/// past the bound lines are counted and dropped (and the count reported), never blocking a
/// request. Lines appear within `interval`; ``flush()`` writes everything at shutdown.
package final class LineSink: @unchecked Sendable {
    package static let standardOutput = LineSink(fileDescriptor: 1)

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var pending: [UInt8] = []
    private var dropped = 0
    private let fileDescriptor: Int32
    private let limit = 8 << 20
    private let interval: TimeInterval = 0.05

    init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
        pending.reserveCapacity(64 << 10)
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "llmproxy-log"
        thread.start()
    }

    package func append(_ line: String) { append(bytes: line.utf8) }

    /// A line already in UTF-8, newline included.
    package func append(_ line: [UInt8]) { append(bytes: line) }

    private func append(bytes line: some Collection<UInt8>) {
        condition.lock()
        if pending.count + line.count > limit {
            dropped += 1
        } else {
            pending.append(contentsOf: line)
        }
        condition.unlock()
    }

    /// Writes every pending line now, from the calling thread.
    package func flush() {
        var batch: [UInt8] = []
        take(into: &batch)
        write(batch)
    }

    /// Swaps the pending lines into `batch` (emptied first, its capacity kept), so the two
    /// buffers take turns and neither grows again from nothing after every write.
    private func take(into batch: inout [UInt8]) {
        batch.removeAll(keepingCapacity: true)
        condition.lock()
        swap(&batch, &pending)
        if dropped > 0 {
            batch.append(contentsOf: #"{"level":"warning","logger":"llmproxy","msg":"log lines dropped: output too slow","dropped":\#(dropped)}"#.utf8)
            batch.append(0x0A)
            dropped = 0
        }
        condition.unlock()
    }

    private func run() {
        var batch: [UInt8] = []
        batch.reserveCapacity(64 << 10)
        while true {
            Thread.sleep(forTimeInterval: interval)
            take(into: &batch)
            if !batch.isEmpty { write(batch) }
        }
    }

    private func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
