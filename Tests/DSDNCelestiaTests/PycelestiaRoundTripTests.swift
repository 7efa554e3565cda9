import CelestiaTestServer
import DSDNCelestia
import DSDNCore
import DSDNDA
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

@testable import DSDNCelestia

/// An independent client checks the test server: the PyPI client pycelestia (pinned in
/// scripts/pycelestia/requirements.txt), which speaks JSON-RPC over WebSocket only, submits seeded-random
/// blobs and reads them back (scripts/pycelestia/roundtrip.py); the server's stored state and our own
/// client must then agree with what pycelestia reported. `scripts/dev.sh test` installs it into `.venv-test`.
@Suite struct PycelestiaRoundTripTests {
    static let python = repositoryRoot.appendingPathComponent(".venv-test/bin/python3").path
    static let script = repositoryRoot.appendingPathComponent("scripts/pycelestia/roundtrip.py").path
    static let namespace = DANamespace(name: "pycelestia-roundtrip")
    static let token = "pycelestia-token"
    static let blobCount = 12

    /// roundtrip.py's summary.
    struct Summary: Decodable {
        struct Blob: Decodable {
            var height: UInt64
            var commitment: String
            var size: Int
            var submit: Int
        }

        var namespace: String
        var submits: Int
        var heights: [UInt64]
        var blobs: [Blob]
    }

    /// One run of a Python script.
    struct Run {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    @Test func pycelestiaSubmitsAndReadsBlobsOverWebSocket() async throws {
        try Self.requirePython()
        try await withServer(blockTime: .milliseconds(50), token: Self.token) { server in
            let run = try await Self.runPython([
                Self.script, server.webSocketURL, Self.token, Self.namespace.base64, String(Self.blobCount),
            ])
            try #require(run.status == 0, "roundtrip.py exited with \(run.status): \(run.stderr)")
            let summary = try JSONDecoder().decode(Summary.self, from: run.stdout)
            #expect(summary.namespace == Self.namespace.base64)
            #expect(summary.blobs.count == Self.blobCount)
            #expect(summary.submits < Self.blobCount, "some submit carried several blobs")
            #expect(summary.blobs.contains { $0.size == 1 } && summary.blobs.contains { $0.size == 100 * 1024 })
            // Submits are serial, so every one lands at a later height than the one before.
            let heightBySubmit = Dictionary(summary.blobs.map { ($0.submit, $0.height) }) { first, _ in first }
            let submitHeights = (0..<summary.submits).compactMap { heightBySubmit[$0] }
            #expect(submitHeights.count == summary.submits)
            #expect(zip(submitHeights, submitHeights.dropFirst()).allSatisfy { $0 < $1 })
            #expect(summary.heights == submitHeights)

            // The server stored exactly those blobs, at the heights pycelestia reported, with pycelestia's
            // commitments, which are also ours over the stored bytes.
            let stored = await server.storedBlobs(of: Self.namespace)
            #expect(stored.count == Self.blobCount)
            let storedByCommitment = Dictionary(stored.map { (Data($0.commitment).base64EncodedString(), $0) }) { first, _ in first }
            for (number, blob) in summary.blobs.enumerated() {
                guard let match = storedByCommitment[blob.commitment] else {
                    Issue.record("blob \(number) (\(blob.size) bytes): no stored blob has pycelestia's commitment \(blob.commitment)")
                    continue
                }
                #expect(match.height == blob.height, "blob \(number): stored at \(match.height), pycelestia says \(blob.height)")
                #expect(match.data.count == blob.size, "blob \(number)")
                #expect(ShareCommitment.compute(namespace: Self.namespace, data: match.data) == match.commitment, "blob \(number)")
            }
            // Every call came over the WebSocket: one blob.Submit per submit, one blob.Get per blob.
            let statistics = await server.statistics()
            #expect(statistics.calls("blob.Submit") == summary.submits)
            #expect(statistics.calls("blob.GetAll") == summary.heights.count)
            #expect(statistics.calls("blob.Get") == Self.blobCount)

            // Our own client (HTTP) reads the same blobs, with the same references.
            try await withClient(server, token: Self.token, namespace: Self.namespace) { da in
                for height in summary.heights {
                    let read = try await da.blobs(of: Self.namespace, at: height)
                    let expected = summary.blobs.filter { $0.height == height }.map(\.commitment)
                    #expect(Set(read.map { Data($0.reference.commitment).base64EncodedString() }) == Set(expected))
                    #expect(read.allSatisfy { $0.reference.height == height })
                    #expect(
                        read.allSatisfy { ShareCommitment.compute(namespace: Self.namespace, data: $0.data) == $0.reference.commitment })
                }
            }
        }
    }

