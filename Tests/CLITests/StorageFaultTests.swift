import DSDNAPI
import DSDNCore
import DSDNInterchange
import DSDNTestSupport
import Foundation
import Testing

/// A full disk under a running `serve`, made real with a file-size limit on the process (`prlimit`): the
/// coordinator says so on `/health` and in its log, refuses new events with one line that names no path,
/// keeps everything it acknowledged, and resumes by itself once space returns.
@Suite struct StorageFaultTests {
    /// Sets the running process's file-size limit (soft; the hard limit stays unlimited).
    static func setFileSizeLimit(pid: Int32, _ limit: String) async throws {
        let status = try await offThePool { () -> Int32 in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            process.arguments = ["--pid", "\(pid)", "--fsize=\(limit):unlimited"]
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(status == 0, "prlimit failed")
    }

    @Test func aFullDiskIsReportedAndRecoveredFrom() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        let coordinator = try await ServeProcess(dataDirectory: directory.path("coordinator"), arguments: ["--da", da, "--no-policy"])
        let client = APITestClient(baseURL: coordinator.baseURL)
        try await client.waitUntilReady()
        let first = (0..<3).map { EventJSON.encode(Fixtures.register("n\($0)")) }.joined(separator: "\n")
        #expect(try await client.post("/v1/events?wait=true", body: first, token: coordinator.token).status == 200)

        // The outbox is compacted once nothing is outstanding: no file may grow past its size now.
        let outbox = directory.path("coordinator") + "/outbox.log"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: outbox)[.size] as? Int)
        try await Self.setFileSizeLimit(pid: coordinator.pid, "\(size)")
        let refused = try await client.post("/v1/events", body: EventJSON.encode(Fixtures.register("n9")), token: coordinator.token)
        #expect(refused.status == 503)
        #expect(refused.body.contains("the outbox cannot record events"), "\(refused.body)")
        #expect(!refused.body.contains(directory.path("")), "a body shows the data path: \(refused.body)")
        let sick = try await client.get("/health")
        #expect(sick.status == 503)
        #expect(sick.json["outbox_failure"]?.string?.contains("DATA_DIR/outbox.log") == true, "\(sick.body)")

        // Space returns: the next submission is accepted and lands, and /health is ready again.
        try await Self.setFileSizeLimit(pid: coordinator.pid, "unlimited")
        let later = EventJSON.encode(Fixtures.register("n10"))
        #expect(try await client.post("/v1/events?wait=true", body: later, token: coordinator.token).status == 200)
        let healthy = try await client.get("/health")
        #expect(healthy.status == 200, "\(healthy.body)")
        #expect(healthy.json["outbox_failure"] == nil)

        #expect(await coordinator.terminate() == 0)
        #expect(coordinator.stderr.contains("the outbox cannot record"), "\(coordinator.stderr)")
        #expect(coordinator.stderr.contains("the outbox records again"), "\(coordinator.stderr)")
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        #expect(try parseJSON(rebuilt.stdout)["nodes"]?.int64 == 4)
    }

    /// Stopping on a full disk: the final flush cannot seal, so it gives up at once; the acknowledged
    /// event stays in the outbox and the next start publishes it.
    @Test func aStopOnAFullDiskKeepsTheOutboxForTheNextStart() async throws {
        let directory = try TemporaryDirectory()
        let da = "file:" + directory.path("da")
        let arguments = ["--da", da, "--no-policy", "--batch-interval-ms", "60000"]
        let coordinator = try await ServeProcess(dataDirectory: directory.path("coordinator"), arguments: arguments)
        let client = APITestClient(baseURL: coordinator.baseURL)
        try await client.waitUntilReady()
        #expect(
            try await client.post("/v1/events", body: EventJSON.encode(Fixtures.register("n1")), token: coordinator.token).status == 202)
        let outbox = directory.path("coordinator") + "/outbox.log"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: outbox)[.size] as? Int)
        try await Self.setFileSizeLimit(pid: coordinator.pid, "\(size)")
        #expect(await coordinator.terminate() == 0)
        #expect(coordinator.stderr.contains("the outbox cannot record"), "\(coordinator.stderr)")

        let restarted = try await ServeProcess(dataDirectory: directory.path("coordinator"), arguments: arguments)
        let again = APITestClient(baseURL: restarted.baseURL)
        try await again.waitUntilReady()
        #expect(await restarted.terminate() == 0)
        let rebuilt = try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"])
        #expect(try parseJSON(rebuilt.stdout)["nodes"]?.int64 == 1, "\(rebuilt.stdout)")
    }

    /// Starts `serve` on a file log with the fsync fault shim aimed at the path `fragment` names,
    /// publishes three registrations, then turns the fault on (the switch file `fsync-fails`).
    static func startWithFsyncFault(
        on fragment: (TemporaryDirectory) -> String
    ) async throws -> (TemporaryDirectory, ServeProcess, APITestClient) {
        let directory = try TemporaryDirectory()
        let switchFile = directory.path("fsync-fails")
        let environment = try FsyncFaultShim.environment(pathFragment: fragment(directory), switchFile: switchFile)
        let coordinator = try await ServeProcess(
            dataDirectory: directory.path("coordinator"), arguments: ["--da", "file:" + directory.path("da"), "--no-policy"],
            environment: environment)
        let client = APITestClient(baseURL: coordinator.baseURL)
        try await client.waitUntilReady()
        let first = (0..<3).map { EventJSON.encode(Fixtures.register("n\($0)")) }.joined(separator: "\n")
        #expect(try await client.post("/v1/events?wait=true", body: first, token: coordinator.token).status == 200)
        #expect(FileManager.default.createFile(atPath: switchFile, contents: Data()))
        return (directory, coordinator, client)
    }

    /// A failed fsync of the outbox (EIO, injected by the fsync fault shim): the submission is refused with
    /// one line, the outbox writes nothing more until a restart, `/health` says why, and after the restart
    /// everything acknowledged is there and the refused event is not.
    @Test func aFailedOutboxFsyncStopsTheOutboxAndLosesNothingAcknowledged() async throws {
        let (directory, coordinator, client) = try await Self.startWithFsyncFault(on: { _ in "/outbox.log" })
        let da = "file:" + directory.path("da")
        let switchFile = directory.path("fsync-fails")
        let refused = try await client.post("/v1/events", body: EventJSON.encode(Fixtures.register("n9")), token: coordinator.token)
        #expect(refused.status == 503)
        #expect(refused.body.contains("fsync failed"), "\(refused.body)")
        #expect(!refused.body.contains(directory.path("")), "a body shows the data path: \(refused.body)")
        let sick = try await client.get("/health")
        #expect(sick.status == 503)
        #expect(sick.json["outbox_failure"]?.string?.contains("fsync failed") == true, "\(sick.body)")

        // The fault is gone, but the outbox does not trust its file again until it has re-read it.
        try FileManager.default.removeItem(atPath: switchFile)
        let still = try await client.post("/v1/events", body: EventJSON.encode(Fixtures.register("n8")), token: coordinator.token)
        #expect(still.status == 503, "\(still.body)")
        #expect(await coordinator.terminate() == 0)
        #expect(coordinator.stderr.contains("fsync failed"), "\(coordinator.stderr)")

        let restarted = try await ServeProcess(dataDirectory: directory.path("coordinator"), arguments: ["--da", da, "--no-policy"])
        let again = APITestClient(baseURL: restarted.baseURL)
        try await again.waitUntilReady()
        let later = EventJSON.encode(Fixtures.register("n10"))
        #expect(try await again.post("/v1/events?wait=true", body: later, token: restarted.token).status == 200)
        let live = try await again.get("/v1/state").decode(StateResponse.self)
        #expect(await restarted.terminate() == 0)
        let rebuilt = try parseJSON(try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"]).stdout)
        #expect(rebuilt["nodes"]?.int64 == 4, "n0, n1, n2 and n10; never n9 or n8")
        #expect(rebuilt["checksum"]?.string == live.checksum)
    }

    /// A failed fsync of the DA's file log: the acknowledged event stays in the outbox, `/health` reports
    /// the publisher's trouble, and the next start publishes it exactly once.
    @Test func aFailedLogFsyncKeepsAcknowledgedEventsForTheNextStart() async throws {
        let (directory, coordinator, client) = try await Self.startWithFsyncFault(on: { $0.path("da") + "/" })
        let da = "file:" + directory.path("da")
        let switchFile = directory.path("fsync-fails")
        let accepted = try await client.post("/v1/events", body: EventJSON.encode(Fixtures.register("n9")), token: coordinator.token)
        #expect(accepted.status == 202, "the outbox is healthy, so the event is acknowledged: \(accepted.body)")
        // The phase stays `ready`; the DA's own health turns false and the answer is 503.
        let sick = try await client.waitFor("/health") { $0["da"]?["ready"]?.bool == false }
        #expect(sick.status == 503, "\(sick.body)")
        #expect(sick.json["da"]?["detail"]?.string?.contains("writer stopped after a failed fsync") == true, "\(sick.body)")
        #expect(!sick.body.contains(directory.path("")), "a body shows the data path: \(sick.body)")
        try FileManager.default.removeItem(atPath: switchFile)
        #expect(await coordinator.terminate() == 0)

        let restarted = try await ServeProcess(dataDirectory: directory.path("coordinator"), arguments: ["--da", da, "--no-policy"])
        let again = APITestClient(baseURL: restarted.baseURL)
        try await again.waitUntilReady()
        let published = try await again.waitFor("/v1/state") { $0["nodes"]?.int64 == 4 && $0["publish_backlog"]?.int64 == 0 }
        #expect(published.json["nodes"]?.int64 == 4, "\(published.body)")
        #expect(await restarted.terminate() == 0)
        let rebuilt = try parseJSON(try await CoordinatorProcess.run(["rebuild", "--da", da, "--json"]).stdout)
        #expect(rebuilt["nodes"]?.int64 == 4)
        #expect(rebuilt["events_applied"]?.int64 == 4, "n9 applied exactly once: \(rebuilt)")
        #expect(rebuilt["checksum"]?.string == published.json["checksum"]?.string)
    }
}
