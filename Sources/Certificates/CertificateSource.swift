import Foundation
import ProxyConfig

/// The certificate of one TLS mode: where the first one comes from, and when a newer one
/// replaces it. `dev-selfsigned` and `packaged-ca` make their own (and keep them under the
/// TLS directory, reused while valid); `https` reads the files and notices when they change;
/// `https-acme` is served by ``ACMESource``.
///
/// Used by one task (the certificate service), so a struct with mutating checks.
package struct CertificateSource: Sendable {
    package let mode: TLSMode
    let names: [String]
    /// The configured domains alone (what an ACME order is for).
    package let domains: [String]
    let directory: CertificateDirectory
    let certFile: String?
    let keyFile: String?
    /// What the files looked like when last read (`https`).
    private var stamp: FileStamp?

    package init(config: TLSConfig, directory: CertificateDirectory) {
        mode = config.mode
        names = CertificateIssuer.leafNames(config.domains)
        domains = config.domains
        self.directory = directory
        certFile = config.certFile
        keyFile = config.keyFile
    }

    /// The certificate to start with: read, reused or made now.
    package mutating func initial(now: Date = Date()) throws -> CertificateBundle {
        switch mode {
        case .https:
            return try readFiles()
        case .devSelfSigned:
            defer { stamp = FileStamp(directory.path("dev-selfsigned", "cert.pem"), directory.path("dev-selfsigned", "cert-key.pem")) }
            if let stored = try directory.bundle("dev-selfsigned", "cert"), !stored.isDue(at: now), Set(names).isSubset(of: Set(stored.names)) {
                return stored
            }
            let made = try CertificateIssuer.selfSigned(names: names, now: now)
            try directory.store(made, "dev-selfsigned", "cert")
            return made
        case .packagedCA:
            defer { stamp = FileStamp(directory.path("ca", "leaf.pem"), directory.path("ca", "leaf-key.pem")) }
            let root = try packagedRoot(now: now)
            if let stored = try directory.bundle("ca", "leaf"), !stored.isDue(at: now), Set(names).isSubset(of: Set(stored.names)),
                stored.leaf.issuer == root.leaf.subject, stored.chainPEM.contains(root.chainPEM.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return stored
            }
            return try issueLeaf(root: root, now: now)
        case .httpsACME:
            // The last certificate the CA issued, while it is valid; else a stand-in
            // self-signed one until the first issuance succeeds.
            if let stored = try directory.bundle("acme", "cert"), stored.notValidAfter > now { return stored }
            return try CertificateIssuer.selfSigned(names: names, now: now)
        case .localHTTP:
            throw CertificateSourceError.unreadable("\(mode.rawValue) has no certificate source of this kind")
        }
    }

    /// `https-acme`: whether `current` should be replaced by a new issuance now — it is the
    /// stand-in (not from the CA), a third of its life is left, or `llm-proxy certs renew`
    /// asked for one.
    package func acmeDue(current: CertificateBundle, now: Date = Date()) -> Bool {
        guard mode == .httpsACME else { return false }
        if FileManager.default.fileExists(atPath: directory.path("acme", "renew-now")) { return true }
        guard let stored = try? directory.bundle("acme", "cert"), stored == current else { return true }
        return current.isDue(at: now)
    }

    /// Keeps what the CA issued (and clears a pending renewal request).
    package func storeACME(_ bundle: CertificateBundle) throws {
        try directory.store(bundle, "acme", "cert")
        try? FileManager.default.removeItem(atPath: directory.path("acme", "renew-now"))
    }

    /// A newer certificate, when one is due: the files changed (`https`), or the leaf has a
    /// third of its life left (`dev-selfsigned`, `packaged-ca`). `force` re-reads the files
    /// whether or not they look changed (SIGHUP). Throws when a change could not be used —
    /// the caller keeps serving the current certificate.
    package mutating func refresh(current: CertificateBundle, now: Date = Date(), force: Bool = false) throws -> CertificateBundle? {
        switch mode {
        case .https:
            guard let certFile, let keyFile else { return nil }
            let seen = FileStamp(certFile, keyFile)
            guard force || seen != stamp else { return nil }
            let bundle = try readFiles()
            return bundle == current ? nil : bundle
        case .devSelfSigned:
            if let stored = try storedIfChanged("dev-selfsigned", "cert", current: current) { return stored }
            guard current.isDue(at: now) else { return nil }
            let made = try CertificateIssuer.selfSigned(names: names, now: now)
            try directory.store(made, "dev-selfsigned", "cert")
            stamp = FileStamp(directory.path("dev-selfsigned", "cert.pem"), directory.path("dev-selfsigned", "cert-key.pem"))
            return made
        case .packagedCA:
            if let stored = try storedIfChanged("ca", "leaf", current: current) { return stored }
            guard current.isDue(at: now) else { return nil }
            let leaf = try issueLeaf(root: try packagedRoot(now: now), now: now)
            stamp = FileStamp(directory.path("ca", "leaf.pem"), directory.path("ca", "leaf-key.pem"))
            return leaf
        case .localHTTP, .httpsACME:
            return nil
        }
    }

    /// The stored certificate, when its files changed since last looked at (`llm-proxy certs
    /// renew` wrote a new one) and it differs from `current`.
    private mutating func storedIfChanged(_ folder: String, _ name: String, current: CertificateBundle) throws -> CertificateBundle? {
        let seen = FileStamp(directory.path(folder, "\(name).pem"), directory.path(folder, "\(name)-key.pem"))
        guard let previous = stamp else {
            stamp = seen
            return nil
        }
        guard seen != previous else { return nil }
        stamp = seen
        guard let stored = try directory.bundle(folder, name), stored != current else { return nil }
        return stored
    }

    /// Issues a new certificate now, whatever is left of the current one (`certs renew`);
    /// the running gateway serves it within seconds.
    /// Nil in `https-acme`: the request is left for the running gateway, which orders it.
    package mutating func renewNow(now: Date = Date()) throws -> CertificateBundle? {
        switch mode {
        case .devSelfSigned:
            let made = try CertificateIssuer.selfSigned(names: names, now: now)
            try directory.store(made, "dev-selfsigned", "cert")
            return made
        case .packagedCA:
            return try issueLeaf(root: try packagedRoot(now: now), now: now)
        case .https:
            throw CertificateSourceError.unreadable("https mode serves your files: renew them with their CA; the gateway reloads them when they change")
        case .httpsACME:
            // The running gateway orders it: it answers the CA's challenges.
            try directory.write("\(Int(now.timeIntervalSince1970))\n", to: "acme", "renew-now")
            return nil
        case .localHTTP:
            throw CertificateSourceError.unreadable("\(mode.rawValue) has no certificate to renew")
        }
    }

    /// The stored certificate of a generated mode, without making one.
    package func stored() throws -> CertificateBundle? {
        switch mode {
        case .devSelfSigned: try directory.bundle("dev-selfsigned", "cert")
        case .packagedCA: try directory.bundle("ca", "leaf")
        case .httpsACME: try directory.bundle("acme", "cert")
        case .https, .localHTTP: nil
        }
    }

    /// The private CA's root: made once, kept for its ten years.
    package func packagedRoot(now: Date = Date()) throws -> CertificateBundle {
        if let root = try directory.bundle("ca", "root") { return root }
        let root = try CertificateIssuer.root(now: now)
        try directory.store(root, "ca", "root")
        return root
    }

    private func issueLeaf(root: CertificateBundle, now: Date) throws -> CertificateBundle {
        let leaf = try CertificateIssuer.leaf(names: names, issuedBy: root, now: now)
        try directory.store(leaf, "ca", "leaf")
        return leaf
    }

    private mutating func readFiles() throws -> CertificateBundle {
        guard let certFile, let keyFile else { throw CertificateSourceError.unreadable("https mode needs tls.cert_file and tls.key_file") }
        // The stamp is taken before reading: a change during the read is seen next time.
        let seen = FileStamp(certFile, keyFile)
        let chain: String
        let key: String
        do {
            chain = try String(contentsOfFile: certFile, encoding: .utf8)
        } catch {
            throw CertificateSourceError.unreadable("cannot read tls.cert_file \(certFile): \(error.localizedDescription)")
        }
        do {
            key = try String(contentsOfFile: keyFile, encoding: .utf8)
        } catch {
            throw CertificateSourceError.unreadable("cannot read tls.key_file \(keyFile): \(error.localizedDescription)")
        }
        let bundle = try CertificateBundle(chainPEM: chain, keyPEM: key)
        stamp = seen
        return bundle
    }
}

/// Size, modification time and inode of the two files: a changed stamp means "read again"
/// (a replacement by rename changes the inode even when size and time agree).
struct FileStamp: Equatable, Sendable {
    let parts: [Int64]

    init(_ files: String...) {
        var parts: [Int64] = []
        for file in files {
            var info = stat()
            if stat(file, &info) == 0 {
                parts += [Int64(info.st_size), Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec), Int64(info.st_ino)]
            } else {
                parts += [-1, -1, -1, -1]
            }
        }
        self.parts = parts
    }
}
