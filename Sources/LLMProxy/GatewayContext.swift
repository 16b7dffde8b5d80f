import Hummingbird
import NIOCore
import ProxyCore

/// Per-request context: Hummingbird's core storage plus the connection, which the proxy
/// watches so a client that goes away cancels its upstream request at once.
package struct GatewayContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
