import ArgumentParser
import AsyncHTTPClient
import DSDNAPI
import DSDNCore
import DSDNInterchange
import Foundation
import NIOCore
import NIOHTTP1

/// `--api`, `--token-file` and `--timeout`, shared by every command that talks to a running coordinator
/// (`dsdn-coordinator serve`) over its HTTP API.
struct APIOptions: ParsableArguments {
    /// The default API address, where `serve` listens unless told otherwise.
    static let defaultURL = "http://127.0.0.1:45831"

    @Option(name: .customLong("api"), help: ArgumentHelp("The coordinator's HTTP API.", valueName: "url"))
    var url: String = APIOptions.defaultURL

    @Option(
        help: ArgumentHelp(
            "A file holding the API bearer token (default: $DSDN_API_TOKEN, else .dsdn/api-token when it exists).",
            valueName: "path"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("Seconds to wait for each API response.", valueName: "seconds"))
    var timeout: Int = 300

    func validate() throws {
        guard (1...86_400).contains(timeout) else { throw ValidationError("--timeout must be from 1 to 86400 seconds, got \(timeout)") }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ValidationError("--api must be an http:// or https:// URL, e.g. \(Self.defaultURL), got \(url.debugDescription)")
        }
        guard components.query == nil, components.fragment == nil else {
            throw ValidationError("--api must be the API's base URL without ?query or #fragment, got \(url.debugDescription)")
        }
    }

