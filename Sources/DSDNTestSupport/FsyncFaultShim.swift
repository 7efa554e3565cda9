import Foundation

/// The fsync fault shim (`Tests/Fixtures/fsync-fault/fsync_fault.c`), compiled once per test process with
/// the toolchain's C compiler and loaded into a child with `LD_PRELOAD`: fsync and fdatasync fail with
/// EIO on files whose path contains a fragment, while a switch file exists.
public enum FsyncFaultShim {
    private static let built: Result<String, ServeProcessError> = build()

    /// The environment that loads the shim into a child: fsyncs of paths containing `pathFragment`
    /// fail while the file `switchFile` exists.
    public static func environment(pathFragment: String, switchFile: String) throws -> [String: String] {
        let library = try built.get()
        return ["LD_PRELOAD": library, "DSDN_FSYNC_FAULT_PATH": pathFragment, "DSDN_FSYNC_FAULT_SWITCH": switchFile]
    }

    private static func build() -> Result<String, ServeProcessError> {
        let source = repositoryRoot.appendingPathComponent("Tests/Fixtures/fsync-fault/fsync_fault.c").path
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("dsdn-fsync-fault-\(getpid()).so").path
        let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        let compilers = ["clang", "cc", "gcc"].flatMap { name in searchPath.map { "\($0)/\(name)" } }
        guard let compiler = compilers.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(ServeProcessError("no C compiler (clang, cc, gcc) on PATH to build the fsync fault shim"))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = ["-shared", "-fPIC", "-O1", "-o", output, source, "-ldl"]
        let errors = Pipe()
        process.standardError = errors
        do {
            try process.run()
        } catch {
            return .failure(ServeProcessError("cannot run \(compiler): \(error)"))
        }
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(ServeProcessError("\(compiler) could not build the fsync fault shim:\n\(text)"))
        }
        return .success(output)
    }
}
