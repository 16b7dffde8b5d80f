import Crypto
import Foundation
import SwiftASN1
import X509

/// Makes the certificates the gateway signs itself: a self-signed leaf (`dev-selfsigned`),
/// a root CA and leaves issued from it (`packaged-ca`). Every key is ECDSA P-256; every
/// leaf is for localhost, 127.0.0.1, ::1 and the configured names, for server
/// authentication only.
package enum CertificateIssuer {
    /// Leaves live 90 days (renewed when 30 are left), as ACME's do.
    package static let leafLifetime: TimeInterval = 90 * 86_400
    /// The root lives 10 years.
    package static let rootLifetime: TimeInterval = 3_650 * 86_400

    /// The names every leaf carries, then `extra` (deduplicated, in order).
    package static func leafNames(_ extra: [String]) -> [String] {
        var names = ["localhost", "127.0.0.1", "::1"]
        for name in extra where !names.contains(name.lowercased()) { names.append(name.lowercased()) }
        return names
    }

    /// A self-signed leaf for `names`.
    package static func selfSigned(names: [String], now: Date = Date()) throws -> CertificateBundle {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            OrganizationName("LLMProxy")
            CommonName(names.first ?? "localhost")
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey, notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(leafLifetime), issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try leafExtensions(names: names, key: key.publicKey, issuerKey: nil), issuerPrivateKey: key)
        return try CertificateBundle(chain: [leaf], key: key)
    }

    /// A root CA for the private-CA mode.
    package static func root(now: Date = Date()) throws -> CertificateBundle {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            OrganizationName("LLMProxy")
            CommonName("LLMProxy local root CA")
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: key.publicKey)
        }
        let root = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey, notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(rootLifetime), issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: key)
        return try CertificateBundle(chain: [root], key: key)
    }

    /// A leaf for `names` signed by `root`; its chain is the leaf, then the root.
    package static func leaf(names: [String], issuedBy root: CertificateBundle, now: Date = Date()) throws -> CertificateBundle {
        let rootKey = try Certificate.PrivateKey(pemEncoded: root.keyPEM)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            OrganizationName("LLMProxy")
            CommonName(names.first ?? "localhost")
        }
        // Never valid past the root.
        let notAfter = min(now.addingTimeInterval(leafLifetime), root.notValidAfter)
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey, notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: notAfter, issuer: root.leaf.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try leafExtensions(names: names, key: key.publicKey, issuerKey: rootKey.publicKey), issuerPrivateKey: rootKey)
        return try CertificateBundle(chain: [leaf, root.leaf], key: key)
    }

    /// A certificate signing request for `names` (ACME's finalize step).
    package static func signingRequest(names: [String], key: Certificate.PrivateKey) throws -> [UInt8] {
        let subject = try DistinguishedName { CommonName(names.first ?? "") }
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(try names.map(generalName)) }
        let request = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: key,
            attributes: try CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    static func leafExtensions(names: [String], key: Certificate.PublicKey, issuerKey: Certificate.PublicKey?) throws -> Certificate.Extensions {
        let sans = try names.map(generalName)
        return try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(sans)
            SubjectKeyIdentifier(hash: key)
            if let issuerKey { AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: issuerKey).keyIdentifier) }
        }
    }

    /// A SAN: an IP address when the name is one, else a DNS name.
    static func generalName(_ name: String) throws -> GeneralName {
        if let bytes = IPBytes.parse(name) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))) }
        return .dnsName(name)
    }
}

/// IPv4 and IPv6 text to bytes (for SANs), without Foundation's resolver.
enum IPBytes {
    static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parse6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isNumber), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    static func parse6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            guard !part.isEmpty else { return [] }
            var out: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}
