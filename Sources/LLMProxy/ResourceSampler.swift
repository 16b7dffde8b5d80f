import Guards
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Samples the process's resident memory and CPU use once a second for the load shedder, so
/// the request path reads two numbers instead of asking the kernel.
struct ResourceSampler: Service {
    let shedder: LoadShedder

    func run() async throws {
        var last = Self.cpuSeconds()
        var lastTime = ContinuousClock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .seconds(1))
            let cpu = Self.cpuSeconds()
            let now = ContinuousClock.now
            let (seconds, atto) = (now - lastTime).components
            let wall = Double(seconds) + Double(atto) / 1e18
            let percent = wall > 0 ? (cpu - last) / wall * 100 : 0
            shedder.record(residentBytes: Self.residentBytes(), cpuPercent: percent)
            last = cpu
            lastTime = now
        }
    }

    /// User + system CPU time of the process, in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
            let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
            let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Resident set size in bytes (`/proc/self/statm` on Linux; 0 where it is not available).
    static func residentBytes() -> Int {
        #if os(Linux)
            let fd = open("/proc/self/statm", O_RDONLY)
            guard fd >= 0 else { return 0 }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 128)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return 0 }
            let parts = String(decoding: buffer[..<count], as: UTF8.self).split(separator: " ")
            guard parts.count >= 2, let pages = Int(parts[1]) else { return 0 }
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
            return 0
        #endif
    }
}
