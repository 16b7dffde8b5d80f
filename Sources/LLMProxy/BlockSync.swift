import Guards
import Logging
import ServiceLifecycle
import Store

/// Keeps the in-memory block list and the store's in step: blocks this instance's detector
/// made are written, and the store's list (every instance's blocks, less any lifted from the
/// admin API or the CLI) replaces the rest — every two seconds, off the request path.
struct BlockSync: Service {
    let store: Store
    let blocks: BlockList
    let logger: Logger
    static let interval = Duration.seconds(2)

    static func load(store: Store, into blocks: BlockList) async throws {
        let pending = blocks.takePending()
        do {
            try await store.upsertBlocks(pending.map(\.stored))
        } catch {
            blocks.requeue(pending)
            throw error
        }
        blocks.replaceAll(try await store.activeBlocks(now: WallClock.nowMs()).map(\.block))
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await loop() }
        // Blocks made in the last moments still reach the store.
        try? await Self.load(store: store, into: blocks)
    }

    private func loop() async {
        var lastPrune = ContinuousClock.now
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: Self.interval)
            do {
                try await Self.load(store: store, into: blocks)
                failing = false
                if ContinuousClock.now - lastPrune > .seconds(3600) {
                    lastPrune = ContinuousClock.now
                    try await store.pruneBlocks(before: WallClock.nowMs() - 86_400_000)
                }
            } catch {
                if !failing { logger.warning("cannot sync the block list with the database; blocks hold in memory", metadata: ["error": .string("\(error)")]) }
                failing = true
            }
        }
    }
}

extension Block {
    var stored: StoredBlock { StoredBlock(address: address, reason: reason, createdAt: createdAt, expiresAt: expiresAt, strikes: strikes) }
}

extension StoredBlock {
    var block: Block { Block(address: address, reason: reason, createdAt: createdAt, expiresAt: expiresAt, strikes: strikes) }
}
