import Foundation
import Guards
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProxyConfig
import Store

/// The admin surface: `/auth/*` (sessions), `/api/*` (keys, analytics, upstreams, reload)
/// and the web UI at `/admin`. Every answer is JSON (`{"success":false,"error":…}` on
/// failure) except the UI files and the CSV export. Order for each request: the CIDR list
/// (403 before any other work), CORS preflight, the cross-site check (``CrossSiteCheck``),
/// then the session check.
package struct AdminAPI: Sendable {
    let store: Store
    let sessions: AdminSessions
    let credentials: AdminCredentials
    let limiter = LoginLimiter()
    let generation: SessionGeneration
    let ui: AdminUI
    /// The admin settings of the current configuration (they follow reloads).
    let settings: @Sendable () -> AdminConfig
    /// Upstreams and their health, as a JSON array.
    let upstreams: @Sendable () -> String
    /// Re-reads the configuration; the problems when it was refused.
    let reload: @Sendable () -> [String]
    /// Told of each key created or revoked here, as the store now has it, once the store has
    /// it: the gateway updates its in-memory key index so the change holds from the next
    /// request, without waiting for a resync. A callback, so the admin surface does not
    /// depend on how the request path keeps its keys.
    let onKeyChanged: @Sendable (ManagedKey) -> Void
    /// The request path's block list, lifted here at once (this instance; the others at their
    /// next sync with the store). The automatic list does not apply to the admin surface: an
    /// operator on a blocked address must still be able to lift it; `admin.allow_cidrs`,
    /// `admin.deny_cidrs` and the sign-in limiter guard it instead.
    let blocks: BlockList

    package init(
        store: Store, sessions: AdminSessions, credentials: AdminCredentials,
        settings: @escaping @Sendable () -> AdminConfig, upstreams: @escaping @Sendable () -> String,
        reload: @escaping @Sendable () -> [String], onKeyChanged: @escaping @Sendable (ManagedKey) -> Void, blocks: BlockList = BlockList()
    ) {
        self.blocks = blocks
        self.store = store
        self.sessions = sessions
        self.credentials = credentials
        self.settings = settings
        self.upstreams = upstreams
        self.reload = reload
        self.onKeyChanged = onKeyChanged
        self.ui = AdminUI()
        self.generation = SessionGeneration(store: store)
    }

    /// Whether `path` belongs to the admin surface.
    package static func handles(_ path: String) -> Bool {
        path.hasPrefix("/auth/") || path.hasPrefix("/api/") || path == "/admin" || path.hasPrefix("/admin/")
    }

    package func respond(to request: Request, clientAddress: String?) async -> Response {
        let settings = self.settings()
        if let clientAddress, settings.denyCIDRs.contains(where: { CIDR($0)?.contains(clientAddress) == true }) {
            return Self.failure(.forbidden, "the admin interface is not available from this address")
        }
        guard AddressAllowList(settings.allowCIDRs).permits(clientAddress) else {
            return Self.failure(.forbidden, "the admin interface is not available from this address")
        }
        let cors = CORSPolicy(origins: settings.corsOrigins, origin: request.headers[.origin])
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            let preflight = cors.preflight()
            return Response(status: preflight.status, headers: preflight.headers)
        }
        if let refusal = crossSiteCheck(request, settings: settings).refusal() {
            var response = Self.failure(refusal.status, refusal.message)
            cors.apply(to: &response.headers)
            return response
        }
        var response = await route(request, clientAddress: clientAddress ?? "unknown")
        cors.apply(to: &response.headers)
        return response
    }

    private func route(_ request: Request, clientAddress: String) async -> Response {
        let path = request.uri.path
        if path == "/admin" || path.hasPrefix("/admin/") {
            guard request.method == .get || request.method == .head else { return Self.failure(.methodNotAllowed, "use GET") }
            return ui.serve(path)
        }
        switch (request.method, path) {
        case (.post, "/auth/login"): return await login(request, clientAddress: clientAddress)
        case (.post, "/auth/logout"): return await logout(request)
        case (.post, "/auth/token"): return await token(request, clientAddress: clientAddress)
        case (_, "/auth/login"), (_, "/auth/logout"), (_, "/auth/token"): return Self.failure(.methodNotAllowed, "use POST")
        default: break
        }
        guard path.hasPrefix("/api/") else { return Self.failure(.notFound, "no admin endpoint at \(path)") }
        guard let user = await authenticatedUser(request) else {
            return Self.failure(.unauthorized, "sign in first: POST /auth/login, then send the auth_token cookie or Authorization: Bearer <token>")
        }
        return await api(request, path: path, user: user)
    }

    // MARK: sessions

    private func login(_ request: Request, clientAddress: String) async -> Response {
        let body: [String: Any]
        switch await Self.jsonObject(request) {
        case .failure(let message): return Self.failure(.badRequest, message.message)
        case .success(let object): body = object
        }
        guard let username = body["username"] as? String, !username.isEmpty else { return Self.failure(.badRequest, "username is required (a string)") }
        guard let password = body["password"] as? String, !password.isEmpty else { return Self.failure(.badRequest, "password is required (a string)") }
        if let refusal = await checkSignIn(username: username, password: password, clientAddress: clientAddress) { return refusal }
        guard let session = await issueSession() else { return Self.failure(.serviceUnavailable, "cannot start a session: the database did not answer") }
        var response = Self.json(.ok, ["success": true, "username": credentials.username, "expiresAt": Self.iso(session.expires)])
        response.headers[.setCookie] = Self.cookie(session.token, maxAge: Int(sessions.lifetime), secure: Self.isSecure(request))
        return response
    }

    /// Clears the cookie; when the request is signed in, also ends every session of the admin
    /// (browser cookies and script tokens alike, on every instance).
    private func logout(_ request: Request) async -> Response {
        var response: Response
        if await authenticatedUser(request) == nil {
            response = Self.json(.ok, ["success": true, "message": "signed out"])
        } else if (try? await generation.advance()) != nil {
            response = Self.json(.ok, ["success": true, "message": "signed out; every session of this admin has ended"])
        } else {
            response = Self.failure(.serviceUnavailable, "signed out here, but other sessions could not be ended: the database did not answer; try again")
        }
        response.headers[.setCookie] = Self.cookie("", maxAge: 0, secure: Self.isSecure(request))
        return response
    }

    /// A bearer token for scripts: with the credentials in the body, or for the signed-in user.
    private func token(_ request: Request, clientAddress: String) async -> Response {
        if await authenticatedUser(request) == nil {
            guard case .success(let body) = await Self.jsonObject(request),
                let username = body["username"] as? String, let password = body["password"] as? String
            else {
                return Self.failure(.unauthorized, "send {\"username\",\"password\"} or sign in first")
            }
            if let refusal = await checkSignIn(username: username, password: password, clientAddress: clientAddress) { return refusal }
        }
        guard let session = await issueSession() else { return Self.failure(.serviceUnavailable, "cannot start a session: the database did not answer") }
        return Self.json(.ok, ["success": true, "token": session.token, "expiresAt": Self.iso(session.expires)])
    }

    /// A token for the admin in the current session generation.
    private func issueSession() async -> (token: String, expires: Date)? {
        guard let current = await generation.current() else { return nil }
        return try? await sessions.issue(username: credentials.username, generation: current)
    }

    /// Checks the credentials within the sign-in limits; nil when they are right. The attempt
    /// is counted before bcrypt runs (see ``LoginLimiter``), so concurrent guesses cannot
    /// all pass the limit.
    private func checkSignIn(username: String, password: String, clientAddress: String) async -> Response? {
        switch limiter.reserve(clientAddress) {
        case .verify:
            break
        case .limited(let wait):
            return Self.retryLater("too many failed sign-ins from this address; try again in \(wait) s", after: wait)
        case .busy(let wait):
            return Self.retryLater("too many sign-ins are being checked at once; try again in \(wait) s", after: wait)
        }
        var succeeded = false
        // Also when the task is cancelled mid-check: the slot is always given back.
        defer { limiter.finish(clientAddress, succeeded: succeeded) }
        succeeded = await credentials.verify(username: username, password: password)
        return succeeded ? nil : Self.failure(.unauthorized, "wrong user name or password")
    }

    static func retryLater(_ message: String, after seconds: Int) -> Response {
        var response = failure(.tooManyRequests, message)
        response.headers[.retryAfter] = String(seconds)
        return response
    }

    /// The signed-in admin: by `Authorization: Bearer` when the request has one, else by the
    /// `auth_token` cookie. The token must be valid, name the current admin, and belong to
    /// the current session generation.
    package func authenticatedUser(_ request: Request) async -> String? {
        guard let token = Self.bearerToken(request) ?? Self.cookieValue(request.headers[.cookie], name: "auth_token"), !token.isEmpty,
            let session = await sessions.verify(token), session.username == credentials.username,
            let current = await generation.current(), session.generation == current
        else { return nil }
        return session.username
    }

    static func bearerToken(_ request: Request) -> String? {
        guard let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") else { return nil }
        return String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// The facts the cross-site check decides on, read off the request.
    func crossSiteCheck(_ request: Request, settings: AdminConfig) -> CrossSiteCheck {
        let length = request.headers[.contentLength].flatMap { Int($0) }
        let hasBody = (length ?? 0) > 0 || (length == nil && request.headers[.transferEncoding] != nil)
        let cookie = Self.cookieValue(request.headers[.cookie], name: "auth_token").map { !$0.isEmpty } ?? false
        let authority = request.head.authority // the Host header, for HTTP/1
        return CrossSiteCheck(
            method: request.method, path: request.uri.path, contentType: request.headers[.contentType], hasBody: hasBody,
            cookieSession: cookie && Self.bearerToken(request) == nil, origin: request.headers[.origin],
            fetchSite: request.headers[HTTPField.Name("sec-fetch-site")!],
            ownOrigin: authority.map { "\(Self.isSecure(request) ? "https" : "http")://\($0)" }, allowedOrigins: settings.corsOrigins)
    }

    // MARK: helpers

    static func cookie(_ value: String, maxAge: Int, secure: Bool) -> String {
        "auth_token=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(secure ? "; Secure" : "")"
    }

    static func cookieValue(_ header: String?, name: String) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// Served over TLS (directly, or behind a proxy that says so).
    static func isSecure(_ request: Request) -> Bool {
        // The TLS listener marks its requests `https` (HTTP/1.1 by the codec, HTTP/2 by its
        // `:scheme`); the URI holds only the path.
        request.head.scheme == "https" || request.uri.scheme == .https
            || request.headers[HTTPField.Name("x-forwarded-proto")!]?.lowercased() == "https"
    }

    static func jsonObject(_ request: Request) async -> Result<[String: Any], AdminProblem> {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 1 << 20) else { return .failure("the body must be JSON of at most 1 MiB") }
        guard buffer.readableBytes > 0 else { return .failure("a JSON object body is required") }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] else {
            return .failure("the body is not a JSON object")
        }
        return .success(object)
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    package static func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(status, ["success": false, "error": message])
    }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func iso(ms: Int64) -> String { iso(Date(timeIntervalSince1970: Double(ms) / 1000)) }
}

/// What is wrong with an admin request's input, in words for the caller.
struct AdminProblem: Error, ExpressibleByStringInterpolation {
    let message: String
    init(stringLiteral value: String) { message = value }
}
