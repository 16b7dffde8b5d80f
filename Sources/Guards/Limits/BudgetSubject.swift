/// Whose budget: a managed key's or an owner's (over all their keys). Its `name` is what the
/// ledger and the store's budget pool key it by (`key:<id>`, `owner:<name>`); the name is
/// made and read here only.
package enum BudgetSubject: Sendable, Hashable {
    case key(String)
    case owner(String)

    package var name: String {
        switch self {
        case .key(let id): return "key:" + id
        case .owner(let owner): return "owner:" + owner
        }
    }

    package init?(name: String) {
        if name.hasPrefix("key:") {
            self = .key(String(name.dropFirst(4)))
        } else if name.hasPrefix("owner:") {
            self = .owner(String(name.dropFirst(6)))
        } else {
            return nil
        }
    }

    /// The key's id, for the store's spending of a key's budget.
    package var keyID: String? {
        if case .key(let id) = self { return id }
        return nil
    }

    /// The owner's name, for the store's spending of an owner's budget.
    package var owner: String? {
        if case .owner(let owner) = self { return owner }
        return nil
    }

    /// For messages: "This key's" or "The key owner's".
    package var whose: String {
        switch self {
        case .key: return "This key's"
        case .owner: return "The key owner's"
        }
    }
}
