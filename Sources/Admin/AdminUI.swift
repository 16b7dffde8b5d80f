import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web UI's files, shipped as package resources and read once at start.
struct AdminUI: Sendable {
    private let files: [String: (type: String, body: ByteBuffer)]

    init() {
        var files: [String: (String, ByteBuffer)] = [:]
        let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "svg": "image/svg+xml"]
        if let folder = Bundle.module.url(forResource: "UI", withExtension: nil),
            let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path)
        {
            for name in names {
                let ext = (name as NSString).pathExtension
                guard let type = types[ext], let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { continue }
                files[name] = (type, ByteBuffer(bytes: data))
            }
        }
        self.files = files
    }

    func serve(_ path: String) -> Response {
        var name = path == "/admin" || path == "/admin/" ? "index.html" : String(path.dropFirst("/admin/".count))
        if name.isEmpty { name = "index.html" }
        guard !name.contains("/"), let file = files[name] else {
            return AdminAPI.failure(.notFound, "no admin file \(name)")
        }
        var headers = HTTPFields()
        headers[.contentType] = file.type
        headers[.cacheControl] = "no-cache"
        headers[.contentSecurityPolicy] =
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        headers[HTTPField.Name("x-content-type-options")!] = "nosniff"
        headers[HTTPField.Name("x-frame-options")!] = "DENY"
        headers[HTTPField.Name("referrer-policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: file.body))
    }
}
