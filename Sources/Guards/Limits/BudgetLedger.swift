import Synchronization

/// How long a budget lasts before it starts again.
package enum BudgetPeriod: String, Sendable, Equatable, CaseIterable {
    /// A UTC calendar day.
    case day
    /// A UTC calendar month.
    case month
    /// Never resets.
    case total

    /// The start (ms since 1970) of the period that holds `ms`.
    package func start(containing ms: Int64) -> Int64 {
        let dayMs: Int64 = 86_400_000
        switch self {
        case .total: return 0
        case .day: return ms - ((ms % dayMs) + dayMs) % dayMs
        case .month:
            let days = Int64((Double(ms) / Double(dayMs)).rounded(.down))
            let (year, month, _) = CivilDate.from(days: days)
            return CivilDate.days(year: year, month: month, day: 1) * dayMs
        }
    }

    /// The start of the next period (nil for `total`).
    package func end(containing ms: Int64) -> Int64? {
        let dayMs: Int64 = 86_400_000
        switch self {
        case .total: return nil
        case .day: return start(containing: ms) + dayMs
        case .month:
            let (year, month, _) = CivilDate.from(days: start(containing: ms) / dayMs)
            return CivilDate.days(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1) * dayMs
        }
    }
}

/// A budget: tokens, money, or both, per period.
package struct Budget: Sendable, Equatable {
    package var tokens: Int64?
    package var costUSD: Double?
    package var period: BudgetPeriod

    package init(tokens: Int64? = nil, costUSD: Double? = nil, period: BudgetPeriod = .total) {
        self.tokens = tokens
        self.costUSD = costUSD
        self.period = period
    }

    package var isEmpty: Bool { tokens == nil && costUSD == nil }
}

/// What one request may still spend, as reserved before it was admitted.
package struct BudgetCharge: Sendable, Equatable {
    package var tokens: Int64
    package var costUSD: Double

    package init(tokens: Int64, costUSD: Double) {
        self.tokens = tokens
        self.costUSD = costUSD
    }
}

/// Spending against budgets, in memory, hard under concurrency: a request reserves its
/// worst-case charge before it is admitted (spent + reserved + this request must fit), and
/// settles with what it really used when it is accounted for. 50 concurrent requests against
/// a budget that covers 10 therefore admit at most 10, whatever order they finish in.
///
/// Subjects are strings (`key:<id>`, `owner:<name>`). What was spent before the process
/// started is seeded from the store (``seed(_:periodStart:tokens:costUSD:)``).
package final class BudgetLedger: Sendable {
    private struct Account {
        var periodStart: Int64
        var spentTokens: Int64 = 0
        var spentCost: Double = 0
        var reservedTokens: Int64 = 0
        var reservedCost: Double = 0
    }

    private let accounts = Mutex([String: Account]())

    package init() {}

    /// Why a reservation was refused.
    package struct Exhausted: Sendable, Equatable {
        /// `tokens` or `cost`.
        package var dimension: String
        package var limit: String
        /// When the budget starts again (ms since 1970); nil for a total budget.
        package var resetsAt: Int64?
    }

    /// Reserves `charge` against `budget` for `subject` at `nowMs`.
    package func reserve(_ subject: String, _ charge: BudgetCharge, budget: Budget, nowMs: Int64) -> Exhausted? {
        let periodStart = budget.period.start(containing: nowMs)
        return accounts.withLock { accounts in
            var account = Self.current(accounts[subject], periodStart: periodStart)
            if let tokens = budget.tokens {
                let (sum, overflow) = account.spentTokens.addingReportingOverflow(account.reservedTokens)
                let (total, overflow2) = sum.addingReportingOverflow(charge.tokens)
                if overflow || overflow2 || total > tokens {
                    accounts[subject] = account
                    return Exhausted(dimension: "tokens", limit: "\(tokens) tokens", resetsAt: budget.period.end(containing: nowMs))
                }
            }
            if let cost = budget.costUSD, account.spentCost + account.reservedCost + charge.costUSD > cost + 1e-12 {
                accounts[subject] = account
                return Exhausted(dimension: "cost", limit: "$\(cost)", resetsAt: budget.period.end(containing: nowMs))
            }
            account.reservedTokens &+= charge.tokens
            account.reservedCost += charge.costUSD
            accounts[subject] = account
            return nil
        }
    }

    /// Gives back a reservation and books what was really used (zero for a request that never
    /// reached an upstream). A reservation from an earlier period is released without
    /// charging the new one for what the old one spent.
    package func settle(_ subject: String, reserved: BudgetCharge, used: BudgetCharge, budget: Budget, nowMs: Int64) {
        let periodStart = budget.period.start(containing: nowMs)
        accounts.withLock { accounts in
            var account = Self.current(accounts[subject], periodStart: periodStart)
            account.reservedTokens = max(0, account.reservedTokens &- reserved.tokens)
            account.reservedCost = max(0, account.reservedCost - reserved.costUSD)
            account.spentTokens &+= max(0, used.tokens)
            account.spentCost += max(0, used.costUSD)
            accounts[subject] = account
        }
    }

    /// Sets what `subject` spent in the period starting at `periodStart` before this process
    /// took over (from the store's events); nothing changes for another period.
    package func seed(_ subject: String, periodStart: Int64, tokens: Int64, costUSD: Double) {
        accounts.withLock { accounts in
            var account = accounts[subject] ?? Account(periodStart: periodStart)
            guard account.periodStart == periodStart else { return }
            account.spentTokens = max(account.spentTokens, tokens)
            account.spentCost = max(account.spentCost, costUSD)
            accounts[subject] = account
        }
    }

    /// What `subject` spent and holds reserved in the current period.
    package func usage(_ subject: String, period: BudgetPeriod, nowMs: Int64) -> (spent: BudgetCharge, reserved: BudgetCharge) {
        let account = accounts.withLock { Self.current($0[subject], periodStart: period.start(containing: nowMs)) }
        return (BudgetCharge(tokens: account.spentTokens, costUSD: account.spentCost), BudgetCharge(tokens: account.reservedTokens, costUSD: account.reservedCost))
    }

    /// The account in the period starting at `periodStart`: spending from an older period is
    /// forgotten, reservations in flight are kept (they settle against the new one).
    private static func current(_ account: Account?, periodStart: Int64) -> Account {
        guard var account else { return Account(periodStart: periodStart) }
        if account.periodStart != periodStart {
            account.periodStart = periodStart
            account.spentTokens = 0
            account.spentCost = 0
        }
        return account
    }
}

/// Days since 1970-01-01 ⇄ proleptic Gregorian dates (H. Hinnant's civil-date algorithms),
/// so month budgets need no calendar library.
package enum CivilDate {
    package static func from(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    package static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension CivilDate {
    /// `2026-12-01T00:00:00Z` for ms since 1970 (whole seconds).
    package static func iso8601(ms: Int64) -> String {
        let dayMs: Int64 = 86_400_000
        let days = ms >= 0 ? ms / dayMs : (ms - dayMs + 1) / dayMs
        let rest = (ms - days * dayMs) / 1000
        let (year, month, day) = from(days: days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))Z"
    }
}
