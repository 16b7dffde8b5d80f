import Foundation
import JWTKit

/// Admin sessions as HS256 JWTs: who, which session generation, when issued, when they end.
/// Signature and expiry are checked here; whether the subject is still the admin and the
/// generation still current is the API's check (``SessionGeneration``), on every request.
package final class AdminSessions: Sendable {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        /// The session generation the token was issued in; logging out moves past it.
        var gen: Int64
        var iat: IssuedAtClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    /// What a valid token says.
    struct Session: Equatable {
        let username: String
        let generation: Int64
    }

    private let keys: JWTKeyCollection
    /// Seconds a session lasts.
    let lifetime: Double

    package init(secret: String, lifetimeHours: Double) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        lifetime = lifetimeHours * 3600
    }

    /// A signed token for `username` in session generation `generation`, and when it expires.
    func issue(username: String, generation: Int64, now: Date = Date()) async throws -> (token: String, expires: Date) {
        let expires = now.addingTimeInterval(lifetime)
        let claims = Claims(sub: SubjectClaim(value: username), gen: generation, iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: expires))
        return (try await keys.sign(claims), expires)
    }

    /// The session a token carries, or nil when it is malformed, tampered with, expired, or
    /// from before session generations (no `gen`).
    func verify(_ token: String) async -> Session? {
        guard let claims = try? await keys.verify(token, as: Claims.self) else { return nil }
        return Session(username: claims.sub.value, generation: claims.gen)
    }
}
