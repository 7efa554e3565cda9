import DSDNDA
import Foundation
import Testing

@testable import DSDNCelestia

/// The `celestia-test-server` executable, when it was built next to the test bundle.
enum TestServerBinary {
    static var url: URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "Contents" || directory.lastPathComponent == "MacOS" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("celestia-test-server")
    }

    static var exists: Bool { FileManager.default.isExecutableFile(atPath: url.path) }
}

/// Reads the first line a child prints, off the cooperative pool (the read blocks).
func firstLine(of handle: FileHandle) async -> String {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            var bytes: [UInt8] = []
            while true {
                let chunk = handle.readData(ofLength: 1)
                guard let byte = chunk.first, byte != UInt8(ascii: "\n") else { break }
                bytes.append(byte)
            }
            continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// Waits for a child to exit, off the cooperative pool.
func exitStatus(of process: Process) async -> Int32 {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            process.waitUntilExit()
            continuation.resume(returning: process.terminationStatus)
        }
    }
}

@Suite struct CelestiaProcessTests {
    @Test func theExecutablePrintsOneLineServesAndExitsOnSIGTERM() async throws {
        // `swift build --build-tests` builds it (the CLI tests depend on it): missing is a failure, not a skip.
        try #require(TestServerBinary.exists, "celestia-test-server is not built next to the tests")
        let process = Process()
        process.executableURL = TestServerBinary.url
        process.arguments = [
            "--host", "127.0.0.1", "--port", "0", "--block-time-ms", "20", "--token", "T", "--fail-rate", "0.2", "--seed", "3",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = await firstLine(of: output.fileHandleForReading)
        #expect(line.hasPrefix("listening on http://127.0.0.1:"))
        let port = Int(line.split(separator: ":").last ?? "") ?? 0
        #expect(port > 0)

        if port > 0 {
            let address = CelestiaAddress(host: "127.0.0.1", port: port, namespace: celestiaTestNamespace, options: testOptions())
            let da = CelestiaDA(address: address, token: CelestiaAuthToken("T"), logger: quietLogger)
            let blob = sampleBlob(5)
            // The backend submits once; a failed attempt (a fifth of the calls fail) is retried here.
            var reference: BlobReference?
            for _ in 0..<20 where reference == nil { reference = try? await da.submit(blob, to: celestiaTestNamespace) }
            #expect(reference != nil)
            if let reference {
                var read: [DABlob]?
                for _ in 0..<20 where read == nil { read = try? await da.blobs(of: celestiaTestNamespace, at: reference.height) }
                #expect(read?.map(\.data).contains(blob) == true)
            }
            await da.close()
        }

        process.terminate()  // SIGTERM
        let status = await exitStatus(of: process)
        #expect(status == 0)
        #expect(process.terminationReason == .exit)
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        #expect(rest.isEmpty)  // exactly one line on standard output
    }
}
