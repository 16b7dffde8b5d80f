import Logging

#if canImport(Glibc)
    import ProxyCore
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The process's open-file limit. Each client connection takes a descriptor and each
/// proxied request another one upstream; the usual soft limit of 1,024 would let a few
/// hundred slow clients exhaust it, so the soft limit is raised to the hard limit at start.
enum OpenFileLimit {
    /// Raises the soft limit to the hard one, logs what it did, and warns when even the hard
    /// limit cannot hold `maxConnections` clients with an upstream connection each.
    static func raise(toServe maxConnections: Int, logger: Logger) {
        #if os(Linux)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return }
        let before = limit.rlim_cur
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 {
                limit = raised
                logger.info("raised the open-file limit", metadata: ["from": .stringConvertible(before), "to": .stringConvertible(limit.rlim_cur)])
            }
        }
        let needed = UInt64(maxConnections) * 2 + 256
        if UInt64(limit.rlim_cur) < needed {
            logger.warning(
                "the open-file limit is lower than server.max_connections needs (two descriptors per connection): lower max_connections or raise the hard limit (ulimit -Hn, LimitNOFILE=)",
                metadata: ["open_file_limit": .stringConvertible(limit.rlim_cur), "max_connections": .stringConvertible(maxConnections)])
        }
    }
}
