import Dialects
import HTTPTypes
import Testing

@Suite("HTTPFields single value")
struct HTTPFieldsValueTests {
    @Test("value(of:) says what the subscript says: none, one line, several lines joined, other names around")
    func sameAsSubscript() {
        let name = HTTPField.Name.authorization
        let cases: [HTTPFields] = [
            [:],
            [.contentType: "application/json"],
            [.authorization: "Bearer one"],
            HTTPFields([HTTPField(name: .accept, value: "*/*"), HTTPField(name: name, value: "Bearer one"), HTTPField(name: .userAgent, value: "x")]),
            HTTPFields([HTTPField(name: name, value: "Bearer one"), HTTPField(name: .accept, value: "*/*"), HTTPField(name: name, value: "Bearer two")]),
            HTTPFields([HTTPField(name: name, value: ""), HTTPField(name: name, value: "a"), HTTPField(name: name, value: "b")]),
            HTTPFields([HTTPField(name: HTTPField.Name("AUTHORIZATION")!, value: "Bearer upper")]),
        ]
        for fields in cases {
            #expect(fields.value(of: name) == fields[name], "\(fields)")
        }
    }
}
