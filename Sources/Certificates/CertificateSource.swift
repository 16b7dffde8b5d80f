import Foundation
import ProxyConfig

/// The certificate of one TLS mode: where the first one comes from, and when a newer one
/// replaces it. `dev-selfsigned` and `packaged-ca` make their own (and keep them under the
/// TLS directory, reused while valid); `https` reads the files and notices when they change;
/// `https-acme` keeps what the CA issued (the service orders it through ``ACMEClient``).
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
    /// What the watched files looked like when last read or written: the `https` files, or
    /// the kept certificate of a generated mode (which `llm-proxy certs renew` may replace).
    private var stamp: FileStamp?
    /// `https-acme`: the certificate the CA issued last (nil while the stand-in is served).
    private var issued: CertificateBundle?

    package init(config: TLSConfig, directory: CertificateDirectory) {
        mode = config.mode
        names = CertificateIssuer.leafNames(config.domains)
        domains = config.domains
        self.directory = directory
        certFile = config.certFile
        keyFile = config.keyFile
    }

    /// Where the mode keeps its certificate under the TLS directory (`NAME.pem`,
    /// `NAME-key.pem` in FOLDER); nil for `https` (the operator's files) and `local-http`.
    private var kept: (folder: String, name: String)? {
        switch mode {
        case .devSelfSigned: ("dev-selfsigned", "cert")
        case .packagedCA: ("ca", "leaf")
        case .httpsACME: ("acme", "cert")
        case .https, .localHTTP: nil
        }
    }

    private var keptStamp: FileStamp? {
        kept.map { FileStamp(directory.path($0.folder, "\($0.name).pem"), directory.path($0.folder, "\($0.name)-key.pem")) }
    }

    /// The certificate to start with: read, reused or made now.
    package mutating func initial(now: Date = Date()) throws -> CertificateBundle {
        switch mode {
        case .https:
            return try readFiles()
        case .devSelfSigned:
            if let stored = try stored(), !stored.isDue(at: now), Set(names).isSubset(of: Set(stored.names)) {
                stamp = keptStamp
                return stored
            }
            return try make(now: now)
        case .packagedCA:
            let root = try packagedRoot(now: now)
            if let stored = try stored(), !stored.isDue(at: now), Set(names).isSubset(of: Set(stored.names)),
                stored.leaf.issuer == root.leaf.subject, stored.chainPEM.contains(root.chainPEM.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                stamp = keptStamp
                return stored
            }
            return try make(now: now)
        case .httpsACME:
            // The last certificate the CA issued, while it is valid; else a stand-in
            // self-signed one until the first issuance succeeds.
            if let stored = try stored(), stored.notValidAfter > now {
                issued = stored
                return stored
            }
            return try CertificateIssuer.selfSigned(names: names, now: now)
        case .localHTTP:
            throw CertificateSourceError.unreadable("\(mode.rawValue) has no certificate source of this kind")
        }
    }

    /// `https-acme`: whether `current` should be replaced by a new issuance now — it is the
    /// stand-in (not from the CA), a third of its life is left, or `llm-proxy certs renew`
    /// asked for one. Asked every 2 s: a file test and a date comparison.
    package func acmeDue(current: CertificateBundle, now: Date = Date()) -> Bool {
        guard mode == .httpsACME else { return false }
        if FileManager.default.fileExists(atPath: directory.path("acme", "renew-now")) { return true }
        return issued != current || current.isDue(at: now)
    }

    /// Keeps what the CA issued (and clears a pending renewal request).
    package mutating func storeACME(_ bundle: CertificateBundle) throws {
        try directory.store(bundle, "acme", "cert")
        issued = bundle
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
        case .devSelfSigned, .packagedCA:
            if let stored = try storedIfChanged(current: current) { return stored }
            return current.isDue(at: now) ? try make(now: now) : nil
        case .localHTTP, .httpsACME:
            return nil
        }
    }

    /// The kept certificate, when its files changed since last looked at (`llm-proxy certs
    /// renew` wrote a new one) and it differs from `current`.
    private mutating func storedIfChanged(current: CertificateBundle) throws -> CertificateBundle? {
        let seen = keptStamp
        guard seen != stamp else { return nil }
        stamp = seen
        guard let stored = try stored(), stored != current else { return nil }
        return stored
    }

    /// Issues a new certificate now, whatever is left of the current one (`certs renew`);
    /// the running gateway serves it within seconds.
    /// Nil in `https-acme`: the request is left for the running gateway, which orders it.
    package mutating func renewNow(now: Date = Date()) throws -> CertificateBundle? {
        switch mode {
        case .devSelfSigned, .packagedCA:
            return try make(now: now)
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

    /// The kept certificate of a generated mode (or the last one the CA issued), without
    /// making one.
    package func stored() throws -> CertificateBundle? {
        guard let kept else { return nil }
        return try directory.bundle(kept.folder, kept.name)
    }

    /// The private CA's root: made once, kept for its ten years.
    package func packagedRoot(now: Date = Date()) throws -> CertificateBundle {
        if let root = try directory.bundle("ca", "root") { return root }
        let root = try CertificateIssuer.root(now: now)
        try directory.store(root, "ca", "root")
        return root
    }

    /// A new certificate of a generated mode — self-signed, or a leaf from the private CA —
    /// kept, and its files' stamp noted (so it is not taken for an outside replacement).
    private mutating func make(now: Date) throws -> CertificateBundle {
        guard let kept, mode == .devSelfSigned || mode == .packagedCA else {
            throw CertificateSourceError.unreadable("\(mode.rawValue) does not make its own certificate")
        }
        let made =
            mode == .devSelfSigned
            ? try CertificateIssuer.selfSigned(names: names, now: now)
            : try CertificateIssuer.leaf(names: names, issuedBy: try packagedRoot(now: now), now: now)
        try directory.store(made, kept.folder, kept.name)
        stamp = keptStamp
        return made
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
