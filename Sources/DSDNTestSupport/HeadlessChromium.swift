import Foundation

/// Renders an HTML file in headless Chromium and returns the screenshot, for tests that check pixels.
public enum HeadlessChromium {
    /// Why a screenshot could not be taken (one line, with the tail of Chromium's standard error).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// How long one run may take; generous, since a loaded two-core machine can be slow to start Chromium.
    private static let timeoutSeconds = 120

    /// The first of `chromium`, `chromium-browser`, `google-chrome` found on `PATH` (its full path).
    public static func executable() -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }

    /// Renders `htmlFile` (a path, relative to the working directory or absolute) in a `width`×`height`
    /// window at scale factor 1 and decodes the screenshot.
    ///
    /// It blocks until Chromium exits (up to two minutes): from an async test, call it through
    /// `offThePool` so no cooperative thread waits. `--no-sandbox` is required when running as root
    /// (containers, CI), where Chromium refuses to start with its sandbox.
    public static func screenshot(of htmlFile: String, width: Int, height: Int) throws -> PNGImage {
        guard let executable = executable() else { throw Failure(message: "Chromium not installed (apt-get install chromium)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dsdn-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("screenshot.png")
        let errorLog = directory.appendingPathComponent("stderr.txt")
        guard FileManager.default.createFile(atPath: errorLog.path, contents: nil) else {
            throw Failure(message: "cannot create \(errorLog.path) for Chromium's standard error")
        }
        let errorHandle = try FileHandle(forWritingTo: errorLog)
        defer { try? errorHandle.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
            "--window-size=\(width),\(height)", "--screenshot=\(output.path)",
            "--user-data-dir=\(directory.appendingPathComponent("profile").path)",
            "--no-first-run", "--disable-extensions", "--disable-background-networking",
            URL(fileURLWithPath: htmlFile).standardizedFileURL.absoluteString,
        ]
        // Standard error goes to a file, not a pipe: a helper process that outlives Chromium cannot block the read.
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorHandle
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()

        func failure(_ what: String) -> Failure {
            let lines = ((try? String(contentsOf: errorLog, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { !$0.contains("dbus") }  // Containers have no D-Bus; Chromium logs that at length, harmlessly.
            let tail = lines.suffix(3).joined(separator: " | ")
            return Failure(
                message: "headless Chromium (\(executable)) \(what): \(tail.isEmpty ? "no error output" : String(tail.suffix(600)))")
        }
        if exited.wait(timeout: .now() + .seconds(timeoutSeconds)) == .timedOut {
            // SIGKILL, not `terminate()`: the child inherits the launching Dispatch thread's signal mask,
            // which blocks SIGTERM. Chromium's helpers exit when their browser process dies.
            kill(process.processIdentifier, SIGKILL)
            _ = exited.wait(timeout: .now() + .seconds(5))
            throw failure("did not finish within \(timeoutSeconds) s")
        }
        guard let data = FileManager.default.contents(atPath: output.path) else {
            throw failure("exited with status \(process.terminationStatus) and wrote no screenshot")
        }
        guard process.terminationStatus == 0 else { throw failure("exited with status \(process.terminationStatus)") }
        return try PNGImage(data: [UInt8](data))
    }
}