    @Test func aWrongTokenMakesPycelestiasConnectionFail() async throws {
        try Self.requirePython()
        try await withServer(blockTime: .milliseconds(50), token: Self.token) { server in
            let run = try await Self.runPython([
                Self.script, server.webSocketURL, "not-the-token", Self.namespace.base64, "1",
            ])
            #expect(run.status != 0)
            #expect(run.stderr.contains("401"), "stderr: \(run.stderr)")
            #expect(await server.storedBlobs(of: Self.namespace).isEmpty)
            let statistics = await server.statistics()
            #expect(statistics.unauthorizedResponses == 1)
            #expect(statistics.calls("blob.Submit") == 0)
        }
    }

    /// The rest of the WebSocket surface, with the `websockets` package pycelestia uses: `?token=`
    /// authenticates too, a read token cannot submit, batches work, and a wrong `?token=` is HTTP 401.
    @Test func queryTokensReadTokensAndBatchesOverWebSocket() async throws {
        try Self.requirePython()
        let probe = """
            import asyncio, json, sys
            from websockets.asyncio.client import connect
            from websockets.exceptions import InvalidStatus

            async def call(url, message):
                async with connect(url) as ws:
                    await ws.send(json.dumps(message))
                    return json.loads(await ws.recv())

            async def main(base, token, read_token):
                out = {}
                out["admin"] = await call(f"{base}/any/path?token={token}",
                    [{"jsonrpc": "2.0", "id": 1, "method": "node.Ready", "params": []},
                     {"jsonrpc": "2.0", "id": 2, "method": "header.LocalHead", "params": []}])
                out["read"] = await call(f"{base}/?token={read_token}",
                    {"jsonrpc": "2.0", "id": 3, "method": "blob.Submit",
                     "params": [[{"namespace": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE=", "data": "eA==", "share_version": 0}], {}]})
                out["none"] = await call(base,
                    {"jsonrpc": "2.0", "id": 4, "method": "blob.GetAll", "params": [1, []]})
                out["unknown"] = await call(f"{base}/?token={token}",
                    {"jsonrpc": "2.0", "id": 5, "method": "blob.Subscribe", "params": ["AAAA"]})
                try:
                    await call(f"{base}/?token=wrong", {"jsonrpc": "2.0", "id": 6, "method": "node.Ready", "params": []})
                    out["wrong"] = "accepted"
                except InvalidStatus as error:
                    out["wrong"] = error.response.status_code
                print(json.dumps(out))

            asyncio.run(main(*sys.argv[1:]))
            """
        try await withServer(blockTime: .milliseconds(50), token: Self.token, readToken: "reader") { server in
            let run = try await Self.runPython(["-c", probe, server.webSocketURL, Self.token, "reader"])
            try #require(run.status == 0, "the probe exited with \(run.status): \(run.stderr)")
            let answers = try parseJSON(String(decoding: run.stdout, as: UTF8.self))

            let batch = try #require(answers["admin"]?.array)
            #expect(batch.count == 2)
            #expect(batch.first?["result"]?.bool == true)
            let head = batch.last?["result"]?["header"]
            #expect(head?["height"]?.string != nil)

            let readError = answers["read"]?["error"]
            #expect((readError?["message"]?.string)?.contains("missing permission") == true)
            let anonymousError = answers["none"]?["error"]
            #expect((anonymousError?["message"]?.string)?.contains("missing permission") == true)
            let unknown = answers["unknown"]?["error"]
            #expect(unknown?["code"]?.int64 == -32601)
            #expect(answers["wrong"]?.int64 == 401)
            #expect(await server.storedBlobs().isEmpty)
        }
    }

    static func requirePython() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: python),
            "\(python) is missing: run scripts/dev.sh test, which creates .venv-test with pycelestia")
    }

    /// Runs the venv's python with `arguments` and waits for it off the cooperative thread pool (the
    /// in-process server needs that pool while the script talks to it).
    static func runPython(_ arguments: [String]) async throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Run, Never>) in
            // Standard error is drained on a thread of its own, so a full pipe never blocks the script.
            let errors = StderrBox()
            let group = DispatchGroup()
            DispatchQueue.global().async(group: group) { errors.data = stderr.fileHandleForReading.readDataToEndOfFile() }
            DispatchQueue.global().async {
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                group.wait()
                process.waitUntilExit()
                continuation.resume(
                    returning: Run(
                        status: process.terminationStatus, stdout: output,
                        stderr: String(decoding: errors.data, as: UTF8.self)))
            }
        }
    }

    /// Standard error's bytes, written by one thread and read by another after `DispatchGroup.wait()`.
    private final class StderrBox: @unchecked Sendable {
        // Guarded by `lock`.
        private var bytes = Data()
        private let lock = NSLock()

        var data: Data {
            get { lock.withLock { bytes } }
            set { lock.withLock { bytes = newValue } }
        }
    }
}
