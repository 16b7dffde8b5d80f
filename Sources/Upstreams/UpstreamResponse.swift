import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// An upstream's answer, whichever client fetched it: status, headers, and a body to stream.
public struct UpstreamResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: UpstreamBody
}

/// The body of an ``UpstreamResponse`` as an async sequence of buffers.
public struct UpstreamBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    enum Backing: Sendable {
        case client(HTTPClientResponse.Body)
        case pooled(PooledResponseBody)
    }

    let backing: Backing

    init(_ backing: Backing) { self.backing = backing }

    public struct AsyncIterator: AsyncIteratorProtocol {
        enum Inner {
            case client(HTTPClientResponse.Body.AsyncIterator)
            case pooled(PooledResponseBody.AsyncIterator)
        }
        var inner: Inner

        public mutating func next() async throws -> ByteBuffer? {
            switch inner {
            case .client(var iterator):
                let buffer = try await iterator.next()
                inner = .client(iterator)
                return buffer
            case .pooled(var iterator):
                let buffer = try await iterator.next()
                inner = .pooled(iterator)
                return buffer
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch backing {
        case .client(let body): return AsyncIterator(inner: .client(body.makeAsyncIterator()))
        case .pooled(let body): return AsyncIterator(inner: .pooled(body.makeAsyncIterator()))
        }
    }

    public struct TooLarge: Error {}

    /// The whole body, at most `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var iterator = makeAsyncIterator()
        guard var result = try await iterator.next() else { return ByteBuffer() }
        while let buffer = try await iterator.next() {
            guard result.readableBytes + buffer.readableBytes <= limit else { throw TooLarge() }
            result.writeImmutableBuffer(buffer)
        }
        guard result.readableBytes <= limit else { throw TooLarge() }
        return result
    }
}
