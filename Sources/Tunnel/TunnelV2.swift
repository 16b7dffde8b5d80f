import Crypto
import Foundation
import NIOCore
import Synchronization

/// Protocol v2's constants and pieces (docs/TUNNEL.md describes them byte by byte).
package enum TunnelV2 {
    /// The first bytes of a v2 connection; a v1 document starts with `{` or whitespace.
    package static let magic: [UInt8] = Array("LLMT".utf8)
    package static let version: UInt8 = 2
    /// magic(4) version(1) flags(1) reserved(2) timestamp(8) salt(32).
    package static let clientHelloSize = 48
    /// magic(4) version(1) status(1) reserved(2) salt(32).
    package static let serverHelloSize = 40
    /// Bytes before a frame's sealed part: its length (u32, big-endian).
    package static let lengthSize = 4
    /// type(1) stream(4) timestamp(8) before the payload, inside the seal.
    package static let innerHeaderSize = 13
    package static let tagSize = 16
    /// A body part larger than this goes out in several frames.
    package static let maxBodyChunk = 1 << 20

    package enum FrameType: UInt8, Sendable {
        case request = 0x01
        case responseHead = 0x02
        case responseBody = 0x03
        case responseEnd = 0x04
        case cancel = 0x05
        case error = 0x06
        case ping = 0x07
        case pong = 0x08
    }

    /// One opened frame.
    package struct Frame: Sendable {
        package var type: FrameType
        package var stream: UInt32
        /// Milliseconds since 1970 when the sender sealed it.
        package var timestamp: UInt64
        package var payload: ByteBuffer
    }

    package static func nowMs() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    /// A client hello: magic, version, flags 0, reserved 0, timestamp, 32 random bytes.
    package static func clientHello(timestamp: UInt64 = nowMs()) -> [UInt8] {
        var hello = magic + [version, 0, 0, 0]
        withUnsafeBytes(of: timestamp.bigEndian) { hello += $0 }
        hello += randomBytes(32)
        return hello
    }

    package static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The timestamp of a client hello (bytes 8–15).
    static func helloTimestamp(_ hello: [UInt8]) -> UInt64 {
        hello[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// Seals and opens one direction's frames: AES-256-GCM under that direction's session key,
/// the nonce the frame's sequence number (4 zero bytes ‖ u64 big-endian, from 0), the
/// length prefix as associated data. The receiver expects the next number exactly, so a
/// frame replayed, dropped or reordered within a connection fails to open.
struct FrameCipher {
    private let key: SymmetricKey
    private var counter: UInt64 = 0

    init(key: SymmetricKey) { self.key = key }

    private mutating func nextNonce() throws -> AES.GCM.Nonce {
        var nonce = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: counter.bigEndian) { nonce.replaceSubrange(4..<12, with: $0) }
        counter += 1
        return try AES.GCM.Nonce(data: nonce)
    }

    /// The whole frame, length prefix included.
    mutating func seal(_ type: TunnelV2.FrameType, stream: UInt32, payload: ByteBuffer?, timestamp: UInt64 = TunnelV2.nowMs()) throws -> ByteBuffer {
        let payloadSize = payload?.readableBytes ?? 0
        var plain = [UInt8]()
        plain.reserveCapacity(TunnelV2.innerHeaderSize + payloadSize)
        plain.append(type.rawValue)
        withUnsafeBytes(of: stream.bigEndian) { plain += $0 }
        withUnsafeBytes(of: timestamp.bigEndian) { plain += $0 }
        if let payload { plain += payload.readableBytesView }
        let sealedLength = UInt32(plain.count + TunnelV2.tagSize)
        var lengthBytes = [UInt8]()
        withUnsafeBytes(of: sealedLength.bigEndian) { lengthBytes += $0 }
        let box = try AES.GCM.seal(plain, using: key, nonce: nextNonce(), authenticating: lengthBytes)
        var frame = ByteBuffer()
        frame.reserveCapacity(4 + Int(sealedLength))
        frame.writeBytes(lengthBytes)
        frame.writeBytes(box.ciphertext)
        frame.writeBytes(box.tag)
        return frame
    }

    /// Opens the sealed part of a frame whose length prefix was `length`.
    mutating func open(length: UInt32, sealed: ByteBufferView) throws -> TunnelV2.Frame {
        guard sealed.count >= TunnelV2.innerHeaderSize + TunnelV2.tagSize else { throw TunnelV2Error.malformed("a frame shorter than its header") }
        var lengthBytes = [UInt8]()
        withUnsafeBytes(of: length.bigEndian) { lengthBytes += $0 }
        let split = sealed.index(sealed.endIndex, offsetBy: -TunnelV2.tagSize)
        let box = try AES.GCM.SealedBox(nonce: nextNonce(), ciphertext: sealed[..<split], tag: sealed[split...])
        let plain: Data
        do {
            plain = try AES.GCM.open(box, using: key, authenticating: lengthBytes)
        } catch {
            throw TunnelV2Error.decryptFailed
        }
        return try plain.withUnsafeBytes { raw in
            guard let type = TunnelV2.FrameType(rawValue: raw[0]) else { throw TunnelV2Error.malformed("unknown frame type \(raw[0])") }
            let stream = raw[1..<5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let timestamp = raw[5..<13].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            var payload = ByteBuffer()
            payload.writeBytes(UnsafeRawBufferPointer(rebasing: raw[13...]))
            return TunnelV2.Frame(type: type, stream: stream, timestamp: timestamp, payload: payload)
        }
    }
}

/// Both directions' ciphers of an open v2 connection, changed in place frame by frame.
final class SessionCiphers {
    var inbound: FrameCipher
    var outbound: FrameCipher

    init(inbound: FrameCipher, outbound: FrameCipher) {
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Seals a frame and writes it (without flushing); a frame that cannot be sealed ends
    /// the connection, as the peer's counter would no longer match.
    func write(_ type: TunnelV2.FrameType, stream: UInt32, payload: ByteBuffer?, to context: ChannelHandlerContext) {
        do {
            context.write(NIOAny(try outbound.seal(type, stream: stream, payload: payload)), promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }
}

package enum TunnelV2Error: Error, Equatable {
    case decryptFailed
    case malformed(String)
    case replayed(String)
}

/// Client hellos seen within the replay window, so a captured connection opening cannot be
/// played again while its timestamp is still fresh (older ones fail the window check).
/// Bounded: past `limit` entries the oldest go first.
package final class ReplayCache: Sendable {
    private struct State {
        var seen: [[UInt8]: UInt64] = [:]
        var order: [(salt: [UInt8], at: UInt64)] = []
        var head = 0
    }
    private let state = Mutex(State())
    let windowMs: UInt64
    let limit: Int

    package init(windowSeconds: Double, limit: Int = 200_000) {
        windowMs = UInt64(windowSeconds * 1000)
        self.limit = limit
    }

    /// Whether a hello with `salt` and `timestamp` is fresh (inside the window) and new;
    /// records it when it is.
    package func admit(salt: [UInt8], timestamp: UInt64, now: UInt64 = TunnelV2.nowMs()) -> Result<Void, TunnelV2Error> {
        let skew = timestamp > now ? timestamp - now : now - timestamp
        guard skew <= windowMs else {
            return .failure(.replayed("the timestamp is \(skew / 1000) s away from the server's clock (window \(windowMs / 1000) s)"))
        }
        return state.withLock { state in
            // Forget what left the window.
            while state.head < state.order.count, state.order[state.head].at + 2 * windowMs < now || state.order.count - state.head > limit {
                state.seen[state.order[state.head].salt] = nil
                state.head += 1
            }
            if state.head > 4096, state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
            if state.seen[salt] != nil { return .failure(.replayed("this connection opening was seen before")) }
            state.seen[salt] = now
            state.order.append((salt, now))
            return .success(())
        }
    }
}
