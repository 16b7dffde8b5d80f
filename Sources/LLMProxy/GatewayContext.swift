import Hummingbird
import NIOCore
import ProxyCore

/// Per-request context: Hummingbird's core storage plus the connection, which the proxy
/// watches so a client that goes away cancels its upstream request at once.
public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
