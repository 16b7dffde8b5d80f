import Logging
import ProxyConfig
import ProxyCore
import ServiceLifecycle
import UnixSignals
import Upstreams

/// Reloads the configuration on SIGHUP. The new configuration is validated as a whole and
/// swapped atomically; requests in flight finish on the state they started with. An invalid
/// file is rejected with every reason logged, and the running configuration stays.
struct ReloadService: Service {
    let gateway: Gateway
    let store: StateStore
    let catalog: ModelCatalog
    let health: HealthRegistry
    let logger: Logger
    /// Also on SIGHUP: the TLS certificate files are read again.
    var onReload: @Sendable () -> Void = {}

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                Self.reload(loader: gateway.loader, store: store, logger: logger)
                onReload()
            }
        }
    }

    @discardableResult
    static func reload(loader: ConfigLoader, store: StateStore, logger: Logger) -> [String] {
        do {
            let config = try loader.load()
            let (current, next) = store.update { $0.rebuilt(with: config) }
            if config.server.host != current.config.server.host || config.server.port != current.config.server.port {
                logger.warning("server.host and server.port changes take effect at the next restart")
            }
            logger.info("configuration reloaded", metadata: ["providers": .stringConvertible(next.routes.providers.count)])
            for warning in config.warnings { logger.warning("\(warning)") }
            return []
        } catch let error as ConfigError {
            for problem in error.problems { logger.error("configuration reload rejected", metadata: ["problem": .string(problem.description)]) }
            return error.problems.map(\.description)
        } catch {
            logger.error("configuration reload rejected", metadata: ["problem": .string("\(error)")])
            return ["\(error)"]
        }
    }
}
