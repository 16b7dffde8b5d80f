import Crypto
import Foundation
import NIOHTTP1
import Testing

@testable import Certificates

@Suite("ACME account key and JWS")
struct ACMEAccountKeyTests {
    static func decode(_ text: String) -> Data? {
        var base = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base.count % 4 != 0 { base += "=" }
        return Data(base64Encoded: base)
    }

    @Test("a signed request is flattened JWS: ES256 over protected.payload, jwk before the account exists, kid after, nonce and url in the header")
    func signature() throws {
        let key = ACMEAccountKey()
        let body = try key.sign(url: "https://ca.example/new-acct", nonce: "n0nce", kid: nil, payload: #"{"termsOfServiceAgreed":true}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
        let protected = try #require(object["protected"]), payload = try #require(object["payload"]), signature = try #require(object["signature"])
        let headerData = try #require(Self.decode(protected))
        let header = try #require(try JSONSerialization.jsonObject(with: headerData) as? [String: Any])
        #expect(header["alg"] as? String == "ES256" && header["nonce"] as? String == "n0nce" && header["url"] as? String == "https://ca.example/new-acct")
        #expect(header["jwk"] != nil && header["kid"] == nil)
        let payloadData = try #require(Self.decode(payload))
        #expect(String(decoding: payloadData, as: UTF8.self) == #"{"termsOfServiceAgreed":true}"#)
        let signatureData = try #require(Self.decode(signature))
        let raw = try P256.Signing.ECDSASignature(rawRepresentation: signatureData)
        #expect(key.key.publicKey.isValidSignature(raw, for: Array("\(protected).\(payload)".utf8)))
        let asGet = try key.sign(url: "https://ca.example/order/1", nonce: "n", kid: "https://ca.example/acct/7", payload: nil)
        #expect(asGet.contains(#""payload":"""#))
        let getHeader = try #require((try JSONSerialization.jsonObject(with: Data(asGet.utf8)) as? [String: String])?["protected"])
        let getHeaderData = try #require(Self.decode(getHeader))
        #expect(String(decoding: getHeaderData, as: UTF8.self).contains(#""kid":"https://ca.example/acct/7""#))
    }

    @Test("the thumbprint is RFC 7638's: SHA-256 of the JWK's required members in order, base64url; key authorizations are token.thumbprint")
    func thumbprint() throws {
        let key = ACMEAccountKey()
        let jwk = try #require(try JSONSerialization.jsonObject(with: Data(key.jwk.utf8)) as? [String: String])
        #expect(Array(jwk.keys).sorted() == ["crv", "kty", "x", "y"])
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(jwk["x"]!)","y":"\#(jwk["y"]!)"}"#
        #expect(key.thumbprint == Base64URL.encode(SHA256.hash(data: Array(canonical.utf8))))
        #expect(!key.thumbprint.contains("=") && !key.thumbprint.contains("+") && !key.thumbprint.contains("/"))
        #expect(key.keyAuthorization("tok") == "tok." + key.thumbprint)
        #expect(try ACMEAccountKey(pem: key.pem).thumbprint == key.thumbprint)
    }
}

@Suite("ACME refusals in words")
struct ACMERefusalTests {
    @Test("a rate limit says so, with the CA's retry time and that the current certificate stays; other problems name their type and detail")
    func refusals() {
        var headers = HTTPHeaders()
        headers.add(name: "Retry-After", value: "3600")
        let limited = ACMEClient.Session.refusal(
            status: 429, headers: headers,
            body: ["type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many certificates already issued for example.com"],
            url: "https://ca/new-order")
        #expect(limited.description.contains("rate limit was reached (retry after 3600)"))
        #expect(limited.description.contains("too many certificates") && limited.description.contains("current certificate stays in use"))
        let other = ACMEClient.Session.refusal(
            status: 403, headers: HTTPHeaders(), body: ["type": "urn:ietf:params:acme:error:unauthorized", "detail": "account is deactivated"],
            url: "https://ca/new-order")
        #expect(other.description == "the CA refused https://ca/new-order: unauthorized: account is deactivated")
        #expect(
            ACMEClient.challengeError(["challenges": [["type": "http-01", "error": ["type": "urn:ietf:params:acme:error:connection", "detail": "refused"]]]])
                == "connection: refused")
    }
}
