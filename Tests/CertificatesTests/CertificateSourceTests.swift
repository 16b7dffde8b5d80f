import Foundation
import NIOSSL
import ProxyConfig
import Testing
import X509

@testable import Certificates

@Suite("Certificates: self-signed, private CA, files")
struct CertificateSourceTests {
    static func folder() -> String { NSTemporaryDirectory() + "llmproxy-certs-\(UUID().uuidString)" }

    @Test("a self-signed leaf is for localhost, 127.0.0.1, ::1 and the configured names, ECDSA P-256, server auth, servable")
    func selfSigned() throws {
        let bundle = try CertificateIssuer.selfSigned(names: CertificateIssuer.leafNames(["llm.example.com", "10.0.0.7"]))
        #expect(bundle.names == ["localhost", "127.0.0.1", "::1", "llm.example.com", "10.0.0.7"])
        #expect(bundle.leaf.signatureAlgorithm == .ecdsaWithSHA256)
        #expect(try bundle.leaf.extensions.extendedKeyUsage?.contains(.serverAuth) == true)
        #expect(try bundle.leaf.extensions.basicConstraints == .notCertificateAuthority)
        #expect(bundle.fingerprint.split(separator: ":").count == 32)
        #expect(!bundle.isDue(at: Date()))
        #expect(bundle.isDue(at: Date().addingTimeInterval(61 * 86_400)))
        _ = try bundle.serverContext(http2: true)
    }

    @Test("dev-selfsigned keeps its certificate across starts, and makes a new one when the names change or it is due")
    func devSelfSignedReuse() throws {
        let directory = CertificateDirectory(root: Self.folder())
        var config = TLSConfig()
        config.mode = .devSelfSigned
        var source = CertificateSource(config: config, directory: directory)
        let first = try source.initial()
        var again = CertificateSource(config: config, directory: directory)
        #expect(try again.initial().fingerprint == first.fingerprint)
        #expect(try again.refresh(current: first) == nil)
        let due = try #require(try again.refresh(current: first, now: Date().addingTimeInterval(70 * 86_400)))
        #expect(due.fingerprint != first.fingerprint)
        config.domains = ["gateway.internal"]
        var renamed = CertificateSource(config: config, directory: directory)
        #expect(try renamed.initial().names.contains("gateway.internal"))
        let keyFile = directory.path("dev-selfsigned", "cert-key.pem")
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("packaged-ca: one root, kept; leaves issued from it, signed by it, renewed when due")
    func packagedCA() throws {
        let directory = CertificateDirectory(root: Self.folder())
        var config = TLSConfig()
        config.mode = .packagedCA
        var source = CertificateSource(config: config, directory: directory)
        let leaf = try source.initial()
        let root = try source.packagedRoot()
        #expect(try source.packagedRoot().fingerprint == root.fingerprint)
        #expect(try root.leaf.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(leaf.leaf.issuer == root.leaf.subject)
        #expect(root.leaf.publicKey.isValidSignature(leaf.leaf.signature, for: leaf.leaf))
        #expect(leaf.chainPEM.components(separatedBy: "BEGIN CERTIFICATE").count == 3, "leaf then root")
        var again = CertificateSource(config: config, directory: directory)
        #expect(try again.initial().fingerprint == leaf.fingerprint)
        let renewed = try #require(try again.refresh(current: leaf, now: Date().addingTimeInterval(70 * 86_400)))
        #expect(renewed.fingerprint != leaf.fingerprint)
        #expect(root.leaf.publicKey.isValidSignature(renewed.leaf.signature, for: renewed.leaf))
    }

    @Test("https files: read, re-read when replaced, and a broken replacement is refused (the caller keeps the old one)")
    func files() throws {
        let folder = Self.folder()
        let directory = CertificateDirectory(root: folder)
        let first = try CertificateIssuer.selfSigned(names: ["localhost"])
        try directory.store(first, "files", "cert")
        var config = TLSConfig()
        config.mode = .https
        config.certFile = directory.path("files", "cert.pem")
        config.keyFile = directory.path("files", "cert-key.pem")
        var source = CertificateSource(config: config, directory: directory)
        #expect(try source.initial() == first)
        #expect(try source.refresh(current: first) == nil)
        let second = try CertificateIssuer.selfSigned(names: ["localhost"])
        try directory.store(second, "files", "cert")
        #expect(try source.refresh(current: first) == second)
        // A key that does not belong to the chain.
        try directory.write(first.keyPEM, to: "files", "cert-key.pem")
        #expect(throws: CertificateSourceError.self) { try source.refresh(current: second) }
        try directory.write("not a certificate", to: "files", "cert.pem")
        #expect(throws: CertificateSourceError.self) { try source.refresh(current: second) }
    }

    @Test("IP SANs: text to bytes and back, v4 and v6")
    func ipAddresses() {
        for text in ["127.0.0.1", "10.0.0.7", "::1", "2001:db8::7", "fe80::1:2", "1:2:3:4:5:6:7:8"] {
            let bytes = IPBytes.parse(text)
            #expect(bytes != nil, "\(text)")
            #expect(bytes.map(CertificateBundle.describeIP) == text)
        }
        for bad in ["256.0.0.1", "1.2.3", "1::2::3", "example.com", "1:2:3:4:5:6:7:8:9"] { #expect(IPBytes.parse(bad) == nil, "\(bad)") }
    }
}
