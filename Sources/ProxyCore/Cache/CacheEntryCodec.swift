import Dialects
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1

/// A cached answer as text for the store's second level, and back. What comes back is read
/// like any input: another instance, an older binary or a hand-edited row may have written
/// it, so every field is checked (a 200, header names that are tokens and values without
/// line breaks, piece ends inside the body, the body within `cache.max_entry_bytes`) and
/// anything else is no answer at all.
///
/// Times travel as wall-clock milliseconds (the row's `created_ms` and `expires_ms`):
/// monotonic instants mean nothing to another process.
package enum CacheEntryCodec {
    static let version = 1
    static let maxHeaders = 100
    static let maxLabel = 256
    /// 30 days, `cache.ttl`'s upper bound.
    static let maxFreshMs: Int64 = 30 * 86_400_000

    /// The entry's text, with its creation and expiry on the wall clock.
    package static func encode(_ entry: ResponseCache.Entry, now: ContinuousClock.Instant, nowMs: Int64) -> (payload: String, createdMs: Int64, expiresMs: Int64) {
        let body = Data(entry.body.readableBytesView).base64EncodedString()
        func optional(_ value: Int?) -> JSON { value.map { JSON($0) } ?? .null }
        func optional(_ value: String?) -> JSON { value.map { JSON.string($0) } ?? .null }
        let headers: [JSON] = entry.headers.map { header in JSON.array([.string(header.name), .string(header.value)]) }
        let usage: [JSON] = [optional(entry.usage.input), optional(entry.usage.output), optional(entry.usage.cachedInput), optional(entry.usage.reasoning)]
        var object = JSONObject()
        object["v"] = JSON(version)
        object["status"] = JSON(entry.status)
        object["headers"] = .array(headers)
        object["body"] = .string(body)
        object["pieces"] = .array(entry.pieceEnds.map { JSON($0) })
        object["model"] = optional(entry.model)
        object["usage"] = .array(usage)
        object["total"] = optional(entry.totalTokens)
        object["translation"] = optional(entry.translation)
        let createdMs = nowMs - (now - entry.stored).wholeMilliseconds
        let expiresMs = nowMs + (entry.expires - now).wholeMilliseconds
        return (JSON.object(object).text, createdMs, expiresMs)
    }

    /// The entry a row holds, if it is a fresh, well-formed answer no larger than `maxBodyBytes`.
    package static func decode(
        _ payload: String, createdMs: Int64, expiresMs: Int64, now: ContinuousClock.Instant, nowMs: Int64, maxBodyBytes: Int
    ) -> ResponseCache.Entry? {
        // Base64 takes 4/3 of the body; the rest is a few hundred bytes of fields.
        guard expiresMs > nowMs, payload.utf8.count <= maxBodyBytes / 3 * 4 + 64 * 1024 else { return nil }
        guard case .success(let json) = JSON.parse(payload), json["v"]?.int == version, json["status"]?.int == 200 else { return nil }
        guard let bodyText = json["body"]?.string, let bodyData = Data(base64Encoded: bodyText), bodyData.count <= maxBodyBytes else { return nil }
        var headers = HTTPHeaders()
        guard let pairs = json["headers"]?.array, pairs.count <= maxHeaders else { return nil }
        for pair in pairs {
            guard let parts = pair.array, parts.count == 2, let name = parts[0].string, let value = parts[1].string, HTTPField.Name(name) != nil,
                !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 })
            else { return nil }
            headers.add(name: name, value: value)
        }
        guard let ends = json["pieces"]?.array?.map(\.int), ends.count <= bodyData.count + 1 else { return nil }
        var pieceEnds: [Int] = []
        var previous = 0
        for end in ends {
            guard let end, end >= previous, end <= bodyData.count else { return nil }
            pieceEnds.append(end)
            previous = end
        }
        guard previous == bodyData.count else { return nil }
        func count(_ value: JSON?) -> Int?? {
            guard let value, !value.isNull else { return .some(nil) }
            guard let number = value.int, number >= 0 else { return nil }
            return .some(number)
        }
        func label(_ value: JSON?) -> String?? {
            guard let value, !value.isNull else { return .some(nil) }
            guard let text = value.string, text.utf8.count <= maxLabel else { return nil }
            return .some(text)
        }
        guard let usage = json["usage"]?.array, usage.count == 4, let input = count(usage[0]), let output = count(usage[1]),
            let cached = count(usage[2]), let reasoning = count(usage[3]), let total = count(json["total"]), let model = label(json["model"]),
            let translation = label(json["translation"])
        else { return nil }
        var body = ByteBufferAllocator().buffer(capacity: bodyData.count)
        body.writeBytes(bodyData)
        // Made no later than now (clocks of instances disagree a little), fresh for no longer
        // than the longest time to live a configuration may give.
        let (age, ageOverflow) = nowMs.subtractingReportingOverflow(createdMs)
        guard !ageOverflow else { return nil }
        let left = min(expiresMs - nowMs, maxFreshMs)
        let stored = now - .milliseconds(min(max(0, age), maxFreshMs))
        return ResponseCache.Entry(
            status: 200, headers: headers, body: body, pieceEnds: pieceEnds, model: model,
            usage: TokenCounts(input: input, output: output, cachedInput: cached, reasoning: reasoning), totalTokens: total, translation: translation,
            stored: stored, expires: now + .milliseconds(left))
    }
}
