import Foundation

/// The encrypted TCP tunnel (`tunnel:`): an xllm-compatible server (protocol v1) and the
/// streaming, replay-proof protocol v2 on one port (docs/TUNNEL.md). Off unless enabled
/// here, by `LLMPROXY_TUNNEL`, or by `llm-proxy tunnel serve`.
package struct TunnelConfig: Sendable, Equatable {
    /// Serve the tunnel beside the HTTP listener. Default false.
    package var enabled = false
    /// Address to bind (`XLLM_PROXY_HOST`). Default 0.0.0.0, as the xllm proxy: the tunnel is
    /// meant to be reached from other machines, and only holders of the key get anything.
    package var host = "0.0.0.0"
    /// Port to bind (`XLLM_PROXY_PORT`). Default 50051.
    package var port = 50051
    /// The pre-shared 32-byte key, as 64 hex digits or base64 (`LLMPROXY_TUNNEL_KEY`). Never
    /// built in; `llm-proxy tunnel keygen` prints a new one.
    package var key: String?
    /// A file holding the key (hex or base64, surrounding whitespace ignored).
    package var keyFile: String?
    /// Upstream hosts a tunnel request may name besides the configured providers' own, as
    /// `HOST` (either scheme's default port) or `HOST:PORT`. Default none.
    package var allowHosts: [String] = []
    /// Let tunnel requests reach private, loopback and link-local addresses (literal or
    /// resolved) of hosts in `allow_hosts`. Default false: the tunnel is no way into the
    /// server's own network. Configured providers are reachable wherever they are.
    package var allowPrivateNetworks = false
    /// Largest v1 request document or v2 frame, in bytes. Default 64 MiB (a v1 document
    /// spells each body byte as a JSON number, up to four characters each).
    package var maxDocumentBytes = 67_108_864
    /// Largest response a v1 client gets (v1 answers in one document, so it is buffered).
    /// Default 32 MiB; past it the client gets an error instead.
    package var maxResponseBytes = 33_554_432
    /// Seconds a client may take to send a v1 document or a v2 frame once it started, and the
    /// v2 handshake. Default 30.
    package var readTimeout = 30.0
    /// Seconds a v1 connection may last in all (request, upstream, response). Default 600.
    package var totalTimeout = 600.0
    /// Seconds an idle v2 connection (no request in flight) stays open. Default 300.
    package var idleTimeout = 300.0
    /// Seconds a v2 frame's timestamp may differ from the server's clock; frames outside are
    /// refused, and request ids are remembered this long to refuse replays. Default 120.
    package var replayWindow = 120.0
    /// Requests in flight at once on one v2 connection. Default 64.
    package var maxStreams = 64
    /// Tunnel connections open at once; past it new ones are closed at accept. Default 1024.
    package var maxConnections = 1024

    package init() {}

    /// The key's 32 bytes from its text form: 64 hex digits, or base64 (standard or URL
    /// alphabet, padding optional). nil when it is neither or not 32 bytes long.
    package static func keyBytes(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.utf8.count == 64, let bytes = hexBytes(trimmed) { return bytes }
        var base64 = trimmed.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), data.count == 32 else { return nil }
        return Array(data)
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for char in text.utf8 {
            let value: UInt8
            switch char {
            case 0x30...0x39: value = char - 0x30
            case 0x61...0x66: value = char - 0x61 + 10
            case 0x41...0x46: value = char - 0x41 + 10
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return high == nil ? bytes : nil
    }

    /// The key from `key` or `key_file`, or a message naming what is wrong and the fix.
    package func resolvedKey(readFile: (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) }) -> Result<[UInt8], ConfigProblem> {
        let fix = "give 32 bytes as 64 hex digits or base64 (`llm-proxy tunnel keygen` prints one)"
        if let key {
            guard let bytes = Self.keyBytes(key) else { return .failure(ConfigProblem(path: "tunnel.key", message: "is not a 32-byte key: \(fix)")) }
            return .success(bytes)
        }
        if let keyFile {
            guard let text = readFile(keyFile) else {
                return .failure(ConfigProblem(path: "tunnel.key_file", message: "cannot be read (\(keyFile)): check the path and its permissions"))
            }
            guard let bytes = Self.keyBytes(text) else {
                return .failure(ConfigProblem(path: "tunnel.key_file", message: "does not hold a 32-byte key (\(keyFile)): \(fix)"))
            }
            return .success(bytes)
        }
        return .failure(
            ConfigProblem(
                path: "tunnel.key",
                message: "is required when the tunnel is enabled: set tunnel.key or tunnel.key_file, LLMPROXY_TUNNEL_KEY, or --key-file; \(fix)"))
    }
}

/// One `tunnel.allow_hosts` entry: a host name or address and an optional port.
package struct TunnelHostRule: Sendable, Equatable {
    package var host: String
    package var port: Int?

    /// Parses `HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT`; nil for anything else
    /// (schemes, paths, user info and wildcards have no place in an allowlist entry).
    package init?(_ text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("*") else { return nil }
        var port: Int?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                port = p
            } else if !after.isEmpty {
                return nil
            }
            rest = rest[rest.index(after: rest.startIndex)..<close]
        } else if let colon = rest.firstIndex(of: ":") {
            guard rest.lastIndex(of: ":") == colon, let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            rest = rest[..<colon]
        }
        guard !rest.isEmpty, rest.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_" }) else { return nil }
        host = String(rest)
        self.port = port
    }

    package func matches(host: String, port: Int) -> Bool {
        self.host == host && (self.port == nil ? port == 80 || port == 443 : self.port == port)
    }
}
