import NIOCore
import Testing

@testable import LLMProxy

/// The connection deadline state machine, without sockets: what closes a connection and when.
@Suite("Connection deadlines")
struct ConnectionDeadlinesTests {
    static let limits = ConnectionDeadlines.Limits(head: .seconds(10), body: .seconds(30), keepAlive: .seconds(75), maxBodyParts: 3)
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func at(_ seconds: Int64) -> NIODeadline { Self.t0 + .seconds(seconds) }

    @Test("a new connection that sends nothing, or only part of a head, is cut at the head timeout")
    func newConnection() {
        var machine = ConnectionDeadlines(limits: Self.limits, now: at(0))
        #expect(machine.expired(at: at(9)) == nil)
        #expect(machine.expired(at: at(10)) == .head)
        machine.bytesArrived(at: at(5)) // more bytes of the same head do not extend it
        #expect(machine.expired(at: at(10)) == .head)
    }

    @Test("body progress resets the body deadline; a stalled body is cut")
    func bodyProgress() {
        var machine = ConnectionDeadlines(limits: Self.limits, now: at(0))
        machine.headReceived(at: at(1))
        #expect(machine.expired(at: at(30)) == nil)
        machine.bytesArrived(at: at(20))
        #expect(machine.expired(at: at(49)) == nil)
        #expect(machine.expired(at: at(50)) == .body)
    }

    @Test("while the response is produced nothing expires; afterwards the keep-alive timeout runs, and the next head's first byte starts the head timeout")
    func keepAlive() {
        var machine = ConnectionDeadlines(limits: Self.limits, now: at(0))
        machine.headReceived(at: at(1))
        machine.requestEnded(at: at(1))
        #expect(machine.deadline == nil)
        #expect(machine.expired(at: at(10_000)) == nil)
        machine.responseEnded(at: at(100))
        #expect(machine.expired(at: at(174)) == nil)
        #expect(machine.expired(at: at(175)) == .idle)
        machine.bytesArrived(at: at(120))
        #expect(machine.expired(at: at(129)) == nil)
        #expect(machine.expired(at: at(130)) == .head)
    }

    @Test("a response that ends before the request body does waits for the request to end")
    func earlyResponse() {
        var machine = ConnectionDeadlines(limits: Self.limits, now: at(0))
        machine.headReceived(at: at(1))
        machine.responseEnded(at: at(2)) // e.g. 401 before the body was read
        #expect(machine.expired(at: at(31)) == .body)
        _ = machine.bodyPartReceived(at: at(5))
        machine.requestEnded(at: at(6))
        #expect(machine.expired(at: at(80)) == nil)
        #expect(machine.expired(at: at(81)) == .idle)
    }

    @Test("bytes of a pipelined request that arrive during a response start its head timeout when the response ends")
    func pipelined() {
        var machine = ConnectionDeadlines(limits: Self.limits, now: at(0))
        machine.headReceived(at: at(1))
        machine.requestEnded(at: at(1))
        machine.bytesArrived(at: at(2))
        machine.responseEnded(at: at(50))
        #expect(machine.expired(at: at(59)) == nil)
        #expect(machine.expired(at: at(60)) == .head)
    }

    @Test("a body in more parts than allowed is refused")
    func parts() {
        var machine = ConnectionDeadlines(limits: Self.limits, now: at(0))
        machine.headReceived(at: at(0))
        #expect(machine.bodyPartReceived(at: at(0)) == nil)
        #expect(machine.bodyPartReceived(at: at(0)) == nil)
        #expect(machine.bodyPartReceived(at: at(0)) == nil)
        #expect(machine.bodyPartReceived(at: at(0)) == .tooManyParts)
    }

    @Test("the timer looks at least every shortest timeout and never in the past")
    func nextCheck() {
        var machine = ConnectionDeadlines(limits: Self.limits, now: at(0))
        #expect(machine.nextCheck(at: at(0)) == at(10))
        machine.headReceived(at: at(0))
        machine.requestEnded(at: at(0))
        #expect(machine.nextCheck(at: at(3)) == at(13))
        machine.responseEnded(at: at(3))
        #expect(machine.nextCheck(at: at(100)) == at(100))
    }
}
