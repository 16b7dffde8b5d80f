import Guards
import Testing

@Suite("Limits split over instances")
struct ClusterShareTests {
    @Test("the parts of a limit over N instances add up to exactly the limit, the remainder to the lowest ranks", arguments: [1, 2, 3, 4, 7])
    func partsAddUp(instances: Int) {
        for total in [0, 1, 2, 3, 5, 10, 11, 60, 1000, 1001] as [Int64] {
            let parts = (0..<instances).map { ClusterShare(instances: instances, rank: $0).part(of: total) }
            #expect(parts.reduce(0, +) == total, "\(total) over \(instances)")
            #expect(parts == parts.sorted(by: >), "lower ranks never hold less")
            #expect((parts.max() ?? 0) - (parts.min() ?? 0) <= 1)
        }
    }

    @Test("a shared GCRA admits the instance's part of the burst at once and refills at its part of the rate")
    func sharedRule() throws {
        let second: Int64 = 1_000_000_000
        let whole = GCRA.perMinute(10, burst: 10)
        #expect(whole.shared(.whole) == whole)
        // Three instances: bursts 4, 3, 3; each refills one request every 18 s (10 a minute together).
        var admitted: [Int] = []
        for rank in 0..<3 {
            let rule = try #require(whole.shared(ClusterShare(instances: 3, rank: rank)))
            var tat: Int64 = 0
            let now = 1000 * second
            var count = 0
            while rule.charge(1, tat: &tat, now: now).admitted { count += 1 }
            admitted.append(count)
            #expect(!rule.charge(1, tat: &tat, now: now + 17 * second).admitted)
            #expect(rule.charge(1, tat: &tat, now: now + 18 * second).admitted)
        }
        #expect(admitted == [4, 3, 3])
        // A burst smaller than the instances leaves the highest ranks nothing.
        let small = GCRA.perMinute(2, burst: 2)
        #expect(small.shared(ClusterShare(instances: 3, rank: 1)) != nil)
        #expect(small.shared(ClusterShare(instances: 3, rank: 2)) == nil)
    }

    @Test("the cell holds instances and rank in one word; out-of-range shares are clamped")
    func cell() {
        let cell = ClusterShareCell()
        #expect(cell.current == .whole)
        cell.set(ClusterShare(instances: 5, rank: 3))
        #expect(cell.current == ClusterShare(instances: 5, rank: 3))
        #expect(ClusterShare(instances: 0, rank: 9) == .whole)
        #expect(ClusterShare(instances: 3, rank: 7).rank == 2)
    }
}
