import Synchronization

/// A blocked client address, as stored and listed.
package struct Block: Sendable, Equatable {
    package var address: String
    /// Why: `auth_failures`, `intrusion`, `manual`, …
    package var reason: String
    /// Milliseconds since 1970.
    package var createdAt: Int64
    package var expiresAt: Int64
    /// How many times this address was blocked before (longer each time).
    package var strikes: Int

    package init(address: String, reason: String, createdAt: Int64, expiresAt: Int64, strikes: Int = 0) {
        self.address = address
        self.reason = reason
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.strikes = strikes
    }
}

/// The addresses blocked right now, in memory for the request path. Blocks made here are
/// queued for the store (``takePending()``); the store's list, shared by instances, replaces
/// the rest at each sync (``replaceAll(_:)``), so a lift anywhere ends the block everywhere.
package final class BlockList: Sendable {
    private struct Table {
        var active: [String: Block] = [:]
        var pending: [String: Block] = [:]
        /// Strikes by address, kept after a block ends so a repeat offender waits longer.
        var strikes: [String: Int] = [:]
    }

    private let table = Mutex(Table())
    /// Entries in the active table, readable without the lock: with no block at all (the
    /// usual case) the request path does not even work out the client's address.
    private let activeCount = Atomic<Int>(0)
    package static let maxBlocks = 100_000

    package init() {}

    package var isEmpty: Bool { activeCount.load(ordering: .relaxed) == 0 }

    /// Whether `address` is blocked at `nowMs`.
    package func isBlocked(_ address: String, nowMs: Int64) -> Bool {
        table.withLock { table in
            guard let block = table.active[address] else { return false }
            return block.expiresAt > nowMs
        }
    }

    /// Blocks `address` for `seconds` × 2^strikes (capped at `maxSeconds`); returns the block.
    @discardableResult
    package func block(_ address: String, reason: String, seconds: Double, maxSeconds: Double, nowMs: Int64) -> Block {
        table.withLock { table in
            let strikes = table.strikes[address, default: 0]
            let length = min(maxSeconds, seconds * Double(1 << min(strikes, 20)))
            let block = Block(address: address, reason: reason, createdAt: nowMs, expiresAt: nowMs + Int64(length * 1000), strikes: strikes)
            if table.active.count >= Self.maxBlocks { table.active = table.active.filter { $0.value.expiresAt > nowMs } }
            if table.active.count < Self.maxBlocks {
                table.active[address] = block
                table.pending[address] = block
            }
            if table.strikes.count >= Self.maxBlocks { table.strikes.removeAll() }
            table.strikes[address] = strikes + 1
            activeCount.store(table.active.count, ordering: .relaxed)
            return block
        }
    }

    /// Blocks made here and not yet written to the store.
    package func takePending() -> [Block] {
        table.withLock { table in
            let pending = Array(table.pending.values)
            table.pending.removeAll()
            return pending
        }
    }

    /// Puts back blocks whose write failed, unless a newer one replaced them.
    package func requeue(_ blocks: [Block]) {
        table.withLock { table in
            for block in blocks where table.pending[block.address] == nil { table.pending[block.address] = block }
        }
    }

    /// The store's active blocks replace the list; blocks still waiting to be written stay.
    package func replaceAll(_ blocks: [Block]) {
        table.withLock { table in
            var fresh: [String: Block] = [:]
            for block in blocks.prefix(Self.maxBlocks) { fresh[block.address] = block }
            for (address, block) in table.pending { fresh[address] = block }
            table.active = fresh
            activeCount.store(fresh.count, ordering: .relaxed)
        }
    }

    /// Ends a block at once (and forgets its strikes).
    package func lift(_ address: String) {
        table.withLock { table in
            table.active[address] = nil
            table.pending[address] = nil
            table.strikes[address] = nil
            activeCount.store(table.active.count, ordering: .relaxed)
        }
    }

    package func list(nowMs: Int64) -> [Block] {
        table.withLock { $0.active.values.filter { $0.expiresAt > nowMs }.sorted { $0.createdAt > $1.createdAt } }
    }
}
