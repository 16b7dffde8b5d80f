import HTTPTypes

extension HTTPFields {
    /// The value of `name` exactly as `self[name]` gives it — every line of that name joined
    /// by ", " — without building the join when there is one line or none, which is nearly
    /// always: `self[name]` maps and joins a lazy sequence even for a single line, and the
    /// request path reads several headers per request (issue 16, `bench/instructions.py`).
    package func value(of name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            guard found == nil else { return self[name] }
            found = field.value
        }
        return found
    }
}
