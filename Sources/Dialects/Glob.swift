/// A model-name pattern with `*` (any run of characters) and `?` (one character).
package struct Glob: Sendable, Equatable {
    package let pattern: String
    private let parts: [Character]

    package init(_ pattern: String) {
        self.pattern = pattern
        self.parts = Array(pattern)
    }

    package static func isPattern(_ text: String) -> Bool {
        text.contains("*") || text.contains("?")
    }

    package func matches(_ text: String) -> Bool {
        let text = Array(text)
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < parts.count, parts[p] == "?" || parts[p] == text[t] {
                p += 1
                t += 1
            } else if p < parts.count, parts[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < parts.count, parts[p] == "*" { p += 1 }
        return p == parts.count
    }
}
