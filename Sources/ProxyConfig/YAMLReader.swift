import Yams

/// Reads typed values out of a YAML node tree while collecting every problem it meets, so one
/// run of `config check` reports all of them with their key paths. Unknown keys are problems
/// too: a misspelt key silently ignored is the worst kind of configuration bug.
struct YAMLReader {
    private(set) var problems: [ConfigProblem] = []

    mutating func problem(_ path: String, _ message: String) {
        problems.append(ConfigProblem(path: path.isEmpty ? "(top level)" : path, message: message))
    }

    /// The mapping at `node`, as key → node pairs in file order; records a problem when the
    /// node is something else. Keys outside `known` are reported as unknown.
    mutating func mapping(_ node: Node, at path: String, known: Set<String>) -> [String: Node] {
        guard let mapping = node.mapping else {
            problem(path, "must be a mapping of keys to values (got \(describe(node)))")
            return [:]
        }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                problem(path, "has a key that is not a string (\(describe(key)))")
                continue
            }
            if !known.contains(name) {
                let suggestion = Self.closest(to: name, in: known).map { "; did you mean '\($0)'?" } ?? ""
                problem(join(path, name.isEmpty ? "\"\"" : name), "is not a known key\(suggestion) (known: \(known.sorted().joined(separator: ", ")))")
                continue
            }
            result[name] = value
        }
        return result
    }

    mutating func string(_ node: Node?, at path: String) -> String? {
        guard let node else { return nil }
        if case .scalar(let scalar) = node {
            if scalar.style == .plain, scalar.string == "~" || scalar.string == "null" || scalar.string.isEmpty { return nil }
            return scalar.string
        }
        problem(path, "must be a string (got \(describe(node)))")
        return nil
    }

    mutating func int(_ node: Node?, at path: String) -> Int? {
        guard let node else { return nil }
        if let value = Self.wholeNumber(node) { return value }
        if Self.integerText(node) {
            problem(path, "must be a whole number between \(Int.min) and \(Int.max) (got \(describe(node)))")
        } else {
            problem(path, "must be a whole number (got \(describe(node)))")
        }
        return nil
    }

    mutating func double(_ node: Node?, at path: String) -> Double? {
        guard let node else { return nil }
        if let value = Self.wholeNumber(node) { return Double(value) }
        if let value = Self.plainNumber(node) {
            if value.isFinite { return value }
            problem(path, "must be a finite number (got \(describe(node)))")
            return nil
        }
        problem(path, "must be a number (got \(describe(node)))")
        return nil
    }

    /// A plain scalar as a whole number: decimal, or `0x`/`0o`/`0b` with an optional sign and
    /// `_` separators; nil when it is not one or does not fit an `Int`.
    ///
    /// Not Yams' `node.int`: that reads YAML 1.1's base-60 form (`1:30`) with unchecked
    /// multiplication, so a long one (`1:0:0:0:0:0:0:0:0:0:0:0`) traps; and it reads `010`
    /// as octal, which nobody writing a port number means.
    static func wholeNumber(_ node: Node) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return nil }
        var text = Substring(scalar.string.replacingOccurrences(of: "_", with: ""))
        var sign = ""
        if let first = text.first, first == "-" || first == "+" {
            sign = first == "-" ? "-" : ""
            text = text.dropFirst()
        }
        var radix = 10
        for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] where text.lowercased().hasPrefix(prefix) {
            radix = base
            text = text.dropFirst(2)
        }
        // `Int(_:radix:)` accepts a sign of its own, which must not follow the prefix.
        guard let first = text.first, first != "-", first != "+" else { return nil }
        return Int(sign + text, radix: radix)
    }

    /// A plain scalar as a floating-point number, possibly infinite or NaN (`1e400`, `.inf`,
    /// `.nan`); nil for text and for the base-60 form, which Yams would also accept.
    static func plainNumber(_ node: Node) -> Double? {
        guard case .scalar(let scalar) = node, !scalar.string.contains(":") else { return nil }
        return node.float
    }

    /// Whether the scalar is written as decimal digits only (after one sign): a whole number
    /// that `wholeNumber` refused only because it does not fit an `Int`.
    static func integerText(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        let digits = scalar.string.first == "-" || scalar.string.first == "+" ? scalar.string.dropFirst() : Substring(scalar.string)
        return digits.contains { $0.isASCII && $0.isNumber } && digits.allSatisfy { $0.isASCII && $0.isNumber || $0 == "_" }
    }

    mutating func bool(_ node: Node?, at path: String) -> Bool? {
        guard let node else { return nil }
        if let value = node.bool { return value }
        problem(path, "must be true or false (got \(describe(node)))")
        return nil
    }

    /// A list of strings; a single string is accepted as a one-element list.
    mutating func strings(_ node: Node?, at path: String) -> [String]? {
        guard let node else { return nil }
        if case .scalar = node { return string(node, at: path).map { [$0] } ?? [] }
        guard let sequence = node.sequence else {
            problem(path, "must be a list of strings (got \(describe(node)))")
            return nil
        }
        return sequence.enumerated().compactMap { index, item in string(item, at: "\(path)[\(index)]") }
    }

    /// A mapping of strings to strings, or a list of `"Name: value"` lines (the seed's form
    /// for health-check headers).
    mutating func headers(_ node: Node?, at path: String) -> [String: String]? {
        guard let node else { return nil }
        if let sequence = node.sequence {
            var result: [String: String] = [:]
            for (index, item) in sequence.enumerated() {
                guard let line = string(item, at: "\(path)[\(index)]") else { continue }
                guard let colon = line.firstIndex(of: ":") else {
                    problem("\(path)[\(index)]", "must look like \"Name: value\" (got \"\(line)\")")
                    continue
                }
                let name = line[..<colon].trimmingSpaces()
                let value = line[line.index(after: colon)...].trimmingSpaces()
                result[name] = value
            }
            return result
        }
        guard let mapping = node.mapping else {
            problem(path, "must be a mapping of header names to values (got \(describe(node)))")
            return nil
        }
        var result: [String: String] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { continue }
            if let value = string(value, at: join(path, name)) { result[name] = value }
        }
        return result
    }

    func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "\"\(scalar.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The known key within edit distance 2 of `name`, to suggest for a typo.
    static func closest(to name: String, in known: Set<String>) -> String? {
        known.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where j <= b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    package func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
