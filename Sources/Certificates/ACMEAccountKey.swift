import Crypto
import Foundation

/// The ACME account's key (ECDSA P-256) and the JSON Web Signatures (RFC 7515, flattened JSON
/// serialization, ES256) every ACME request is made of (RFC 8555 §6.2).
struct ACMEAccountKey: Sendable {
    let key: P256.Signing.PrivateKey

    init(_ key: P256.Signing.PrivateKey = P256.Signing.PrivateKey()) { self.key = key }

    init(pem: String) throws { key = try P256.Signing.PrivateKey(pemRepresentation: pem) }

    var pem: String { key.pemRepresentation }

    /// The public key as a JWK, members in the order RFC 7638 hashes them.
    var jwk: String {
        let raw = key.publicKey.rawRepresentation
        return #"{"crv":"P-256","kty":"EC","x":"\#(Base64URL.encode(raw.prefix(32)))","y":"\#(Base64URL.encode(raw.suffix(32)))"}"#
    }

    /// The JWK thumbprint (RFC 7638), base64url: the account's part of every key authorization.
    var thumbprint: String { Base64URL.encode(SHA256.hash(data: Array(jwk.utf8))) }

    /// `token.thumbprint` (RFC 8555 §8.1).
    func keyAuthorization(_ token: String) -> String { token + "." + thumbprint }

    /// A signed request body for `url`: with the account URL as `kid` once there is one, else
    /// the JWK (new account). `payload` nil is POST-as-GET (an empty payload).
    func sign(url: String, nonce: String, kid: String?, payload: String?) throws -> String {
        let identity = kid.map { #""kid":\#(Self.quoted($0))"# } ?? #""jwk":\#(jwk)"#
        let header = #"{"alg":"ES256",\#(identity),"nonce":\#(Self.quoted(nonce)),"url":\#(Self.quoted(url))}"#
        let protected = Base64URL.encode(Array(header.utf8))
        let body = payload.map { Base64URL.encode(Array($0.utf8)) } ?? ""
        let signature = try key.signature(for: Array("\(protected).\(body)".utf8))
        return #"{"protected":"\#(protected)","payload":"\#(body)","signature":"\#(Base64URL.encode(signature.rawRepresentation))"}"#
    }

    static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

/// Base64 with the URL alphabet and no padding (RFC 4648 §5), as JOSE wants it.
package enum Base64URL {
    package static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
