import AsyncHTTPClient
import DSDNAPI
import DSDNJSON
import Foundation
import NIOCore
import NIOHTTP1

/// A `dsdn-coordinator serve` child process on a free port, for end-to-end tests through the real
/// executable and a real socket.
public final class ServeProcess: @unchecked Sendable {
    // `process` and the pipes are only touched by the creating test; output is guarded by `lock`.
    private let process: Process
    private let output = OutputBuffer()

    private final class OutputBuffer: @unchecked Sendable {
        // Guarded by `lock`.
        let lock = NSLock()
        var stdout = Data()
        var stderr = Data()
    }

    /// The API's base URL, e.g. `http://127.0.0.1:40123`.
    public let baseURL: String
    /// The bound port.
    public let port: Int
    /// The coordinator's data directory.
    public let dataDirectory: String
    /// The API token.
    public let token: String

    /// Starts `serve` with `arguments` (plus `--data-dir`, `--listen 127.0.0.1:0` and a token file made
    /// here) and waits until it prints its listening line. Throws with the child's stderr when it exits
    /// first or does not listen within `startTimeout` (a bound on a hang, not a speed assertion).
    /// `environment` adds to (or overrides) the test's own environment.
    public init(
        dataDirectory: String, arguments: [String], token: String = "test-token", environment: [String: String] = [:],
        startTimeout: Duration = .seconds(120)
    ) async throws {
        self.dataDirectory = dataDirectory
        self.token = token
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let tokenFile = (dataDirectory as NSString).appendingPathComponent("test-api-token")
        try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
        process = Process()
        process.executableURL = CoordinatorProcess.executableURL
        process.arguments = ["serve", "--data-dir", dataDirectory, "--listen", "127.0.0.1:0", "--token-file", tokenFile] + arguments
        process.currentDirectoryURL = repositoryRoot
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let listening = DispatchSemaphore(value: 0)
        let buffer = output
        out.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
                listening.signal()
                return
            }
            let complete = buffer.lock.withLock { () -> Bool in
                let before = String(decoding: buffer.stdout, as: UTF8.self).contains("listening on")
                buffer.stdout.append(chunk)
                return !before && String(decoding: buffer.stdout, as: UTF8.self).contains("listening on")
            }
            if complete { listening.signal() }
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            buffer.lock.withLock { buffer.stderr.append(chunk) }
        }
        try process.run()
        let seconds = Double(startTimeout.components.seconds)
        // Waited for on a Dispatch thread: a blocked cooperative thread would starve in-process servers.
        let started = try await offThePool { listening.wait(timeout: .now() + seconds) == .success }
        guard started else {
            process.terminate()
            throw ServeProcessError("serve did not start listening; stderr:\n\(Self.snapshot(buffer))")
        }
        let printed = buffer.lock.withLock { String(decoding: buffer.stdout, as: UTF8.self) }
        guard let range = printed.range(of: "http://127.0.0.1:"),
            let port = Int(printed[range.upperBound...].prefix { $0.isNumber })
        else {
            process.terminate()
            throw ServeProcessError(
                "serve exited before listening (status \(process.isRunning ? -1 : process.terminationStatus)); stderr:\n\(Self.snapshot(buffer))"
            )
        }
        self.port = port
        baseURL = "http://127.0.0.1:\(port)"
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    private static func snapshot(_ buffer: OutputBuffer) -> String {
        // Give the reader a moment to collect what the child wrote before it exited.
        Thread.sleep(forTimeInterval: 0.2)
        return buffer.lock.withLock { String(decoding: buffer.stderr, as: UTF8.self) }
    }

    /// Everything the process wrote to standard error so far.
    public var stderr: String { output.lock.withLock { String(decoding: output.stderr, as: UTF8.self) } }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Sends SIGTERM and waits for the exit; returns the exit status. A process still running after
    /// `bound` (a hang, not slowness) is killed and reported as -9.
    @discardableResult
    public func terminate(bound: Duration = .seconds(120)) async -> Int32 {
        if process.isRunning { process.terminate() }
        let process = self.process
        let seconds = Double(bound.components.seconds)
        return
            (try? await offThePool { () -> Int32 in
                let exited = DispatchSemaphore(value: 0)
                DispatchQueue.global().async {
                    process.waitUntilExit()
                    exited.signal()
                }
                guard exited.wait(timeout: .now() + seconds) == .success else {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    return -9
                }
                return process.terminationStatus
            }) ?? -1
    }

    /// Sends SIGKILL (a crash) and waits for the process to be gone.
    public func killHard() async {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let process = self.process
        _ = try? await offThePool { process.waitUntilExit() }
    }
}

/// A failure to start or talk to a test process.
public struct ServeProcessError: Error, CustomStringConvertible {
    /// What happened.
    public var description: String

    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// A small HTTP client for API tests (AsyncHTTPClient on a real socket).
public struct APITestClient: Sendable {
    /// A response: status and body.
    public struct Reply: Sendable {
        /// The HTTP status code.
        public var status: Int
        /// The body as text.
        public var body: String
        /// The body as a free-form JSON value (`null` when it is not JSON).
        public var json: JSONValue { (try? APIJSON.decode(JSONValue.self, from: body)) ?? .null }
        /// The body decoded as an API type (`StateResponse`, `APIErrorBody`, …).
        public func decode<T: Decodable>(_ type: T.Type) throws -> T { try APIJSON.decode(type, from: body) }
        /// Response headers.
        public var headers: [(String, String)]
    }

    /// The base URL.
    public var baseURL: String

    /// Creates a client for `baseURL`.
    public init(baseURL: String) { self.baseURL = baseURL }

    /// `GET path`.
    public func get(_ path: String) async throws -> Reply {
        try await send(path, method: .GET, body: nil, token: nil)
    }

    /// `POST path` with `body` and an optional bearer token.
    public func post(_ path: String, body: String, token: String? = nil) async throws -> Reply {
        try await send(path, method: .POST, body: body, token: token)
    }

    private func send(_ path: String, method: HTTPMethod, body: String?, token: String?) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/x-ndjson")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Reply(
            status: Int(response.status.code), body: String(buffer: bytes),
            headers: response.headers.map { ($0.name, $0.value) })
    }

    /// Polls `GET /health` until the coordinator says `ready` (it listens before it has caught up with
    /// the DA); throws if it never does within the poll bound.
    public func waitUntilReady(attempts: Int = 1_200) async throws {
        let reply = try await waitFor("/health", attempts: attempts) { $0["status"]?.string == "ready" }
        guard reply.json["status"]?.string == "ready" else {
            throw ServeProcessError("the coordinator never became ready: \(reply.body)")
        }
    }

    /// Polls `GET path` until `condition` holds for its JSON, up to `attempts` times with a short pause
    /// (a bound on a hang, not a timing assertion). Returns the last reply.
    public func waitFor(
        _ path: String, attempts: Int = 600, _ condition: @Sendable (JSONValue) -> Bool
    ) async throws -> Reply {
        var reply = try await get(path)
        var remaining = attempts
        while !condition(reply.json), remaining > 0 {
            try await Task.sleep(for: .milliseconds(100))
            reply = try await get(path)
            remaining -= 1
        }
        return reply
    }
}

/// Parses `text` (a command's `--json` output, an API body) as a free-form JSON value.
public func parseJSON(_ text: String) throws -> JSONValue {
    try APIJSON.decode(JSONValue.self, from: text)
}
