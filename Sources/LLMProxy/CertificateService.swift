import Certificates
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the TLS listener's certificate current, off the request path: every 2 s it looks at
/// the certificate files (`https`: a replaced or rewritten file is read, checked and served
/// from the next handshake), and renews generated certificates when a third of their life is
/// left (`dev-selfsigned`, `packaged-ca`). SIGHUP asks for a re-read at once. A change that
/// cannot be used is logged and the current certificate stays.
final class CertificateService: Service, Sendable {
    let box: TLSContextBox
    let logger: Logger
    private let source: Mutex<CertificateSource>
    private let forced = Atomic<Bool>(false)
    /// `https-acme`: the client and how it proves control of the names.
    let acme: (client: ACMEClient, solver: any ACMEChallengeSolver)?
    static let interval = Duration.seconds(2)

    init(source: CertificateSource, box: TLSContextBox, logger: Logger, acme: (client: ACMEClient, solver: any ACMEChallengeSolver)? = nil) {
        self.source = Mutex(source)
        self.box = box
        self.logger = logger
        self.acme = acme
    }

    /// The next check re-reads the files whether or not they look changed.
    func reloadSoon() { forced.store(true, ordering: .relaxed) }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing: String?
            var nextOrder = ContinuousClock.now
            var backoff = Duration.seconds(2)
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if let acme = self.acme, ContinuousClock.now >= nextOrder, self.source.withLock({ $0.acmeDue(current: self.box.bundle) }) {
                    if await self.order(acme) {
                        backoff = .seconds(2)
                    } else {
                        // Failures back off (2 s, 4 s, … an hour): a CA's rate limits are
                        // counted in failed orders too.
                        nextOrder = ContinuousClock.now + backoff
                        backoff = min(backoff * 2, .seconds(3600))
                    }
                }
                try? await Task.sleep(for: Self.interval)
                failing = self.check(failing: failing)
            }
        }
    }

    /// One ACME order; true when a certificate was issued and is now served.
    func order(_ acme: (client: ACMEClient, solver: any ACMEChallengeSolver)) async -> Bool {
        let domains = source.withLock { $0.domains }
        logger.info("ordering a certificate", metadata: ["domains": .string(domains.joined(separator: ",")), "challenge": .string(acme.solver.type)])
        do {
            let bundle = try await acme.client.issue(domains: domains, solver: acme.solver)
            try source.withLock { try $0.storeACME(bundle) }
            try box.replace(with: bundle)
            logger.info(
                "certificate issued",
                metadata: [
                    "issuer": .string("\(bundle.leaf.issuer)"), "fingerprint": .string(bundle.fingerprint),
                    "not_after": .string(CertificateBundle.text(bundle.notValidAfter)), "renewal": .string(CertificateBundle.text(bundle.renewalDate)),
                ])
            return true
        } catch {
            logger.error("the certificate could not be ordered; the current one stays in use", metadata: ["error": .string("\(error)")])
            return false
        }
    }

    /// One check; returns the error still in force (logged once until it changes).
    func check(now: Date = Date(), failing: String? = nil) -> String? {
        let force = forced.exchange(false, ordering: .relaxed)
        let current = box.bundle
        do {
            let next = try source.withLock { try $0.refresh(current: current, now: now, force: force) }
            guard let next else { return nil }
            try box.replace(with: next)
            logger.info(
                "certificate replaced",
                metadata: [
                    "mode": .string(source.withLock { $0.mode.rawValue }), "fingerprint": .string(next.fingerprint),
                    "not_after": .string(CertificateBundle.text(next.notValidAfter)),
                ])
            return nil
        } catch {
            let text = "\(error)"
            if text != failing {
                logger.error("the certificate could not be replaced; the current one stays in use", metadata: ["error": .string(text)])
            }
            return text
        }
    }
}
