import NIOConcurrencyHelpers
import NIOCore

/// Cancels a request's task the moment its client connection closes, so an abandoned
/// completion stops costing upstream tokens at once instead of at the next chunk.
///
/// Hummingbird allows remote half-closure, so a client that goes away first shows up as
/// `inputClosed`, not as a closed channel. As nginx does, an input EOF while a request is in
/// flight counts as the client giving up: HTTP clients do not half-close and then wait.
///
/// Shape: one small channel handler per connection reports the close; requests
/// register their task in a sharded table keyed by connection for exactly as long as they
/// run. Registering on `closeFuture` instead would pile up one callback per request on a
/// keep-alive connection until it closes.
final class DisconnectWatch: @unchecked Sendable {
    private let lock = NIOLock()
    // Guarded by `lock`; only set while the owning task is running, which is what makes
    // holding an `UnsafeCurrentTask` outside its closure sound here.
    private var task: UnsafeCurrentTask?
    private var gone = false

    var clientGone: Bool { lock.withLock { gone } }

    fileprivate func fire() {
        lock.withLock {
            gone = true
            task?.cancel()
        }
    }

    fileprivate func attach(_ task: UnsafeCurrentTask?) { lock.withLock { self.task = task } }
    fileprivate func detach() { lock.withLock { self.task = nil } }
}

/// The table of requests in flight per connection.
final class DisconnectRegistry: Sendable {
    private let shards: [NIOLockedValueBox<[ObjectIdentifier: DisconnectWatch]>] = (0..<32).map { _ in NIOLockedValueBox([:]) }

    private func shard(_ id: ObjectIdentifier) -> NIOLockedValueBox<[ObjectIdentifier: DisconnectWatch]> {
        shards[Int(UInt(bitPattern: id.hashValue) % 32)]
    }

    /// Registers the current task for `channel`; call ``end(_:channel:)`` before the task
    /// finishes. If the connection is already closed the task is cancelled at once.
    func begin(channel: any Channel) -> DisconnectWatch {
        let watch = DisconnectWatch()
        withUnsafeCurrentTask { watch.attach($0) }
        let id = ObjectIdentifier(channel)
        shard(id).withLockedValue { $0[id] = watch }
        if !channel.isActive { watch.fire() }
        return watch
    }

    func end(_ watch: DisconnectWatch, channel: any Channel) {
        watch.detach()
        let id = ObjectIdentifier(channel)
        shard(id).withLockedValue { table in
            if table[id] === watch { table[id] = nil }
        }
    }

    fileprivate func connectionClosed(_ id: ObjectIdentifier) {
        let watch = shard(id).withLockedValue { $0.removeValue(forKey: id) }
        watch?.fire()
    }

    /// The per-connection handler to install in the HTTP/1 pipeline.
    func makeHandler() -> any RemovableChannelHandler {
        ConnectionCloseHandler(registry: self)
    }
}

private final class ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let registry: DisconnectRegistry

    init(registry: DisconnectRegistry) { self.registry = registry }

    func channelInactive(context: ChannelHandlerContext) {
        registry.connectionClosed(ObjectIdentifier(context.channel))
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            registry.connectionClosed(ObjectIdentifier(context.channel))
        }
        context.fireUserInboundEventTriggered(event)
    }
}