    /// The base URL without a trailing slash.
    var baseURL: String {
        var trimmed = url
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// The bearer token: `--token-file`, else `DSDN_API_TOKEN`, else `.dsdn/api-token` when it exists.
    func token() throws -> String {
        if let tokenFile {
            return try Self.readToken(tokenFile, what: "--token-file \(tokenFile)")
        }
        if let value = ProcessInfo.processInfo.environment["DSDN_API_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            !value.isEmpty
        {
            return value
        }
        let fallback = ".dsdn/api-token"
        if FileManager.default.fileExists(atPath: fallback) {
            return try Self.readToken(fallback, what: fallback)
        }
        throw CommandFailure(
            "no API token: pass --token-file PATH, set DSDN_API_TOKEN, or run where .dsdn/api-token exists (serve writes it there)")
    }

    private static func readToken(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("\(what): cannot read the token (no such file or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            throw CommandFailure("\(what): the file holds no token")
        }
        return text
    }

    /// A client for the API at `--api`.
    var client: APIClient { APIClient(baseURL: baseURL, timeout: .seconds(Int64(timeout))) }
}

/// An error answer of the coordinator's API, `{"error":{"code","message"}}`, as one line:
/// `API error <status> <code>: <message>`.
struct APIFailure: Error, CustomStringConvertible {
    /// The HTTP status code.
    var status: Int
    /// The API's error code (`unauthorized`, `invalid_event`, …), or `http_<status>` when the body had none.
    var code: String
    /// The API's message.
    var message: String

    var description: String { "API error \(status) \(code): \(message)" }
}

/// A small client of the coordinator's HTTP API over AsyncHTTPClient. Failures are one line: API
/// errors as ``APIFailure``, transport failures as "cannot reach the coordinator at URL".
struct APIClient: Sendable {
    /// The HTTP client: `HTTPClient.shared`'s configuration, except that a refused connection fails the
    /// request at once (the shared client retries connecting until its 90 s connect timeout, which turns
    /// "serve is not running" into a long hang) and connecting gives up after 10 s. Process-wide and
    /// never shut down, like `HTTPClient.shared`: the process exits when the command is done.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// The API's base URL, without a trailing slash.
    let baseURL: String
    /// The deadline of each request.
    let timeout: TimeAmount

    /// Attempts of a submission the coordinator refuses with 503 `backpressure` or `not_ready` (nothing
    /// was accepted, so retrying cannot duplicate events), one `Retry-After` apart.
    static let submissionAttempts = 60

    /// `GET path`, answering a `T` (a DSDNAPI response type).
    func get<T: Decodable>(_ path: String, as _: T.Type = T.self) async throws -> T {
        let (status, _, body) = try await send(path, method: .GET, body: nil, token: nil)
        guard (200..<300).contains(status) else { throw Self.failure(status: status, body: body) }
        return try Self.decode(T.self, body, path: path)
    }

    /// Posts `events` as JSON Lines to `/v1/events` (one request: at most the coordinator's per-request
    /// limit, 1,000 events by default). With `wait`, returns once their blob is on the DA and applied.
    func postEvents(_ events: [Event], token: String, wait: Bool) async throws -> EventsResponse {
        let body = EventJSON.encodeLines(events)
        let path = "/v1/events" + (wait ? "?wait=true" : "")
        var attempt = 0
        while true {
            attempt += 1
            let (status, headers, text) = try await send(path, method: .POST, body: body, token: token)
            if (200..<300).contains(status) { return try Self.decode(EventsResponse.self, text, path: path) }
            let failure = Self.failure(status: status, body: text)
            guard status == 503, failure.code == "backpressure" || failure.code == "not_ready", attempt < Self.submissionAttempts
            else { throw failure }
            let seconds = headers.first(name: "Retry-After").flatMap { Int($0) }.map { min(max($0, 1), 30) } ?? 1
            try await Task.sleep(for: .seconds(seconds))
        }
    }

    private func send(_ path: String, method: HTTPMethod, body: String?, token: String?) async throws -> (Int, HTTPHeaders, String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/x-ndjson")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await Self.http.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), response.headers, String(buffer: bytes))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw CommandFailure(
                "the coordinator at \(baseURL) did not answer \(method) \(path) within \(timeout.nanoseconds / 1_000_000_000) s (--timeout)"
            )
        } catch {
            throw CommandFailure(
                "cannot reach the coordinator at \(baseURL): \(Self.describe(error)); is `dsdn-coordinator serve` running?")
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ body: String, path: String) throws -> T {
        do {
            return try APIJSON.decode(type, from: body)
        } catch {
            throw CommandFailure("the coordinator answered \(path) with something this client cannot read: \(APIJSON.describe(error))")
        }
    }

    /// The API's JSON error, or a synthetic one from a body that is not.
    static func failure(status: Int, body: String) -> APIFailure {
        if let answer = try? APIJSON.decode(APIErrorBody.self, from: body) {
            return APIFailure(status: status, code: answer.error.code, message: oneLine(answer.error.message))
        }
        let text = oneLine(body)
        return APIFailure(
            status: status, code: "http_\(status)",
            message: text.isEmpty ? HTTPResponseStatus(statusCode: status).reasonPhrase : String(text.prefix(200)))
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        if let error = error as? HTTPClientError, error == .connectTimeout { return "no connection within 10 s" }
        let text = oneLine(String(describing: error))
        if text.contains("Connection refused") { return "connection refused" }
        return text.isEmpty ? "\(type(of: error))" : text
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}

/// The `--wait` and `--json` flags of the commands that post events, and their common output.
struct SubmitOptions: ParsableArguments {
    @Flag(help: "Wait until the events are on the DA and applied; print the height.")
    var wait = false

    @Flag(help: "Print the API's answer as JSON.")
    var json = false
}

/// Posts one command-built event and prints the acknowledgement (`node …`, `chunk …`).
func submitSingleEvent(_ event: Event, describing what: String, api: APIOptions, options: SubmitOptions) async throws {
    try await submitEvents([event], describing: what, api: api, options: options)
}

/// Posts command-built events in one request and prints the acknowledgement (`node …`, `chunk …`,
/// `policy …`).
func submitEvents(_ events: [Event], describing what: String, api: APIOptions, options: SubmitOptions) async throws {
    let token = try api.token()
    let acceptance = try await api.client.postEvents(events, token: token, wait: options.wait)
    if options.json {
        printJSON(acceptance)
        return
    }
    let id =
        switch (acceptance.ids.first, acceptance.ids.last) {
        case let (first?, last?) where first != last: "event ids \(first)–\(last)"
        case let (first?, _): "event id \(first)"
        default: "no event id"
        }
    if let height = acceptance.height {
        print("\(what): included at height \(height) (\(id)\(acceptance.sequence.map { ", publisher sequence \($0)" } ?? ""))")
    } else {
        print("\(what): accepted (\(id); durable in the coordinator's outbox, --wait waits for the DA)")
    }
}
