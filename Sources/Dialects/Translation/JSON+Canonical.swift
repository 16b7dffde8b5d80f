extension JSON {
    /// The value written so that documents that mean the same are the same text: compact,
    /// the top-level members sorted by name (stably, so repeated names keep their order),
    /// strings with their escapes resolved and written one way. Numbers keep their literal
    /// (`1` and `1.0` stay apart: an upstream may read them differently). For the exact
    /// response cache, whose key must not depend on how a client happens to order or space
    /// its request's fields.
    ///
    /// Nested objects keep their order: in a JSON schema (`response_format`, a tool's
    /// `parameters`) the order of `properties` is the order the model writes the fields in,
    /// so two schemas that differ only in order ask for different answers.
    package var canonicalText: String {
        var out = ""
        guard case .object(let object) = self else {
            write(to: &out)
            return out
        }
        Self.write(members: object.sortedMembers, to: &out)
        return out
    }
}

extension JSONObject {
    /// The members by name, in UTF-8 order; members of one name in their order.
    var sortedMembers: [(key: String, value: JSON)] {
        members.enumerated().sorted { lhs, rhs in
            lhs.element.key == rhs.element.key ? lhs.offset < rhs.offset : lhs.element.key.utf8.lexicographicallyPrecedes(rhs.element.key.utf8)
        }.map(\.element)
    }
}
