import Dialects
import NIOCore
import NIOHTTP1

/// Translates an upstream's answer into the client's dialect on its way out (see
/// ``ResponseTranslator``): event streams event by event, whole answers and errors at their
/// end. It runs after the usage tap (which reads the upstream's own bytes) and before the
/// budget cut-off (which reads what the client gets).
package final class TranslationStage: ResponseStage {
    private var translator: ResponseTranslator
    private let warning: String?

    package init(translator: ResponseTranslator, warning: String?) {
        self.translator = translator
        self.warning = warning
    }

    package func rewriteHead(status: inout Int, headers: inout HTTPHeaders) {
        let (clientStatus, contentType) = translator.head(status: status, contentType: headers.first(name: "content-type"))
        status = clientStatus
        // The body changes length: the client's response is chunked.
        headers.remove(name: "content-length")
        headers.remove(name: "content-encoding")
        headers.replaceOrAdd(name: "content-type", value: contentType)
        if let warning { headers.replaceOrAdd(name: "x-llmproxy-warning", value: warning) }
    }

    package func body(_ buffer: ByteBuffer) -> ByteBuffer? {
        translator.body(buffer.readableBytesView).map { ByteBuffer(string: $0) }
    }

    package func end() -> ByteBuffer? {
        translator.end().map { ByteBuffer(string: $0) }
    }

    package func finish(into record: inout RequestRecord) {
        record.take(translator.usage)
        record.translation = "\(translator.client.rawValue)→\(translator.upstream.rawValue)"
        // An answer that began as a 200 and turned out to be an error (an error event in the
        // stream, a body that is not the dialect's answer): the client got the error in its
        // dialect, and the record says the answer failed, so nothing treats it as one.
        if translator.failure != nil, record.errorCode == nil, record.status < 400 { record.errorCode = .upstreamStreamError }
    }
}
