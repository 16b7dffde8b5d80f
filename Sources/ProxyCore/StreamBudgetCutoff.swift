import Dialects
import Guards
import NIOCore
import NIOHTTP1
import Store

/// Ends a streamed answer at its budget (`budgets.stream_cutoff`). A request reserves its
/// worst case before it is admitted — but a stream without `max_tokens` reserved only the
/// default output allowance, and may generate far more. As the stream passes, its output is
/// estimated (``OutputEstimate``); once it outgrows what the request holds, the next slice is
/// reserved from every budget the request is under, and when a budget cannot give it, the
/// stream ends there: the buffer that crossed goes out (the provider made and bills it), then
/// a `budget_exceeded` error event in the client's dialect, and the driver cancels the
/// upstream request. Settlement then books the larger of the reported and the estimated
/// usage, so a cut stream is never booked as cheaper than it was.
package final class StreamBudgetCutoff: ResponseStage {
    /// Tokens reserved per slice: small enough that a cut lands close to the budget, large
    /// enough that a fast stream takes the ledger's lock every few hundred tokens, not per chunk.
    package static let slice: Int64 = 256

    private let reservation: Reservation
    private let pricing: PriceTable
    private let model: String?
    private let dialect: Dialect
    private let scale: Double
    private var estimate = OutputEstimate()
    /// Output tokens the request's holds cover so far.
    private var covered: Int64
    /// An event stream (SSE) or Gemini's JSON array; nil when the answer is not a stream.
    private var framing: Framing?
    package private(set) var cutOff: GatewayError?

    enum Framing { case events, jsonArray }

    package init(reservation: Reservation, pricing: PriceTable, model: String?, dialect: Dialect, outputAllowance: Int64, scale: Double) {
        self.reservation = reservation
        self.pricing = pricing
        self.model = model
        self.dialect = dialect
        self.covered = max(0, outputAllowance)
        self.scale = scale
    }

    package func head(status: Int, headers: HTTPHeaders) {
        guard status == 200 else { return }
        let type = headers.first(name: "content-type")?.lowercased() ?? ""
        if type.hasPrefix("text/event-stream") {
            framing = .events
        } else if dialect == .gemini, !headers.contains(name: "content-length") {
            framing = .jsonArray
        }
    }

    package func body(_ buffer: ByteBuffer) -> ByteBuffer? {
        guard framing != nil, cutOff == nil else { return cutOff == nil ? buffer : nil }
        estimate.scan(buffer)
        while estimate.tokens > covered {
            // A slice ahead if the budget has it, else exactly what was generated: the cut
            // then lands at the budget itself, not a slice before it.
            let needed = estimate.tokens - covered
            let ahead = max(Self.slice, needed)
            if reserve(ahead) == nil {
                covered &+= ahead
            } else if let exhausted = reserve(needed) {
                cutOff = .budgetExceeded(
                    "The stream was cut off at the \(exhausted.dimension) budget of \(exhausted.limit): it is spent\(exhausted.untilReset)",
                    retryAfter: exhausted.retryAfter(nowMs: WallClock.nowMs()))
                break
            } else {
                covered &+= needed
            }
        }
        return buffer
    }

    /// Reserves `tokens` more output, priced, from every budget; why not, when a budget cannot give them.
    private func reserve(_ tokens: Int64) -> BudgetLedger.Exhausted? {
        let charge = BudgetCharge(tokens: tokens, costUSD: pricing.cost(model: model, usage: TokenUsage(input: 0, output: tokens)))
        return reservation.extendBudgets(by: charge, scale: scale, nowMs: WallClock.nowMs())
    }

    /// After a cut: the error event that ends the stream, in the client's dialect.
    package func end() -> ByteBuffer? {
        guard let cutOff, let framing else { return nil }
        let body = cutOff.body(in: dialect)
        switch (framing, dialect) {
        case (.jsonArray, _): return ByteBuffer(string: "," + body + "]")
        case (.events, .anthropic): return ByteBuffer(string: "event: error\ndata: " + body + "\n\n")
        case (.events, .openai): return ByteBuffer(string: "data: " + body + "\n\ndata: [DONE]\n\n")
        case (.events, .gemini): return ByteBuffer(string: "data: " + body + "\r\n\r\n")
        }
    }

    package func finish(into record: inout RequestRecord) {
        guard cutOff != nil else { return }
        record.errorCode = .budgetExceeded
        // Book at least what was seen generated: the provider may not have reported it yet.
        let output = Int(clamping: estimate.tokens)
        if (record.completionTokens ?? 0) < output {
            record.completionTokens = output
            record.totalTokens = (record.promptTokens ?? 0) + output
        }
    }
}
