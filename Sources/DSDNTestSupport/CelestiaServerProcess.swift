import Foundation

/// A `celestia-test-server` child process on a free port, for end-to-end tests of the coordinator's
/// commands against a Celestia-compatible node in another process.
public final class CelestiaServerProcess: @unchecked Sendable {
    // Only the creating test touches `process`.
    private let process: Process

    /// The node's port.
    public let port: Int
    /// The auth token the node accepts.
    public let token: String
    /// A file holding ``token``, for `--da-token-file`.
    public let tokenFile: String

    /// The executable next to the test bundle.
    public static var executableURL: URL {
        CoordinatorProcess.executableURL.deletingLastPathComponent().appendingPathComponent("celestia-test-server")
    }

    /// Starts the server with `arguments` (after `--port 0 --token TOKEN`) and waits for its listening line.
    public init(directory: TemporaryDirectory, blockTimeMillis: Int = 100, token: String = "celestia-test-token", arguments: [String] = [])
        async throws
    {
        self.token = token
        tokenFile = directory.path("celestia-token")
        try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
        process = Process()
        process.executableURL = Self.executableURL
        process.arguments = ["--host", "127.0.0.1", "--port", "0", "--block-time-ms", "\(blockTimeMillis)", "--token", token] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The first line: `listening on http://127.0.0.1:PORT` (a blocking read, on a Dispatch thread).
        let reader = output.fileHandleForReading
        let line = try await offThePool { () -> String in
            var bytes: [UInt8] = []
            while true {
                let chunk = reader.readData(ofLength: 1)
                guard let byte = chunk.first, byte != UInt8(ascii: "\n") else { break }
                bytes.append(byte)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        guard line.hasPrefix("listening on http://127.0.0.1:"), let port = Int(line.split(separator: ":").last ?? "") else {
            process.terminate()
            throw ServeProcessError("celestia-test-server did not start: \(line.debugDescription)")
        }
        self.port = port
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// The `--da` address of a namespace on this node.
    public func address(namespace: String) -> String { "celestia://127.0.0.1:\(port)?namespace=\(namespace)" }

    /// Stops the server (SIGTERM) and returns its exit status.
    @discardableResult
    public func terminate() async -> Int32 {
        if process.isRunning { process.terminate() }
        let process = self.process
        return
            (try? await offThePool { () -> Int32 in
                process.waitUntilExit()
                return process.terminationStatus
            }) ?? -1
    }
}
