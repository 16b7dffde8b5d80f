import ProxyConfig
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

    /// An owner's budget as configured (`budgets.owners.<name>`; the period is validated at load, `month` by default).
    package init(_ config: BudgetConfig) {
        self.init(tokens: config.tokens, costUSD: config.costUSD, period: BudgetPeriod(rawValue: config.period) ?? .month)
    }
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
/// Two modes. **Local** (one instance): the whole budget is here; what was spent before the
/// process started is seeded from the store (``seed(_:periodStart:tokens:costUSD:)``).
/// **Leased** (instances sharing PostgreSQL): an instance may only admit within the lease
/// it holds from the store's budget pool (``Store/leaseBudget``), which never leases out
/// more than is left; a background broker tops leases up before they run out (``leaseWork``),
/// books what was spent and returns what idles. The request path never waits for the
/// database: a request that finds its lease too small is refused (and the broker asked for
/// more), so the cluster as a whole cannot pass the budget.
package final class BudgetLedger: Sendable {
    private struct Account {
        var periodStart: Int64
        var spentTokens: Int64 = 0
        var spentCost: Double = 0
        var reservedTokens: Int64 = 0
        var reservedCost: Double = 0
        // Leased mode only.
        var budget: Budget?
        /// What is left of the lease this instance holds.
        var grantedTokens: Int64 = 0
        var grantedCost: Double = 0
        /// Spent since the last report to the pool, and how much of it came out of the lease.
        var unreportedTokens: Int64 = 0
        var unreportedCost: Double = 0
        var consumedTokens: Int64 = 0
        var consumedCost: Double = 0
        /// The largest charge seen: a lease smaller than it could admit nothing.
        var largest = BudgetCharge(tokens: 0, costUSD: 0)
        var wanted = false
        var lastUse: Int64 = 0
    }

    private let accounts = Mutex([String: Account]())
    /// Whether admission is limited to leases from the store's pool.
    package let leased: Bool

    package init(leased: Bool = false) { self.leased = leased }

    /// Why a reservation was refused.
    package struct Exhausted: Sendable, Equatable {
        /// `tokens` or `cost`.
        package var dimension: String
        package var limit: String
        /// When the budget starts again (ms since 1970); nil for a total budget.
        package var resetsAt: Int64?
        /// Leased mode: this instance's lease was too small; the pool may still have more (retry shortly).
        package var leaseTooSmall = false

        /// For messages: " until <the reset, ISO 8601>", or nothing for a total budget.
        package var untilReset: String { resetsAt.map { " until \(CivilDate.iso8601(ms: $0))" } ?? "" }

        /// Seconds until the budget starts again (a day for a total budget, which never does).
        package func retryAfter(nowMs: Int64) -> Int { resetsAt.map { Int(max(1, ($0 - nowMs + 999) / 1000)) } ?? 86_400 }
    }

    /// Reserves `charge` against `budget` for `subject` at `nowMs`.
    package func reserve(_ subject: String, _ charge: BudgetCharge, budget: Budget, nowMs: Int64) -> Exhausted? {
        let periodStart = budget.period.start(containing: nowMs)
        let leased = self.leased
        return accounts.withLock { accounts in
            var account = Self.current(accounts[subject], periodStart: periodStart)
            defer { accounts[subject] = account }
            account.budget = budget
            account.lastUse = nowMs
            account.largest = BudgetCharge(tokens: max(account.largest.tokens, charge.tokens), costUSD: max(account.largest.costUSD, charge.costUSD))
            let resets = budget.period.end(containing: nowMs)
            if let tokens = budget.tokens {
                let room = leased ? account.grantedTokens : tokens &- account.spentTokens
                let (total, overflow) = account.reservedTokens.addingReportingOverflow(charge.tokens)
                if overflow || total > room {
                    account.wanted = leased
                    return Exhausted(dimension: "tokens", limit: "\(tokens) tokens", resetsAt: resets, leaseTooSmall: leased)
                }
            }
            if let cost = budget.costUSD {
                let room = leased ? account.grantedCost : cost - account.spentCost
                if account.reservedCost + charge.costUSD > room + 1e-12 {
                    account.wanted = leased
                    return Exhausted(dimension: "cost", limit: "$\(cost)", resetsAt: resets, leaseTooSmall: leased)
                }
            }
            account.reservedTokens &+= charge.tokens
            account.reservedCost += charge.costUSD
            return nil
        }
    }

    /// Gives back a reservation and books what was really used (zero for a request that never
    /// reached an upstream). A reservation from an earlier period is released without
    /// charging the new one for what the old one spent.
    package func settle(_ subject: String, reserved: BudgetCharge, used: BudgetCharge, budget: Budget, nowMs: Int64) {
        let periodStart = budget.period.start(containing: nowMs)
        let leased = self.leased
        accounts.withLock { accounts in
            var account = Self.current(accounts[subject], periodStart: periodStart)
            account.reservedTokens = max(0, account.reservedTokens &- reserved.tokens)
            account.reservedCost = max(0, account.reservedCost - reserved.costUSD)
            let tokens = max(0, used.tokens), cost = max(0, used.costUSD)
            account.spentTokens &+= tokens
            account.spentCost += cost
            if leased {
                let fromLeaseTokens = min(tokens, max(0, account.grantedTokens))
                let fromLeaseCost = min(cost, max(0, account.grantedCost))
                account.grantedTokens -= fromLeaseTokens
                account.grantedCost -= fromLeaseCost
                account.unreportedTokens &+= tokens
                account.unreportedCost += cost
                account.consumedTokens &+= fromLeaseTokens
                account.consumedCost += fromLeaseCost
            }
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

    // MARK: leases (the broker's side)

    /// One thing the broker should do for a subject.
    package struct LeaseTask: Sendable, Equatable {
        package var subject: String
        package var periodStart: Int64
        package var budget: Budget
        /// Ask the pool for more, at least this much (what one request needs).
        package var acquire: BudgetCharge?
        /// Book spent (moved out of the lease as `consumed`) and hand back `returned`.
        package var spent: BudgetCharge
        package var consumed: BudgetCharge
        package var returned: BudgetCharge

        /// This task once its settlement is booked: only the lease is left to ask for.
        package var settled: LeaseTask {
            var rest = self
            let none = BudgetCharge(tokens: 0, costUSD: 0)
            (rest.spent, rest.consumed, rest.returned) = (none, none, none)
            return rest
        }
    }

    /// Makes a subject known before its first request (start-up, a key with a budget), so
    /// the broker leases for it at once.
    package func expect(_ subject: String, budget: Budget, nowMs: Int64) {
        let periodStart = budget.period.start(containing: nowMs)
        accounts.withLock { accounts in
            var account = Self.current(accounts[subject], periodStart: periodStart)
            account.budget = budget
            account.wanted = true
            account.lastUse = max(account.lastUse, nowMs)
            accounts[subject] = account
        }
    }

    /// What the broker should do now: top up leases that are wanted or below two requests'
    /// worth, report spending, and return leases idle for `idleMs`. Taking a task clears the
    /// reported amounts (``restore(_:)`` puts them back when the store did not answer).
    /// `releaseAll` (shutdown): report and hand back every lease, acquire nothing.
    package func leaseWork(nowMs: Int64, idleMs: Int64 = 10_000, releaseAll: Bool = false) -> [LeaseTask] {
        accounts.withLock { accounts in
            var tasks: [LeaseTask] = []
            for (subject, var account) in accounts {
                guard let budget = account.budget else { continue }
                let periodStart = budget.period.start(containing: nowMs)
                if account.periodStart != periodStart { account = Self.current(account, periodStart: periodStart) }
                let spareTokens = account.grantedTokens - account.reservedTokens
                let spareCost = account.grantedCost - account.reservedCost
                let low =
                    (budget.tokens != nil && spareTokens < 2 * max(1, account.largest.tokens))
                    || (budget.costUSD != nil && spareCost < 2 * account.largest.costUSD)
                let idle = releaseAll || (nowMs - account.lastUse > idleMs && account.reservedTokens == 0 && account.reservedCost == 0)
                let hasReport = account.unreportedTokens > 0 || account.unreportedCost > 0
                var task = LeaseTask(
                    subject: subject, periodStart: periodStart, budget: budget, acquire: nil,
                    spent: BudgetCharge(tokens: account.unreportedTokens, costUSD: account.unreportedCost),
                    consumed: BudgetCharge(tokens: account.consumedTokens, costUSD: account.consumedCost), returned: BudgetCharge(tokens: 0, costUSD: 0))
                if idle && (releaseAll || !account.wanted) {
                    task.returned = BudgetCharge(tokens: max(0, account.grantedTokens), costUSD: max(0, account.grantedCost))
                    account.grantedTokens = 0
                    account.grantedCost = 0
                } else if account.wanted || low {
                    task.acquire = account.largest
                    account.wanted = false
                }
                guard task.acquire != nil || hasReport || task.returned.tokens > 0 || task.returned.costUSD > 0 else {
                    accounts[subject] = account
                    continue
                }
                account.unreportedTokens = 0
                account.unreportedCost = 0
                account.consumedTokens = 0
                account.consumedCost = 0
                accounts[subject] = account
                tasks.append(task)
            }
            return tasks
        }
    }

    /// Adds a grant from the pool to the subject's lease (for the period it was asked for).
    package func addGrant(_ subject: String, periodStart: Int64, tokens: Int64, costUSD: Double) {
        accounts.withLock { accounts in
            guard var account = accounts[subject], account.periodStart == periodStart else { return }
            account.grantedTokens &+= max(0, tokens)
            account.grantedCost += max(0, costUSD)
            accounts[subject] = account
        }
    }

    /// Puts back what a task took when the store did not take it.
    package func restore(_ task: LeaseTask) {
        accounts.withLock { accounts in
            guard var account = accounts[task.subject], account.periodStart == task.periodStart else { return }
            account.unreportedTokens &+= task.spent.tokens
            account.unreportedCost += task.spent.costUSD
            account.consumedTokens &+= task.consumed.tokens
            account.consumedCost += task.consumed.costUSD
            account.grantedTokens &+= task.returned.tokens
            account.grantedCost += task.returned.costUSD
            if task.acquire != nil { account.wanted = true }
            accounts[task.subject] = account
        }
    }

    /// The account in the period starting at `periodStart`: spending from an older period is
    /// forgotten, reservations in flight are kept (they settle against the new one). A lease
    /// belongs to its period: a new period starts with none.
    private static func current(_ account: Account?, periodStart: Int64) -> Account {
        guard var account else { return Account(periodStart: periodStart) }
        if account.periodStart != periodStart {
            account.periodStart = periodStart
            account.spentTokens = 0
            account.spentCost = 0
            account.grantedTokens = 0
            account.grantedCost = 0
            account.unreportedTokens = 0
            account.unreportedCost = 0
            account.consumedTokens = 0
            account.consumedCost = 0
            account.wanted = account.budget != nil
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
