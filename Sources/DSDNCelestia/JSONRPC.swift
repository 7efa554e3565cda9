import AsyncHTTPClient
import DSDNDA
import DSDNJSON
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An unsigned integer that celestia-node writes either as a JSON number (`blob.Submit`'s height) or as
/// a string (`header.height`, balances). Parsed leniently, because versions drift.
struct LenientUInt64: Decodable, Sendable, Hashable {
    var value: UInt64

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) {
            value = number
            return
        }
        let text = try container.decode(String.self)
        guard let number = UInt64(text.trimmedWhitespace) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an unsigned integer, got \(text.debugDescription)")
        }
        value = number
    }
}

/// The JSON-RPC error object.
struct RPCErrorObject: Decodable, Sendable, Hashable {
    var code: Int
    var message: String
}

/// A JSON-RPC 2.0 response envelope. `result` is `nil` both when it is absent and when it is `null`
/// (which is how `blob.GetAll` reports an empty height).
struct RPCResponse<Result: Decodable>: Decodable {
    var result: Result?
    var error: RPCErrorObject?
}

struct RPCRequest: Encodable {
    var jsonrpc = "2.0"
    var id: UInt64
    var method: String
    var params: [JSONValue]
}

/// Why one JSON-RPC call failed, before it is classified into a `DAError` by the caller (who knows
/// whether the call was a write, and so whether the failure is ambiguous).
enum CallFailure: Error, Sendable {
    /// HTTP 401 (or 403): the node rejected the token. The body is empty by design.
    case rejectedToken(status: Int)
    /// A JSON-RPC error object (`code: 1` application errors, `-32xxx` protocol errors).
    case rpc(code: Int, message: String)
    /// The client deadline passed. The node may still have processed the request.
    case timedOut(Duration)
    /// The connection could not be made (nothing was sent).
    case unreachable(String)
    /// The connection failed after the request may have been sent.
    case transport(String)
    /// A non-2xx status without a JSON-RPC error body (e.g. a proxy's 502).
    case httpStatus(Int, String)
    /// A 2xx response that is not the JSON-RPC shape expected.
    case malformed(String)
}

/// Sends JSON-RPC 2.0 requests to one celestia-node endpoint over AsyncHTTPClient.
final class RPCTransport: Sendable {
    let http: HTTPClient
    let url: String
    let endpoint: String
    let maxResponseBytes: Int
    let logger: Logger
    private let authorization: String?
    private let nextID = Atomic<UInt64>(0)

    init(http: HTTPClient, url: String, endpoint: String, token: CelestiaAuthToken?, maxResponseBytes: Int, logger: Logger) {
        self.http = http
        self.url = url
        self.endpoint = endpoint
        self.authorization = token.map { "Bearer \($0.secret)" }
        self.maxResponseBytes = maxResponseBytes
        self.logger = logger
    }

    /// Whether requests carry a token.
    var hasToken: Bool { authorization != nil }

    /// Calls `method` with positional `params` and decodes its `result` as `Result` (`nil` for `null`).
    func call<Result: Decodable>(
        _ method: String, _ params: [JSONValue], timeout: Duration, as _: Result.Type = Result.self
    ) async throws(CallFailure) -> Result? {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let body: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            body = try encoder.encode(RPCRequest(id: id, method: method, params: params))
        } catch {
            throw .malformed("cannot encode the \(method) request: \(error)")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.body = .bytes(ByteBuffer(bytes: body))

        logger.trace("celestia rpc call", metadata: ["method": "\(method)", "id": "\(id)", "bytes": "\(body.count)"])
        let status: HTTPResponseStatus
        let bytes: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: timeAmount(timeout), logger: nil)
            status = response.status
            bytes = try await response.body.collect(upTo: maxResponseBytes)
        } catch let error as HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout:
                throw .timedOut(timeout)
            case .connectTimeout:
                throw .unreachable("connect timeout")
            default:
                throw .transport("\(error)")
            }
        } catch let error as NIOTooManyBytesError {
            throw .malformed("the response exceeds \(maxResponseBytes) bytes (\(error))")
        } catch {
            if Self.isConnectFailure(error) { throw .unreachable("\(error)") }
            throw .transport("\(error)")
        }

        if status.code == 401 || status.code == 403 {
            throw .rejectedToken(status: Int(status.code))
        }
        let data = Data(bytes.readableBytesView)
        // go-jsonrpc answers protocol errors (-32601, -32602, -32700) with HTTP 500 and a JSON body, so
        // decode whatever JSON there is before judging the status.
        let envelope = try? JSONDecoder().decode(RPCResponse<Result>.self, from: data)
        if let error = envelope?.error {
            throw .rpc(code: error.code, message: error.message)
        }
        guard (200..<300).contains(status.code) else {
            throw .httpStatus(Int(status.code), Self.snippet(data))
        }
        guard let envelope else {
            // Decode again to report why (the first attempt swallowed the error).
            do {
                _ = try JSONDecoder().decode(RPCResponse<Result>.self, from: data)
                throw CallFailure.malformed("undecodable \(method) response")
            } catch let failure as CallFailure {
                throw failure
            } catch {
                throw .malformed("unexpected \(method) response (\(Self.shortDecodingError(error))): \(Self.snippet(data))")
            }
        }
        return envelope.result
    }

    private static func isConnectFailure(_ error: any Error) -> Bool {
        let text = "\(error)"
        if text.contains("NIOConnectionError") || text.contains("connectTimeout") { return true }
        return text.contains("connectionRefused") || text.contains("Connection refused")
            || text.contains("ECONNREFUSED")
    }

    static func snippet(_ data: Data) -> String {
        if data.isEmpty { return "(empty body)" }
        let text = String(String(decoding: data.prefix(200), as: UTF8.self).map { $0.isNewline ? " " : $0 })
        return data.count > 200 ? text + "…" : text
    }

    static func shortDecodingError(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case let .typeMismatch(_, context), let .valueNotFound(_, context),
            let .keyNotFound(_, context), let .dataCorrupted(context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Converts a `Duration` to NIO's `TimeAmount` (saturating at about 292 years).
func timeAmount(_ duration: Duration) -> TimeAmount {
    let (seconds, attoseconds) = duration.components
    let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if nanos.overflow { return .nanoseconds(seconds < 0 ? .min : .max) }
    let total = nanos.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000)
    return .nanoseconds(total.overflow ? .max : total.partialValue)
}

/// Base64 helpers (standard alphabet, padded), as celestia-node writes `[]byte` fields.
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { [UInt8]($0) } }
}

extension String {
    /// The string without leading and trailing whitespace and newlines.
    var trimmedWhitespace: String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
