/// A map that keeps its entries in order of use and a running total of their costs, so the
/// least recently used can be dropped until the total fits a limit. Every operation is O(1)
/// (a dictionary into slots of a doubly linked list kept in arrays, freed slots reused): the
/// response cache calls it under a lock on the request path.
///
/// A value type with no locking of its own: ``ResponseCache`` owns one behind a mutex.
package struct LRUTable<Key: Hashable, Value> {
    private struct Slot {
        var key: Key
        var value: Value
        var cost: Int
        var newer: Int
        var older: Int
    }

    private var index: [Key: Int] = [:]
    private var slots: [Slot?] = []
    private var free: [Int] = []
    /// Most and least recently used slot; -1 when empty.
    private var newest = -1
    private var oldest = -1
    package private(set) var totalCost = 0
    package private(set) var limit: Int

    package init(limit: Int) { self.limit = max(0, limit) }

    package var count: Int { index.count }

    /// The value for `key`, which becomes the most recently used.
    package mutating func get(_ key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        touch(slot)
        return slots[slot]?.value
    }

    /// The value for `key` without changing the order.
    package func peek(_ key: Key) -> Value? {
        index[key].flatMap { slots[$0]?.value }
    }

    /// Stores `value` as the most recently used, replacing any value for `key`, then drops the
    /// least recently used until the total cost fits. A value costing more than the limit is
    /// not stored. Returns how many entries were dropped to make room.
    @discardableResult
    package mutating func set(_ key: Key, _ value: Value, cost: Int) -> Int {
        remove(key)
        let cost = max(0, cost)
        guard cost <= limit else { return 0 }
        let slot: Int
        let entry = Slot(key: key, value: value, cost: cost, newer: -1, older: newest)
        if let reused = free.popLast() {
            slot = reused
            slots[slot] = entry
        } else {
            slot = slots.count
            slots.append(entry)
        }
        if newest >= 0 { slots[newest]?.newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
        index[key] = slot
        totalCost &+= cost
        return shrink()
    }

    /// Removes `key`; returns its value.
    @discardableResult
    package mutating func remove(_ key: Key) -> Value? {
        guard let slot = index.removeValue(forKey: key), let entry = slots[slot] else { return nil }
        unlink(slot)
        slots[slot] = nil
        free.append(slot)
        totalCost &-= entry.cost
        return entry.value
    }

    /// A new limit; entries are dropped, least recently used first, until the total fits.
    @discardableResult
    package mutating func setLimit(_ limit: Int) -> Int {
        self.limit = max(0, limit)
        return shrink()
    }

    /// The least recently used entry's key, if any.
    package var oldestKey: Key? { oldest >= 0 ? slots[oldest]?.key : nil }

    /// Everything, most recently used first.
    package var keysByUse: [Key] {
        var keys: [Key] = []
        var slot = newest
        while slot >= 0, let entry = slots[slot] {
            keys.append(entry.key)
            slot = entry.older
        }
        return keys
    }

    private mutating func shrink() -> Int {
        var dropped = 0
        while totalCost > limit, let key = oldestKey {
            remove(key)
            dropped += 1
        }
        if index.isEmpty {
            // Nothing left: give the arrays back rather than keep their peak size.
            slots = []
            free = []
        }
        return dropped
    }

    private mutating func touch(_ slot: Int) {
        guard slot != newest else { return }
        unlink(slot)
        slots[slot]?.older = newest
        slots[slot]?.newer = -1
        if newest >= 0 { slots[newest]?.newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    private mutating func unlink(_ slot: Int) {
        guard let entry = slots[slot] else { return }
        if entry.newer >= 0 { slots[entry.newer]?.older = entry.older } else { newest = entry.older }
        if entry.older >= 0 { slots[entry.older]?.newer = entry.newer } else { oldest = entry.newer }
        slots[slot]?.newer = -1
        slots[slot]?.older = -1
    }
}
