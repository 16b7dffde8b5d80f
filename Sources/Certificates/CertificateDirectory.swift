import Foundation

/// Where generated keys and certificates are kept: one folder per source under the TLS
/// directory (`dev-selfsigned/`, `ca/`, `acme/`), readable by the gateway's user only.
/// Files are written to a temporary name and renamed, so a crash never leaves half a key.
package struct CertificateDirectory: Sendable {
    package let root: String

    package init(root: String) { self.root = root }

    package func path(_ parts: String...) -> String {
        ([root] + parts).joined(separator: "/")
    }

    /// The text of `parts`, nil when there is no such file.
    package func read(_ parts: String...) throws -> String? {
        let file = ([root] + parts).joined(separator: "/")
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        do {
            return try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw CertificateSourceError.storage("cannot read \(file): \(error.localizedDescription)")
        }
    }

    /// Writes `text` to `parts` (mode 0600; folders 0700).
    package func write(_ text: String, to parts: String...) throws {
        let file = ([root] + parts).joined(separator: "/")
        let folder = (file as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let temporary = folder + "/.\((file as NSString).lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CertificateSourceError.storage("cannot write \(temporary)")
            }
            if rename(temporary, file) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: temporary)
                throw CertificateSourceError.storage("cannot move \(temporary) to \(file): \(reason)")
            }
        } catch let error as CertificateSourceError {
            throw error
        } catch {
            throw CertificateSourceError.storage("cannot write \(file): \(error.localizedDescription); set tls.directory to a writable folder")
        }
    }

    /// A bundle stored as `<name>.pem` and `<name>-key.pem` under `folder`.
    package func bundle(_ folder: String, _ name: String) throws -> CertificateBundle? {
        guard let chain = try read(folder, "\(name).pem"), let key = try read(folder, "\(name)-key.pem") else { return nil }
        return try CertificateBundle(chainPEM: chain, keyPEM: key)
    }

    package func store(_ bundle: CertificateBundle, _ folder: String, _ name: String) throws {
        // The key first: a chain without its key is never left behind as the newer file.
        try write(bundle.keyPEM, to: folder, "\(name)-key.pem")
        try write(bundle.chainPEM, to: folder, "\(name).pem")
    }
}
