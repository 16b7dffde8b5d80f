import Dialects
import Guards
import ProxyConfig
import Store

/// The automatic block list's detector, as an observer of every request the engine accounts
/// for (rejections included: a 401 or a probe of `/.env` is exactly what it looks for).
/// Never blocks inline: it scores, and past the threshold it adds the address to the block
/// list, which the ``BlockGuard`` reads from the next request on.
package struct ThreatObserver: RequestObserver {
    let limits: LimitState
    let store: StateStore
    /// Told of each new block and each anomaly, with the subject (`address` or `key:<id>`)
    /// (log lines, metrics).
    let onBlock: @Sendable (Block, Double) -> Void
    let onAnomaly: @Sendable (ThreatDetector.Anomaly, String) -> Void

    package init(
        limits: LimitState, store: StateStore, onBlock: @escaping @Sendable (Block, Double) -> Void,
        onAnomaly: @escaping @Sendable (ThreatDetector.Anomaly, String) -> Void
    ) {
        self.limits = limits
        self.store = store
        self.onBlock = onBlock
        self.onAnomaly = onAnomaly
    }

    package func requestFinished(_ record: RequestRecord) {
        let state = store.state
        let config = state.config.security.autoBlock
        guard config.enabled, let origin = record.origin, origin.peer != nil else { return }
        let evidence = Self.evidence(record)
        // Requests with no evidence still count towards the address's rate (spike alerts).
        guard let address = origin.clientAddress else { return }
        if evidence != nil, origin.isIn(config.exempt.compactMap(CIDR.init)) { return }
        var settings = ThreatDetector.Settings()
        settings.threshold = config.threshold
        settings.halfLife = config.halfLife
        let nowMs = WallClock.nowMs()
        let now = Double(nowMs) / 1000
        let failed = record.status >= 400
        let verdict = limits.detector.observe(address, evidence: evidence, now: now, settings: settings, failed: failed, bodyBytes: record.bytesIn)
        for anomaly in verdict.anomalies { onAnomaly(anomaly, address) }
        // Per key too: a leaked key used from many addresses spikes here, not per address.
        if let identity = record.identity {
            // Tracked as `key:<id>` (made once per key, like its budget's name).
            let subject = identity.keyBudgetSubject
            let perKey = limits.detector.observe(subject, evidence: nil, now: now, settings: settings, failed: failed, bodyBytes: record.bytesIn)
            for anomaly in perKey.anomalies { onAnomaly(anomaly, subject) }
        }
        if verdict.block {
            let reason: String
            switch evidence {
            case .authFailure?: reason = "auth_failures"
            case .probe(let finding)?: reason = "intrusion_\(finding.rawValue)"
            case .unknownPath?: reason = "path_scan"
            case nil: reason = "anomaly"
            }
            let block = limits.blocks.block(address, reason: reason, seconds: config.blockSeconds, maxSeconds: config.maxBlockSeconds, nowMs: nowMs)
            onBlock(block, settings.threshold)
        }
    }

    /// What a finished request shows: a probe (by its method, path, query or agent), a failed
    /// authentication, or a request for a path no API has. Only refused or failed requests
    /// are inspected: a scanner without a key meets a 401 or 404 on every probe, and an
    /// answered API call (the hot path) then costs no pattern matching at all.
    static func evidence(_ record: RequestRecord) -> ThreatDetector.Evidence? {
        guard record.status >= 400 else { return nil }
        if let finding = IntrusionPatterns.inspect(method: record.method, path: record.path, query: record.origin?.query, userAgent: record.origin?.userAgent) {
            return .probe(finding)
        }
        // A tunnel document or frame that does not open (or a replayed opening) is a failed
        // authentication: the key is the tunnel's credential. One that cannot be read at all
        // is what a scanner sending HTTP to the tunnel's port produces.
        if record.errorCode == .invalidAPIKey || record.errorCode == .tunnelDecryptFailed || record.errorCode == .tunnelReplay { return .authFailure }
        if record.errorCode == .notFound || record.errorCode == .tunnelProtocolError { return .unknownPath }
        return nil
    }
}
