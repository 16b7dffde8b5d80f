import ProxyConfig

/// Client networks allowed to reach a surface (the admin routes' `admin.allow_cidrs`).
/// An empty list allows every address; a non-empty one refuses an address it does not
/// contain, and a request whose address is unknown.
package struct AddressAllowList: Sendable {
    /// False when no network is listed: then everyone passes.
    private let restricted: Bool
    private let networks: [CIDR]

    /// `cidrs` as configured; entries that do not parse match nothing (validation has
    /// already refused them), so a list of only such entries lets nobody in.
    package init(_ cidrs: [String]) {
        restricted = !cidrs.isEmpty
        networks = cidrs.compactMap(CIDR.init)
    }

    package func permits(_ address: String?) -> Bool {
        guard restricted else { return true }
        guard let address else { return false }
        return networks.contains { $0.contains(address) }
    }
}
