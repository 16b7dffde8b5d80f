import Guards
import Logging
import ServiceLifecycle
import Store

/// Tells the limit guards how many instances share the PostgreSQL store and which of them
/// this one is (``ClusterShare``): a heartbeat once a second, off the request path. An
/// instance missing for ``liveWindowMs`` no longer counts (after a crash the others take over
/// its part then); a clean shutdown leaves the list at once, after this instance's last
/// requests have finished.
///
/// When the database does not answer, the last share stays in force: the instances cannot
/// know about each other then, and keeping their parts errs towards admitting too little.
struct ClusterMembership: Service {
    let store: Store
    let cell: ClusterShareCell
    let logger: Logger
    /// Random per process start: a restarted instance is a new member.
    let instance: String
    static let interval = Duration.seconds(1)
    /// Generous against a loaded machine's late heartbeats: a member that flickers out and
    /// back would hand the others its part for a moment (admitting too much).
    static let liveWindowMs: Int64 = 10_000

    init(store: Store, cell: ClusterShareCell, logger: Logger) {
        self.store = store
        self.cell = cell
        self.logger = logger
        instance = Self.newInstanceID()
    }

    /// The first heartbeat, before the listener opens: an instance never serves on a share
    /// it has not worked out.
    func join() async throws {
        try await beat()
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await loop() }
        try? await store.leave(instance: instance)
    }

    private func loop() async {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: Self.interval)
            do {
                let before = cell.current
                try await beat()
                let after = cell.current
                if after.instances != before.instances {
                    logger.info(
                        "instances sharing the limits", metadata: ["instances": .stringConvertible(after.instances), "rank": .stringConvertible(after.rank)])
                }
                failing = false
            } catch {
                if !failing {
                    logger.warning(
                        "cannot reach the database for the instance heartbeat; each limit stays split as it was",
                        metadata: ["error": .string("\(error)")])
                }
                failing = true
            }
        }
    }

    private func beat() async throws {
        let live = try await store.heartbeat(instance: instance, liveWithinMs: Self.liveWindowMs, nowMs: WallClock.nowMs())
        // This instance has just written its row, so it is in the list (unless the database's
        // clock jumped): count it in either way.
        let members = live.contains(instance) ? live : (live + [instance]).sorted()
        cell.set(ClusterShare(instances: members.count, rank: members.firstIndex(of: instance) ?? 0))
    }

    static func newInstanceID() -> String {
        let hex = Array("0123456789abcdef")
        return String((0..<16).map { _ in hex[Int.random(in: 0..<16)] })
    }
}
