import Dialects
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The plain-HTTP port in a TLS mode: ACME HTTP-01 challenges are answered here (the CA
/// fetches `/.well-known/acme-challenge/TOKEN` over plain HTTP), everything else is
/// redirected to the same host and path on the HTTPS port (301; `GET` and `HEAD` keep their
/// meaning, other methods get 308 so a client does not re-send a POST as a GET).
struct HTTPSRedirect: HTTPResponder {
    typealias Context = BasicRequestContext

    /// The HTTPS port, known once its listener is bound (port 0 picks one).
    let httpsPort: PortCell
    /// Key authorizations by token, while an ACME order waits for validation.
    let challenges: ChallengeResponses

    init(httpsPort: Int, challenges: ChallengeResponses) {
        self.httpsPort = PortCell(httpsPort)
        self.challenges = challenges
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.head.path ?? "/"
        let prefix = "/.well-known/acme-challenge/"
        if path.hasPrefix(prefix) {
            let token = String(path.dropFirst(prefix.count))
            guard let answer = challenges.answer(for: token) else {
                return Self.text(.notFound, "no such challenge")
            }
            return Self.text(.ok, answer)
        }
        let host = Self.hostName(request.head.authority) ?? "localhost"
        let port = httpsPort.value
        let authority = port == 443 ? host : "\(host):\(port)"
        var headers = HTTPFields()
        headers[.location] = "https://\(authority)\(path)"
        headers[.contentLength] = "0"
        let status: HTTPResponse.Status = request.method == .get || request.method == .head ? .movedPermanently : .permanentRedirect
        return Response(status: status, headers: headers)
    }

    /// The host part of a Host header (an IPv6 literal keeps its brackets), nil when there
    /// is none or it holds characters no host name has (it goes into a Location header).
    static func hostName(_ authority: String?) -> String? {
        guard var authority, !authority.isEmpty else { return nil }
        if authority.hasPrefix("[") {
            guard let end = authority.firstIndex(of: "]") else { return nil }
            authority = String(authority[...end])
        } else if let colon = authority.firstIndex(of: ":") {
            authority = String(authority[..<colon])
        }
        let allowed = authority.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-.[]:".unicodeScalars.contains($0)) }
        return allowed && !authority.isEmpty ? authority : nil
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The HTTP-01 answers an ACME order is waiting on (token → key authorization).
final class ChallengeResponses: Sendable {
    private let answers = Mutex([String: String]())

    func set(_ token: String, _ answer: String) { answers.withLock { $0[token] = answer } }
    func remove(_ token: String) { _ = answers.withLock { $0.removeValue(forKey: token) } }
    func answer(for token: String) -> String? { answers.withLock { $0[token] } }
}

/// A port learnt after start (a listener bound to port 0).
final class PortCell: Sendable {
    private let port: Atomic<Int>

    init(_ port: Int) { self.port = Atomic(port) }

    var value: Int { port.load(ordering: .relaxed) }
    func set(_ value: Int) { port.store(value, ordering: .relaxed) }
}
