import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A certificate chain (leaf first) and its private key, as PEM text — what every source
/// (files, self-signed, private CA, ACME) produces and the TLS listener serves — with what
/// `certs status` and the renewal checks read from the leaf.
package struct CertificateBundle: Sendable, Equatable {
    package let chainPEM: String
    package let keyPEM: String
    package let leaf: Certificate

    /// Parses `chainPEM` (one or more certificates, leaf first) and checks that `keyPEM` is a
    /// private key NIOSSL can serve and that it belongs to the leaf.
    package init(chainPEM: String, keyPEM: String) throws {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: chainPEM).filter { $0.discriminator == "CERTIFICATE" }
        } catch {
            throw CertificateSourceError.unreadable("the certificate chain is not PEM (\(error))")
        }
        guard let first = documents.first else { throw CertificateSourceError.unreadable("the certificate file holds no CERTIFICATE block") }
        do {
            leaf = try Certificate(pemDocument: first)
        } catch {
            throw CertificateSourceError.unreadable("the first certificate cannot be parsed (\(error))")
        }
        do {
            let key = try Certificate.PrivateKey(pemEncoded: keyPEM)
            guard key.publicKey == leaf.publicKey else {
                throw CertificateSourceError.unreadable("the private key does not belong to the first certificate of the chain")
            }
        } catch let error as CertificateSourceError {
            throw error
        } catch {
            // Keys X509 cannot read (say, an RSA key in an unusual encoding) may still be
            // fine for NIOSSL; the context below is the final word.
            guard (try? NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)) != nil else {
                throw CertificateSourceError.unreadable("the private key is not a PEM key (\(error))")
            }
        }
        self.chainPEM = chainPEM
        self.keyPEM = keyPEM
    }

    /// A bundle made here: `leaf` (and its issuers, leaf first) signed for `key`.
    package init(chain: [Certificate], key: Certificate.PrivateKey) throws {
        let pem = try chain.map { try $0.serializeAsPEM().pemString }.joined(separator: "\n") + "\n"
        try self.init(chainPEM: pem, keyPEM: try key.serializeAsPEM().pemString + "\n")
    }

    package var notValidBefore: Date { leaf.notValidBefore }
    package var notValidAfter: Date { leaf.notValidAfter }

    /// The names the leaf is for (its DNS and IP SANs).
    package var names: [String] {
        guard let sans = try? leaf.extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { name in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets): return Self.describeIP(Array(octets.bytes))
            default: return nil
            }
        }
    }

    /// The SHA-256 of the leaf's DER, as colon-separated hex (what browsers show).
    package var fingerprint: String {
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(leaf)) != nil else { return "" }
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// Whether the leaf is due for renewal at `now`: less than a third of its lifetime left.
    package func isDue(at now: Date) -> Bool {
        let lifetime = notValidAfter.timeIntervalSince(notValidBefore)
        return notValidAfter.timeIntervalSince(now) < lifetime / 3
    }

    /// A certificate date as logs and `certs status` show it (ISO 8601, UTC).
    package static func text(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// When renewal becomes due.
    package var renewalDate: Date {
        notValidAfter.addingTimeInterval(-notValidAfter.timeIntervalSince(notValidBefore) / 3)
    }

    /// The server context: TLS 1.2 and 1.3 only, forward-secret AEAD suites, ALPN `h2` (when
    /// `http2`) and `http/1.1`.
    package func serverContext(http2: Bool) throws -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            configuration.cipherSuites = "ECDHE+AESGCM:ECDHE+CHACHA20"
            configuration.applicationProtocols = http2 ? ["h2", "http/1.1"] : ["http/1.1"]
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw CertificateSourceError.unreadable("the certificate and key cannot be served (\(error))")
        }
    }

    static func describeIP(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return bytes.map { String($0) }.joined(separator: ".") }
        var groups: [String] = []
        for index in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16)) }
        // The longest run of zero groups becomes "::".
        var best = (start: -1, length: 0)
        var index = 0
        while index < 8 {
            guard groups[index] == "0" else {
                index += 1
                continue
            }
            var end = index
            while end < 8, groups[end] == "0" { end += 1 }
            if end - index > best.length, end - index > 1 { best = (index, end - index) }
            index = end
        }
        guard best.start >= 0 else { return groups.joined(separator: ":") }
        let head = groups[..<best.start].joined(separator: ":")
        let tail = groups[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }
}

/// Why a certificate could not be had, in words an operator can act on.
package enum CertificateSourceError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case storage(String)
    case acme(String)

    package var description: String {
        switch self {
        case .unreadable(let text), .storage(let text), .acme(let text): text
        }
    }
}
