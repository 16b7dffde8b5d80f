/// Something that learns about every request the gateway answers: metrics, the request log,
/// analytics events; later budgets, detectors, trace spans, the shedder's release.
package protocol RequestObserver: Sendable {
    /// A request began (its head was read).
    func requestStarted()
    /// A streamed answer's head went out (``RequestRecord/streamOpened`` is set on the
    /// record that ``requestFinished(_:)`` later gets).
    func streamStarted()
    /// The request was answered (or failed, or its client left): its final record.
    func requestFinished(_ record: RequestRecord)
}

extension RequestObserver {
    package func requestStarted() {}
    package func streamStarted() {}
}

/// Accounts for requests: whoever answers a request calls ``started()`` once when it takes
/// the request and ``finished(_:)`` exactly once when the answer is done, and every observer
/// hears of it in the order given.
package struct RequestRecorder: Sendable {
    package let observers: [any RequestObserver]

    package init(_ observers: [any RequestObserver]) { self.observers = observers }

    package func started() {
        for observer in observers { observer.requestStarted() }
    }

    package func streamStarted() {
        for observer in observers { observer.streamStarted() }
    }

    package func finished(_ record: RequestRecord) {
        for observer in observers { observer.requestFinished(record) }
    }
}
