import Certificates
import Crypto
import Foundation

/// HTTP-01: the key authorization is served on the plain port at
/// `/.well-known/acme-challenge/TOKEN` (``HTTPSRedirect``) while the CA looks.
struct HTTP01Solver: ACMEChallengeSolver {
    let responses: ChallengeResponses

    var type: String { "http-01" }

    func present(domain: String, token: String, keyAuthorization: String) async throws {
        responses.set(token, keyAuthorization)
    }

    func cleanup(domain: String, token: String, keyAuthorization: String) async {
        responses.remove(token)
    }
}

/// DNS-01 through the configured hook: `HOOK present DOMAIN VALUE` must create the TXT record
/// `_acme-challenge.DOMAIN` with VALUE (and wait until it is visible), `HOOK cleanup DOMAIN
/// VALUE` remove it. VALUE is the base64url SHA-256 of the key authorization (RFC 8555 §8.4).
/// The hook gets 120 s; a non-zero exit fails the order with its output.
struct DNSHookSolver: ACMEChallengeSolver {
    let hook: String

    var type: String { "dns-01" }

    static func txtValue(_ keyAuthorization: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(keyAuthorization.utf8)))
    }

    func present(domain: String, token: String, keyAuthorization: String) async throws {
        try await run("present", domain, Self.txtValue(keyAuthorization))
    }

    func cleanup(domain: String, token: String, keyAuthorization: String) async {
        try? await run("cleanup", domain, Self.txtValue(keyAuthorization))
    }

    private func run(_ action: String, _ domain: String, _ value: String) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hook)
        process.arguments = [action, domain, value]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            throw CertificateSourceError.acme("cannot run tls.acme_dns_hook \(hook): \(error.localizedDescription)")
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw CertificateSourceError.acme("tls.acme_dns_hook \(hook) \(action) \(domain) did not finish within 120 s")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        guard process.terminationStatus == 0 else {
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile().prefix(2000), as: UTF8.self)
            throw CertificateSourceError.acme("tls.acme_dns_hook \(hook) \(action) \(domain) failed (exit \(process.terminationStatus)): \(text)")
        }
    }
}
