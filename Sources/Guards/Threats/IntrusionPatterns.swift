/// Signs that a request is an attack or a scan rather than an API call: probes of paths no
/// API client asks for (`/.env`, `/wp-admin`, …), traversal and injection in the path or
/// query (plain and percent-encoded), scanners' user agents, `TRACE`/`TRACK`.
///
/// Deliberately narrow: the official SDKs, curl, python-requests and browsers never match
/// on normal traffic (their user agents are not listed, API paths hold none of these), so a
/// match is evidence, and it only adds to a score that must reach dozens before a block.
package enum IntrusionPatterns {
    /// What a request looked like.
    package enum Finding: String, Sendable, CaseIterable {
        case honeypot, traversal, injection, scanner
        case traceMethod = "trace_method"
    }

    /// The first finding for a request, nil for an ordinary one.
    package static func inspect(method: String, path: String, query: Substring?, userAgent: String?) -> Finding? {
        if method == "TRACE" || method == "TRACK" { return .traceMethod }
        if let userAgent, isScanner(userAgent) { return .scanner }
        // API paths are short ASCII; the common case is decided on the raw bytes.
        let lowerPath = path.lowercased()
        if honeypots.contains(where: { lowerPath == $0 || lowerPath.hasPrefix($0 + "/") || lowerPath.hasPrefix($0 + ".") }) { return .honeypot }
        if honeypotSuffixes.contains(where: { lowerPath.hasSuffix($0) }) { return .honeypot }
        var text = lowerPath
        if let query { text += "?" + query.lowercased() }
        // Decoded twice: `%252e%252e` is a double-encoded `..`.
        let decoded = percentDecoded(percentDecoded(text))
        for candidate in [text, decoded] {
            if traversal.contains(where: { candidate.contains($0) }) { return .traversal }
            if injection.contains(where: { candidate.contains($0) }) { return .injection }
        }
        return nil
    }

    static func isScanner(_ userAgent: String) -> Bool {
        let lower = userAgent.lowercased()
        return scanners.contains { lower.contains($0) }
    }

    static let honeypots = [
        "/.env", "/.git", "/.aws", "/.ssh", "/.htaccess", "/.htpasswd", "/.ds_store", "/wp-admin", "/wp-login.php", "/wp-content", "/wp-includes",
        "/xmlrpc.php", "/phpmyadmin", "/pma", "/myadmin", "/admin.php", "/administrator", "/cgi-bin", "/boaform", "/actuator", "/server-status",
        "/vendor/phpunit", "/solr", "/console", "/hnap1", "/manager/html", "/config.json", "/etc/passwd",
    ]
    static let honeypotSuffixes = [".php", ".asp", ".aspx", ".jsp", ".cgi", "/.env", "/.git/config", "web.config"]
    static let traversal = ["../", "..\\", "/etc/passwd", "/proc/self", "c:\\windows", "boot.ini"]
    static let injection = [
        "<script", "javascript:", "onerror=", "onload=", "union select", "union all select", "' or '1'='1", "\" or \"1\"=\"1", "' or 1=1", " or 1=1--",
        "sleep(", "benchmark(", "waitfor delay", "information_schema", "xp_cmdshell", "${jndi:", "$(", "`", ";cat ", "|cat ", "&&cat ",
    ]
    static let scanners = [
        "sqlmap", "nikto", "nmap", "masscan", "zgrab", "nuclei", "dirbuster", "gobuster", "wpscan", "acunetix", "nessus", "openvas", "w3af",
        "havij", "netsparker", "feroxbuster", "ffuf", "wfuzz", "jaeles", "xsstrike", "commix",
    ]

    /// `%XX` decoded (invalid escapes kept), `+` as space.
    static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") || text.contains("+") else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), iterator.count >= 2, let high = hex(iterator[iterator.startIndex]),
                let low = hex(iterator[iterator.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self).lowercased()
    }

    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
