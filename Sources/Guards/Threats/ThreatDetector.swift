import Synchronization

/// Scores client addresses from what their requests showed — failed authentication, intrusion
/// probes, scans of unknown paths — and decides when the evidence is clear enough to block.
/// Scores decay exponentially (half of a score is forgotten every `halfLife` seconds), so a
/// developer who mistypes a key a few times, or a test suite checking its 401 handling, never
/// gets near the threshold; dozens of failures or probes within minutes do.
///
/// Also watches for anomalies that only raise alerts — request-rate spikes against the
/// subject's own baseline, error-ratio spikes, body-size outliers — per address and per key
/// (a subject is any string). Pure over an injected clock, bounded in memory.
package final class ThreatDetector: Sendable {
    package struct Settings: Sendable, Equatable {
        /// Score at which an address is blocked. Default 50.
        package var threshold: Double = 50
        /// Seconds for a score to halve. Default 300.
        package var halfLife: Double = 300
        /// Weight of one failed authentication (401). Default 1: fifty within minutes block.
        package var authFailure: Double = 1
        /// Weight of one intrusion finding (honeypot path, traversal, injection, scanner agent,
        /// TRACE). Default 2.5: twenty probes within minutes block.
        package var probe: Double = 2.5
        /// Weight of one request for a path no API has (404 `not_found`). Default 0.5.
        package var unknownPath: Double = 0.5
        /// Requests per minute from one address above which (and above ten times its own
        /// baseline) an alert is raised. Default 600.
        package var spikeFloor: Double = 600

        package init() {}
    }

    /// What one request contributes.
    package enum Evidence: Sendable, Equatable {
        case authFailure
        case probe(IntrusionPatterns.Finding)
        case unknownPath
    }

    /// Anomalies worth an alert, never a block on their own.
    package enum Anomaly: String, Sendable, Equatable {
        /// Requests in a minute past the floor and ten times the subject's own baseline.
        case requestRateSpike = "request_rate_spike"
        /// At least 100 requests in a minute, nine in ten of them refused or failed.
        case errorRatioSpike = "error_ratio_spike"
        /// A body over 1 MiB and fifty times the subject's usual size.
        case bodySizeOutlier = "body_size_outlier"
    }

    /// What the detector concluded from one observation.
    package struct Verdict: Sendable, Equatable {
        /// The score passed the threshold: block the address.
        package var block: Bool
        package var score: Double
        /// Anomalies seen with this request (each raised at most once a minute per subject).
        package var anomalies: [Anomaly] = []

        /// A request-rate spike was seen.
        package var spike: Bool { anomalies.contains(.requestRateSpike) }
    }

    private struct Track {
        var score: Double = 0
        var scoredAt: Double = 0
        /// Requests in the current minute and the smoothed per-minute baseline.
        var minute: Int64 = 0
        var count: Double = 0
        var baseline: Double = 0
        var alerted = false
        var errors: Double = 0
        var errorAlerted = false
        /// Smoothed body size and how many bodies it has seen.
        var bodyMean: Double = 0
        var bodies: Int = 0
    }

    package static let maxTracked = 100_000

    private let tracks = Mutex([String: Track]())

    package init() {}

    /// Notes one request from `address` at `now` (seconds), with what it showed (if anything),
    /// under `settings` (the current configuration's: they may change on reload).
    package func observe(
        _ address: String, evidence: Evidence?, now: Double, settings: Settings = Settings(), failed: Bool = false, bodyBytes: Int = 0
    ) -> Verdict {
        tracks.withLock { tracks in
            if tracks[address] == nil, tracks.count >= Self.maxTracked {
                // Forget what has decayed to nothing; failing that, start over (errs to no block).
                tracks = tracks.filter { decayed($0.value, now: now, settings: settings) > 0.5 || $0.value.count > 0 && $0.value.minute == Int64(now / 60) }
                if tracks.count >= Self.maxTracked { tracks.removeAll() }
            }
            var track = tracks[address] ?? Track(scoredAt: now)
            // Rate: per-minute counts against an exponentially smoothed baseline.
            let minute = Int64(now / 60)
            var anomalies: [Anomaly] = []
            if minute != track.minute {
                let missed = Double(max(0, min(60, minute - track.minute - 1)))
                track.baseline = track.baseline * 0.7 + track.count * 0.3
                for _ in 0..<Int(missed) { track.baseline *= 0.7 }
                track.minute = minute
                track.count = 0
                track.alerted = false
                track.errors = 0
                track.errorAlerted = false
            }
            track.count += 1
            if failed { track.errors += 1 }
            if !track.alerted, track.count > settings.spikeFloor, track.count > 10 * max(track.baseline, 1) {
                track.alerted = true
                anomalies.append(.requestRateSpike)
            }
            if !track.errorAlerted, track.count >= 100, track.errors >= 0.9 * track.count {
                track.errorAlerted = true
                anomalies.append(.errorRatioSpike)
            }
            if bodyBytes > 0 {
                if track.bodies >= 20, bodyBytes > 1_048_576, Double(bodyBytes) > 50 * track.bodyMean { anomalies.append(.bodySizeOutlier) }
                track.bodyMean = track.bodies == 0 ? Double(bodyBytes) : track.bodyMean * 0.95 + Double(bodyBytes) * 0.05
                track.bodies = min(track.bodies + 1, 1000)
            }
            var block = false
            if let evidence {
                track.score = decayed(track, now: now, settings: settings) + weight(evidence, settings: settings)
                track.scoredAt = now
                if track.score >= settings.threshold {
                    block = true
                    track.score = 0
                }
            }
            tracks[address] = track
            return Verdict(block: block, score: track.score, anomalies: anomalies)
        }
    }

    /// The address's score now.
    package func score(_ address: String, now: Double, settings: Settings = Settings()) -> Double {
        tracks.withLock { $0[address].map { decayed($0, now: now, settings: settings) } ?? 0 }
    }

    /// Forgets an address (its block was lifted: it starts from nothing).
    package func forget(_ address: String) { _ = tracks.withLock { $0.removeValue(forKey: address) } }

    private func weight(_ evidence: Evidence, settings: Settings) -> Double {
        switch evidence {
        case .authFailure: return settings.authFailure
        case .probe: return settings.probe
        case .unknownPath: return settings.unknownPath
        }
    }

    private func decayed(_ track: Track, now: Double, settings: Settings) -> Double {
        guard track.score > 0 else { return 0 }
        let elapsed = max(0, now - track.scoredAt)
        return track.score * pow2(-elapsed / max(1, settings.halfLife))
    }

    /// 2^x without Foundation.
    private func pow2(_ x: Double) -> Double {
        // e^(x ln 2), by the series of e^y on y in [-1, 0] after halving steps.
        var exponent = x
        var result = 1.0
        while exponent < -1 {
            result *= 0.5
            exponent += 1
        }
        let y = exponent * 0.693_147_180_559_945_3
        var term = 1.0, sum = 1.0
        for n in 1..<20 {
            term *= y / Double(n)
            sum += term
        }
        return result * sum
    }
}
