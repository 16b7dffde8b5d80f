/// One server-sent event: its `event:` name (if any) and its `data:` lines joined.
package struct ServerSentEvent: Sendable, Equatable {
    package var name: String?
    package var data: String

    package init(name: String? = nil, data: String) {
        self.name = name
        self.data = data
    }

    /// The event as it goes on the wire.
    package static func write(name: String?, data: String, into out: inout String) {
        if let name { out += "event: \(name)\n" }
        out += "data: "
        out += data
        out += "\n\n"
    }
}

/// Splits an event stream into events as bytes arrive, however the reads cut them. Bounded:
/// an event longer than ``maxEvent`` is refused (an upstream that never ends an event cannot
/// grow memory without bound).
package struct ServerSentEventSplitter: Sendable {
    package static let maxEvent = 8 * 1024 * 1024
    private var pending: [UInt8] = []
    private var searched = 0
    package private(set) var overflowed = false

    package init() {}

    /// The complete events in what arrived so far.
    package mutating func feed(_ bytes: some Collection<UInt8>) -> [ServerSentEvent] {
        guard !overflowed else { return [] }
        pending.append(contentsOf: bytes)
        var events: [ServerSentEvent] = []
        var start = 0
        var index = max(searched, 0)
        while index < pending.count {
            // An event ends at an empty line: LF LF, CR LF CR LF, or CR CR.
            guard pending[index] == 0x0A || pending[index] == 0x0D else {
                index += 1
                continue
            }
            var end: Int?
            if pending[index] == 0x0A, index + 1 < pending.count, pending[index + 1] == 0x0A {
                end = index + 2
            } else if pending[index] == 0x0D, index + 3 < pending.count, pending[index + 1] == 0x0A, pending[index + 2] == 0x0D, pending[index + 3] == 0x0A {
                end = index + 4
            } else if pending[index] == 0x0D, index + 1 < pending.count, pending[index + 1] == 0x0D {
                end = index + 2
            } else if pending[index] == 0x0A, index + 2 < pending.count, pending[index + 1] == 0x0D, pending[index + 2] == 0x0A {
                end = index + 3
            }
            if let end {
                if let event = Self.parse(pending[start..<index]) { events.append(event) }
                start = end
                index = end
            } else {
                index += 1
            }
        }
        if start > 0 { pending.removeFirst(start) }
        searched = max(0, pending.count - 3)
        if pending.count > Self.maxEvent {
            overflowed = true
            pending.removeAll()
        }
        return events
    }

    /// The last event when the stream ends without a closing empty line.
    package mutating func finish() -> ServerSentEvent? {
        defer { pending.removeAll() }
        return Self.parse(pending[...])
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> ServerSentEvent? {
        var name: String?
        var data: [Substring] = []
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            if line.hasPrefix(":") { continue }
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.first == " " { value = value.dropFirst() }
            } else {
                field = line
                value = ""
            }
            switch field {
            case "event": name = String(value)
            case "data": data.append(value)
            default: break
            }
        }
        guard !data.isEmpty || name != nil else { return nil }
        return ServerSentEvent(name: name, data: data.joined(separator: "\n"))
    }
}
