import NIOSSL
import Synchronization

/// The certificate the TLS listener serves right now. Every new connection takes the
/// current context at accept; a replacement is used by the next handshake, and connections
/// already open keep theirs — rotation drops nothing.
package final class TLSContextBox: Sendable {
    private struct Current: @unchecked Sendable {
        // NIOSSLContext is thread-safe (its docs: safe to share); held with its bundle.
        let context: NIOSSLContext
        let bundle: CertificateBundle
    }

    private let current: Mutex<Current>
    package let http2: Bool

    package init(bundle: CertificateBundle, http2: Bool) throws {
        self.http2 = http2
        current = Mutex(Current(context: try bundle.serverContext(http2: http2), bundle: bundle))
    }

    package var context: NIOSSLContext { current.withLock { $0.context } }
    package var bundle: CertificateBundle { current.withLock { $0.bundle } }

    /// Serves `bundle` from the next handshake on; throws (and keeps the old one) when it
    /// cannot be served.
    package func replace(with bundle: CertificateBundle) throws {
        let context = try bundle.serverContext(http2: http2)
        current.withLock { $0 = Current(context: context, bundle: bundle) }
    }
}
