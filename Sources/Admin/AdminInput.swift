import Foundation

/// Numbers and times from admin requests, converted without ever trapping: every value is
/// range-checked before it meets Int64 arithmetic, and the ranges are what the 400s name.
enum AdminInput {
    /// 1970-01-01T00:00:00.000Z, in epoch ms.
    static let earliestMs: Int64 = 0
    /// 9999-12-31T23:59:59.999Z, in epoch ms.
    static let latestMs: Int64 = 253_402_300_799_999
    static let timeRange = "between 1970-01-01 and 9999-12-31 (epoch ms 0…\(latestMs))"

    /// A JSON number that is a whole number within `range`; nil for anything else (booleans,
    /// fractions, NaN, infinities, values beyond Int64).
    static func wholeNumber(_ value: Any, in range: ClosedRange<Int64>) -> Int64? {
        guard !(value is Bool), let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        // Int64(exactly:) is nil for fractions and for values Int64 cannot hold; beyond 2^53
        // a double is no longer exact, and every range here stays far below that.
        guard double.isFinite, let whole = Int64(exactly: double), range.contains(whole) else { return nil }
        return whole
    }

    /// Epoch ms of a date, when it lies within ``earliestMs``…``latestMs``.
    static func epochMs(_ date: Date) -> Int64? {
        let ms = (date.timeIntervalSince1970 * 1000).rounded()
        guard ms.isFinite, let whole = Int64(exactly: ms), (earliestMs...latestMs).contains(whole) else { return nil }
        return whole
    }

    /// Epoch ms (digits) or an ISO 8601 time or date, within ``earliestMs``…``latestMs``.
    static func time(_ text: String) -> Int64? {
        if let ms = Int64(text) { return (earliestMs...latestMs).contains(ms) ? ms : nil }
        if let date = ISO8601DateFormatter().date(from: text) { return epochMs(date) }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return epochMs(date) }
        formatter.formatOptions = [.withFullDate]
        if let date = formatter.date(from: text) { return epochMs(date) }
        return nil
    }
}
