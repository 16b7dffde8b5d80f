import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import X509

/// Where an ACME CA checks control of a name: HTTP-01 answers on the plain port
/// (`/.well-known/acme-challenge/TOKEN`), or DNS-01 through a hook that sets a TXT record.
package protocol ACMEChallengeSolver: Sendable {
    /// The challenge type this solver answers (`http-01`, `dns-01`).
    var type: String { get }
    func present(domain: String, token: String, keyAuthorization: String) async throws
    func cleanup(domain: String, token: String, keyAuthorization: String) async
}

/// An RFC 8555 client: account (made once, kept), order, authorizations by the configured
/// solver, finalize with a CSR from swift-certificates, certificate chain download. Every
/// request is a JWS signed with the account key; nonces are taken from each answer and a
/// `badNonce` refusal is retried once. Errors name what failed in words an operator can act
/// on: the directory unreachable, a rate limit (with its retry time), a failed challenge with
/// the CA's reason.
package struct ACMEClient: Sendable {
    let directoryURL: String
    let email: String?
    let caFile: String?
    let storage: CertificateDirectory

    package init(directoryURL: String, email: String?, caFile: String?, storage: CertificateDirectory) {
        self.directoryURL = directoryURL
        self.email = email
        self.caFile = caFile
        self.storage = storage
    }

    /// A certificate for `domains`, with a new P-256 key, proved through `solver`.
    package func issue(domains: [String], solver: any ACMEChallengeSolver, timeout: Duration = .seconds(120)) async throws -> CertificateBundle {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw CertificateSourceError.acme("cannot read tls.acme_ca_file \(caFile): \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let bundle = try await issue(domains: domains, solver: solver, client: client, timeout: timeout)
            try? await client.shutdown()
            return bundle
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func issue(domains: [String], solver: any ACMEChallengeSolver, client: HTTPClient, timeout: Duration) async throws -> CertificateBundle {
        var session = try await Session.open(client: client, directoryURL: directoryURL)
        let account = try accountKey()
        let kid = try await session.account(key: account, email: email, storage: storage)
        let deadline = ContinuousClock.now + timeout

        // The order, and every authorization it needs.
        let identifiers = domains.map { #"{"type":"dns","value":\#(ACMEAccountKey.quoted($0))}"# }.joined(separator: ",")
        var (order, orderURL) = try await session.post(session.directory.newOrder, #"{"identifiers":[\#(identifiers)]}"#, key: account, kid: kid)
        for authorizationURL in order["authorizations"] as? [String] ?? [] {
            let (authorization, _) = try await session.post(authorizationURL, nil, key: account, kid: kid)
            if authorization["status"] as? String == "valid" { continue }
            let domain = (authorization["identifier"] as? [String: Any])?["value"] as? String ?? "?"
            guard let challenge = (authorization["challenges"] as? [[String: Any]] ?? []).first(where: { $0["type"] as? String == solver.type }),
                let token = challenge["token"] as? String, let challengeURL = challenge["url"] as? String
            else {
                throw CertificateSourceError.acme("the CA offers no \(solver.type) challenge for \(domain)")
            }
            let keyAuthorization = account.keyAuthorization(token)
            try await solver.present(domain: domain, token: token, keyAuthorization: keyAuthorization)
            do {
                _ = try await session.post(challengeURL, "{}", key: account, kid: kid)
                try await session.poll(authorizationURL, key: account, kid: kid, until: deadline) { body in
                    switch body["status"] as? String {
                    case "valid": return true
                    case "invalid", "deactivated", "expired", "revoked":
                        throw CertificateSourceError.acme("the \(solver.type) challenge for \(domain) failed: \(Self.challengeError(body))")
                    default: return false
                    }
                }
            } catch {
                await solver.cleanup(domain: domain, token: token, keyAuthorization: keyAuthorization)
                throw error
            }
            await solver.cleanup(domain: domain, token: token, keyAuthorization: keyAuthorization)
        }

        // Finalize with a CSR for a new key, wait for the certificate, download the chain.
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let csr = Base64URL.encode(try CertificateIssuer.signingRequest(names: domains, key: key))
        guard let finalize = order["finalize"] as? String, let orderURL else { throw CertificateSourceError.acme("the CA's order has no finalize URL") }
        _ = try await session.post(finalize, #"{"csr":"\#(csr)"}"#, key: account, kid: kid)
        try await session.poll(orderURL, key: account, kid: kid, until: deadline) { body in
            order = body
            switch body["status"] as? String {
            case "valid": return true
            case "invalid": throw CertificateSourceError.acme("the CA refused the order: \(Self.problemText(body["error"]))")
            default: return false
            }
        }
        guard let certificateURL = order["certificate"] as? String else { throw CertificateSourceError.acme("the CA's valid order has no certificate URL") }
        let chain = try await session.postForText(certificateURL, key: account, kid: kid)
        return try CertificateBundle(chainPEM: chain, keyPEM: try key.serializeAsPEM().pemString + "\n")
    }

    /// The account key, made and kept on first use (the account is reused across restarts).
    func accountKey() throws -> ACMEAccountKey {
        if let pem = try storage.read("acme", "account-key.pem") { return try ACMEAccountKey(pem: pem) }
        let key = ACMEAccountKey()
        try storage.write(key.pem, to: "acme", "account-key.pem")
        return key
    }

    static func challengeError(_ authorization: [String: Any]) -> String {
        for challenge in authorization["challenges"] as? [[String: Any]] ?? [] {
            if let error = challenge["error"] { return problemText(error) }
        }
        return "no reason given"
    }

    static func problemText(_ problem: Any?) -> String {
        guard let problem = problem as? [String: Any] else { return "no reason given" }
        let type = (problem["type"] as? String ?? "").replacingOccurrences(of: "urn:ietf:params:acme:error:", with: "")
        return "\(type): \(problem["detail"] as? String ?? "")"
    }

    /// The directory, the current nonce and the HTTP client of one issuance.
    struct Session {
        struct Directory {
            let newNonce: String
            let newAccount: String
            let newOrder: String
        }

        let client: HTTPClient
        let directory: Directory
        var nonce: String?

        static func open(client: HTTPClient, directoryURL: String) async throws -> Session {
            let body: [String: Any]
            do {
                var request = HTTPClientRequest(url: directoryURL)
                request.method = .GET
                let response = try await client.execute(request, timeout: .seconds(30))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                guard response.status == .ok, let parsed = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any] else {
                    throw CertificateSourceError.acme("the ACME directory \(directoryURL) answered \(response.status.code), not a directory")
                }
                body = parsed
            } catch let error as CertificateSourceError {
                throw error
            } catch {
                throw CertificateSourceError.acme("cannot reach the ACME directory \(directoryURL): \(error); check tls.acme_directory and the network")
            }
            guard let newNonce = body["newNonce"] as? String, let newAccount = body["newAccount"] as? String, let newOrder = body["newOrder"] as? String
            else {
                throw CertificateSourceError.acme("the ACME directory \(directoryURL) lacks newNonce, newAccount or newOrder")
            }
            return Session(client: client, directory: Directory(newNonce: newNonce, newAccount: newAccount, newOrder: newOrder))
        }

        /// The account's URL (its `kid`): registered once (terms agreed, contact), kept in
        /// `acme/account.json`, looked up again (`onlyReturnExisting`) when the file is gone.
        mutating func account(key: ACMEAccountKey, email: String?, storage: CertificateDirectory) async throws -> String {
            if let saved = try storage.read("acme", "account.json"),
                let url = (try? JSONSerialization.jsonObject(with: Data(saved.utf8)) as? [String: Any])?["url"] as? String
            {
                return url
            }
            let contact = email.map { #","contact":[\#(ACMEAccountKey.quoted("mailto:" + $0))]"# } ?? ""
            let (_, location) = try await post(directory.newAccount, #"{"termsOfServiceAgreed":true\#(contact)}"#, key: key, kid: nil)
            guard let location else { throw CertificateSourceError.acme("the CA created the account but named no account URL") }
            try storage.write(#"{"url":\#(ACMEAccountKey.quoted(location))}"#, to: "acme", "account.json")
            return location
        }

        /// A signed POST (`payload` nil: POST-as-GET); its JSON body and `Location`.
        mutating func post(_ url: String, _ payload: String?, key: ACMEAccountKey, kid: String?) async throws -> ([String: Any], String?) {
            let (bytes, headers) = try await exchange(url, payload, key: key, kid: kid)
            return (Self.json(bytes), headers.first(name: "location"))
        }

        /// A signed POST-as-GET for text (the certificate chain, PEM).
        mutating func postForText(_ url: String, key: ACMEAccountKey, kid: String) async throws -> String {
            String(decoding: try await exchange(url, nil, key: key, kid: kid).body, as: UTF8.self)
        }

        /// Asks `url` until `done` says so (it throws for a final failure), waiting as the
        /// CA's `Retry-After` says (1 s by default, at most 10 s).
        mutating func poll(
            _ url: String, key: ACMEAccountKey, kid: String, until deadline: ContinuousClock.Instant, done: ([String: Any]) throws -> Bool
        ) async throws {
            while true {
                let (bytes, headers) = try await exchange(url, nil, key: key, kid: kid)
                if try done(Self.json(bytes)) { return }
                guard ContinuousClock.now < deadline else { throw CertificateSourceError.acme("the CA did not finish \(url) in time") }
                let wait = min(10, max(1, Int(headers.first(name: "retry-after") ?? "") ?? 1))
                try await Task.sleep(for: .seconds(wait))
            }
        }

        /// One signed request's body and headers; a refusal (not 2xx) thrown in words.
        private mutating func exchange(_ url: String, _ payload: String?, key: ACMEAccountKey, kid: String?) async throws -> (
            body: [UInt8], headers: HTTPHeaders
        ) {
            let (status, headers, bytes) = try await send(url, payload, key: key, kid: kid)
            guard (200..<300).contains(status) else { throw Self.refusal(status: status, headers: headers, body: Self.json(bytes), url: url) }
            return (bytes, headers)
        }

        static func json(_ bytes: [UInt8]) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        }

        private mutating func send(_ url: String, _ payload: String?, key: ACMEAccountKey, kid: String?) async throws -> (Int, HTTPHeaders, [UInt8]) {
            for attempt in 0..<2 {
                let nonce = try await currentNonce()
                self.nonce = nil
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/jose+json")
                request.body = .bytes(ByteBuffer(string: try key.sign(url: url, nonce: nonce, kid: kid, payload: payload)))
                let response: HTTPClientResponse
                let bytes: ByteBuffer
                do {
                    response = try await client.execute(request, timeout: .seconds(30))
                    bytes = try await response.body.collect(upTo: 1 << 20)
                } catch {
                    throw CertificateSourceError.acme("cannot reach the ACME CA at \(url): \(error)")
                }
                self.nonce = response.headers.first(name: "replay-nonce")
                let status = Int(response.status.code)
                let data = Array(buffer: bytes)
                if status == 400, attempt == 0, (Self.json(data)["type"] as? String)?.hasSuffix(":badNonce") == true {
                    continue
                }
                return (status, response.headers, data)
            }
            throw CertificateSourceError.acme("the CA refused two nonces in a row at \(url)")
        }

        private mutating func currentNonce() async throws -> String {
            if let nonce { return nonce }
            var request = HTTPClientRequest(url: directory.newNonce)
            request.method = .HEAD
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 16)
                guard let nonce = response.headers.first(name: "replay-nonce") else {
                    throw CertificateSourceError.acme("the CA's newNonce answered without a Replay-Nonce")
                }
                return nonce
            } catch let error as CertificateSourceError {
                throw error
            } catch {
                throw CertificateSourceError.acme("cannot reach the ACME CA at \(directory.newNonce): \(error)")
            }
        }

        static func refusal(status: Int, headers: HTTPHeaders, body: [String: Any], url: String) -> CertificateSourceError {
            let type = (body["type"] as? String ?? "").replacingOccurrences(of: "urn:ietf:params:acme:error:", with: "")
            let detail = body["detail"] as? String ?? "HTTP \(status)"
            if type == "rateLimited" {
                let after = headers.first(name: "retry-after").map { " (retry after \($0))" } ?? ""
                return .acme("the CA's rate limit was reached\(after): \(detail); the current certificate stays in use")
            }
            return .acme("the CA refused \(url): \(type.isEmpty ? "" : type + ": ")\(detail)")
        }
    }
}
