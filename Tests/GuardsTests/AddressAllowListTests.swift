import Guards
import Testing

/// The admin surface's network list, decided without sockets.
@Suite("Address allow list")
struct AddressAllowListTests {
    @Test("an empty list lets every address in, an unknown one too")
    func empty() {
        let list = AddressAllowList([])
        #expect(list.permits("203.0.113.9") && list.permits("::1") && list.permits(nil))
    }

    @Test("a listed network lets its addresses in, IPv4-mapped included; others and unknown addresses are refused")
    func listed() {
        let list = AddressAllowList(["10.0.0.0/8", "::1/128"])
        #expect(list.permits("10.1.2.3") && list.permits("::ffff:10.1.2.3") && list.permits("::1"))
        #expect(!list.permits("127.0.0.1") && !list.permits("11.0.0.1") && !list.permits(nil) && !list.permits("not-an-address"))
    }

    @Test("a list of entries that do not parse lets nobody in")
    func unparsable() {
        #expect(!AddressAllowList(["10.0.0.0/33", "nonsense"]).permits("10.0.0.1"))
    }
}
