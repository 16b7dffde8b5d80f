import Foundation
import ProxyConfig
import Store

/// A validated `POST /api/keys` body. Every number is range-checked before any arithmetic:
/// an admin request can be refused, never crash the gateway.
struct KeyRequest {
    var username: String
    var name: String?
    var expiresAt: Int64?
    var limits: KeyLimits

    /// Largest accepted limits: far beyond any real use, small enough that the guards'
    /// arithmetic on them (per-second rates, sums of tokens) cannot overflow.
    static let maxRequestsPerMinute: Int64 = 1_000_000_000
    static let maxTokensPerMinute: Int64 = 1_000_000_000_000
    static let maxTokenBudget: Int64 = 1_000_000_000_000_000
    static let maxConcurrency: Int64 = 1_000_000
    static let maxCostBudget = 1_000_000_000.0

    static func parse(_ body: [String: Any], now: Int64) -> Result<KeyRequest, AdminProblem> {
        let known: Set<String> = ["username", "name", "expiresAt", "expiresIn", "models", "limits"]
        if let unknown = body.keys.first(where: { !known.contains($0) }) {
            return .failure("unknown field \"\(unknown)\"; allowed: \(known.sorted().joined(separator: ", "))")
        }
        guard let username = body["username"] as? String else { return .failure("username is required: 3–50 characters of letters, digits, _ . -") }
        guard AdminConfig.isValidUsername(username) else { return .failure("username must be 3–50 characters of letters, digits, _ . - (got \"\(username)\")") }
        var request = KeyRequest(username: username, name: nil, expiresAt: nil, limits: KeyLimits())
        if let name = body["name"], !(name is NSNull) {
            guard let text = name as? String, (1...100).contains(text.count) else { return .failure("name must be a string of 1–100 characters") }
            request.name = text
        }
        // A key lives at most 100 years from now; both ways of saying when it ends agree.
        let (latest, overflow) = now.addingReportingOverflow(KeyIssuer.maxLifetimeMs)
        let lastExpiry = overflow ? AdminInput.latestMs : min(latest, AdminInput.latestMs)
        if let value = body["expiresAt"], !(value is NSNull) {
            let expires: Int64?
            if let text = value as? String {
                expires = AdminInput.time(text)
            } else {
                expires = AdminInput.wholeNumber(value, in: AdminInput.earliestMs...AdminInput.latestMs)
            }
            guard let expires else {
                return .failure("expiresAt must be an ISO 8601 time (2027-01-31T00:00:00Z) or epoch milliseconds, \(AdminInput.timeRange)")
            }
            guard expires > now else { return .failure("expiresAt must be in the future") }
            guard expires <= lastExpiry else { return .failure("expiresAt must be at most 100 years from now") }
            request.expiresAt = expires
        }
        if let value = body["expiresIn"], !(value is NSNull) {
            guard let text = value as? String, let duration = KeyIssuer.duration(text) else {
                return .failure("expiresIn must be a whole number and a unit, like 30d, 12h, 90m or 3600s, of at most 100 years (36500d)")
            }
            let (expires, overflow) = now.addingReportingOverflow(duration)
            guard !overflow, expires <= lastExpiry else { return .failure("expiresIn must end by 9999-12-31 and at most 100 years from now") }
            request.expiresAt = expires
        }
        var limits = body["limits"] as? [String: Any] ?? [:]
        if body["limits"] != nil, !(body["limits"] is [String: Any]) { return .failure("limits must be an object") }
        if let models = body["models"] { limits["models"] = models }
        if let models = limits["models"], !(models is NSNull) {
            guard let list = models as? [String], list.count <= 1000, list.allSatisfy({ !$0.isEmpty && $0.count <= 200 && !$0.contains(",") }) else {
                return .failure("models must be a list of at most 1000 model names (globs allowed, up to 200 characters each), without commas")
            }
            request.limits.models = list.isEmpty ? nil : list
        }
        let knownLimits = ["models", "requestsPerMinute", "tokensPerMinute", "tokenBudget", "concurrency", "costBudget", "budgetPeriod"]
        if let unknown = limits.keys.first(where: { !knownLimits.contains($0) }) {
            return .failure("unknown limit \"\(unknown)\"; allowed: \(knownLimits.joined(separator: ", "))")
        }
        func limit(_ name: String, most: Int64) -> Result<Int64?, AdminProblem> {
            guard let value = limits[name], !(value is NSNull) else { return .success(nil) }
            guard let number = AdminInput.wholeNumber(value, in: 1...most) else {
                return .failure("limits.\(name) must be a whole number from 1 to \(most)")
            }
            return .success(number)
        }
        switch limit("requestsPerMinute", most: maxRequestsPerMinute) {
        case .failure(let problem): return .failure(problem)
        case .success(let value): request.limits.requestsPerMinute = value.map { Int($0) }
        }
        switch limit("tokensPerMinute", most: maxTokensPerMinute) {
        case .failure(let problem): return .failure(problem)
        case .success(let value): request.limits.tokensPerMinute = value.map { Int($0) }
        }
        switch limit("tokenBudget", most: maxTokenBudget) {
        case .failure(let problem): return .failure(problem)
        case .success(let value): request.limits.tokenBudget = value
        }
        switch limit("concurrency", most: maxConcurrency) {
        case .failure(let problem): return .failure(problem)
        case .success(let value): request.limits.concurrency = value.map { Int($0) }
        }
        if let value = limits["costBudget"], !(value is NSNull) {
            guard !(value is Bool), let number = value as? NSNumber, number.doubleValue.isFinite,
                number.doubleValue > 0, number.doubleValue <= maxCostBudget
            else {
                return .failure("limits.costBudget must be a number of US dollars above 0 and at most \(Int(maxCostBudget))")
            }
            request.limits.costBudget = number.doubleValue
        }
        if let value = limits["budgetPeriod"], !(value is NSNull) {
            guard let text = value as? String, ["day", "month", "total"].contains(text) else {
                return .failure("limits.budgetPeriod must be day, month or total")
            }
            guard request.limits.tokenBudget != nil || request.limits.costBudget != nil else {
                return .failure("limits.budgetPeriod needs limits.tokenBudget or limits.costBudget")
            }
            request.limits.budgetPeriod = text
        }
        return .success(request)
    }
}
