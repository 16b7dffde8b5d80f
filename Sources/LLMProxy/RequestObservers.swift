import Logging
import ProxyCore
import Store
import Telemetry

extension GatewayMetrics: RequestObserver {
    package func requestStarted() { started() }
    package func streamStarted() { streamOpened() }
    package func requestFinished(_ record: RequestRecord) { completed(record) }
}

/// Writes one request-log line per request, when `logging.requests` is on: through our own
/// JSON handler's sink directly when that is where request lines go (building the line
/// without a metadata dictionary), else through swift-log.
struct RequestLogObserver: RequestObserver {
    let store: StateStore
    let logger: Logger
    /// Set when request lines go to our own JSON handler at info level.
    let directJSONLabel: String?

    init(store: StateStore, logger: Logger) {
        self.store = store
        self.logger = logger
        if let handler = logger.handler as? LogLineHandler, handler.format == .json, handler.logLevel <= .info {
            directJSONLabel = handler.label
        } else {
            directJSONLabel = nil
        }
    }

    func requestFinished(_ record: RequestRecord) {
        guard store.state.config.logging.requests else { return }
        if let label = directJSONLabel {
            LineSink.standardOutput.append(record.jsonLine(logger: label))
        } else {
            record.write(to: logger)
        }
    }
}

/// Ends the request's span (and its last attempt's) with what the record says, when tracing is on.
struct TraceObserver: RequestObserver {
    func requestFinished(_ record: RequestRecord) { record.span?.finished(record) }
}

/// Sends an analytics event for every API request that passed the key check (rejections
/// before it are counted by the metrics alone, so unauthenticated traffic cannot fill the store).
struct AnalyticsObserver: RequestObserver {
    let events: EventRecorder

    func requestFinished(_ record: RequestRecord) {
        if record.dialect != nil, record.authenticated { events.record(record.event) }
    }
}
