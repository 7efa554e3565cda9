import Foundation

/// Runs the built `dsdn-coordinator` executable as a separate process, for end-to-end tests.
public enum CoordinatorProcess {
    /// The result of one run.
    public struct Result: Sendable {
        /// The exit status.
        public var status: Int32
        /// Everything written to standard output.
        public var stdout: String
        /// Everything written to standard error.
        public var stderr: String
    }

    /// The executable next to the running test bundle (SwiftPM puts products and test bundles in one
    /// directory), or `DSDN_COORDINATOR_BIN` when set.
    public static var executableURL: URL {
        if let override = ProcessInfo.processInfo.environment["DSDN_COORDINATOR_BIN"] {
            return URL(fileURLWithPath: override)
        }
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On platforms where the test bundle is a directory, climb out of it.
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "Contents" || directory.lastPathComponent == "MacOS" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("dsdn-coordinator")
    }

    /// Runs the executable with `arguments`, feeding `input` on standard input, and waits for it.
    ///
    /// The waiting happens on a Dispatch thread, never on a Swift concurrency thread: the cooperative
    /// pool has one thread per core (two in CI), and tests that blocked them while a child ran would
    /// starve every in-process server of the suite.
    /// `directory` is its working directory (the test's own by default); `environment` adds to (or
    /// overrides) the test's environment.
    /// `executable` names another product built next to it (`dsdn-bench`).
    public static func run(
        _ arguments: [String], input: Data? = nil, directory: String? = nil, environment: [String: String] = [:],
        executable: String? = nil
    ) async throws -> Result {
        let url = executable.map { executableURL.deletingLastPathComponent().appendingPathComponent($0) } ?? executableURL
        return try await offThePool {
            try runBlocking(url, arguments, input: input, directory: directory, environment: environment)
        }
    }

    /// Runs another program (a script of the repository) the same way: waiting off the cooperative pool.
    public static func run(program: URL, _ arguments: [String], environment: [String: String] = [:]) async throws -> Result {
        try await offThePool { try runBlocking(program, arguments, input: nil, directory: nil, environment: environment) }
    }

    private static func runBlocking(
        _ url: URL, _ arguments: [String], input: Data?, directory: String?, environment: [String: String]
    ) throws -> Result {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        }
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
        let collected = OutputCollector()
        let group = DispatchGroup()
        for (pipe, isError) in [(stdout, false), (stderr, true)] {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.store(data, isError: isError)
                group.leave()
            }
        }
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: collected.stdout, as: UTF8.self),
            stderr: String(decoding: collected.stderr, as: UTF8.self))
    }

    private final class OutputCollector: @unchecked Sendable {
        // Guarded by `lock`.
        private var out = Data()
        private var err = Data()
        private let lock = NSLock()

        func store(_ data: Data, isError: Bool) {
            lock.withLock { if isError { err = data } else { out = data } }
        }
        var stdout: Data { lock.withLock { out } }
        var stderr: Data { lock.withLock { err } }
    }
}

/// A temporary directory removed when the value is released.
public final class TemporaryDirectory: Sendable {
    /// Its location.
    public let url: URL

    /// Creates a fresh, empty directory under the system's temporary directory.
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("dsdn-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// A path inside the directory.
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// The repository's root, found from this source file's location at build time.
public let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs blocking work (waiting for a child process, reading its pipes) on a Dispatch thread and resumes
/// the caller when it is done, keeping Swift's cooperative threads free.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try work() })
        }
    }
}
