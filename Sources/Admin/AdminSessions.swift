import Foundation
import JWTKit

/// Admin sessions as HS256 JWTs: who, when issued, when they end. Tokens are checked for
/// signature and expiry on every admin request; nothing about a session is stored.
public final class AdminSessions: Sendable {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var iat: IssuedAtClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    private let keys: JWTKeyCollection
    /// Seconds a session lasts.
    let lifetime: Double

    public init(secret: String, lifetimeHours: Double) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        lifetime = lifetimeHours * 3600
    }

    /// A signed token for `username`, and when it expires.
    func issue(username: String, now: Date = Date()) async throws -> (token: String, expires: Date) {
        let expires = now.addingTimeInterval(lifetime)
        let claims = Claims(sub: SubjectClaim(value: username), iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: expires))
        return (try await keys.sign(claims), expires)
    }

    /// The user a token was issued to, or nil when it is malformed, tampered with or expired.
    func verify(_ token: String) async -> String? {
        guard let claims = try? await keys.verify(token, as: Claims.self) else { return nil }
        return claims.sub.value
    }
}
