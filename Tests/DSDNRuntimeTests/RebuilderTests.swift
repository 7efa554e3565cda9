import DSDNCore
import DSDNDA
import DSDNFileLog
import DSDNTestSupport
import Synchronization
import Testing

@testable import DSDNRuntime

@Suite struct SHA256Tests {
    @Test func fipsVectors() {
        func digest(_ text: String) -> String {
            hexString(CommitmentScheme.sha256.commitment(of: Array(text.utf8), in: testNamespace) ?? [])
        }
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// Every padding boundary (55, 56, 63, 64, 119, 120 … bytes) agrees with the DA's own commitment.
    @Test func agreesWithMemoryDACommitments() async throws {
        let da = MemoryDA()
        for length in 0...200 {
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let reference = try await da.submit(data, to: testNamespace)
            #expect((CommitmentScheme.sha256.commitment(of: data, in: testNamespace) ?? []) == reference.commitment, "length \(length)")
        }
    }

    @Test func backoffDoublesToTheCap() {
        let delays = (1...9).map { Backoff.standard.delay(attempt: $0) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
    }
}

@Suite struct RebuilderTests {
    /// Live apply (a consumer following while the publisher posts) and a rebuild from the DA agree on the
    /// content checksum and the cursor digest, and both equal applying the events directly.
    @Test func rebuildEqualsLiveApplyOnMemoryDA() async throws {
        let da = MemoryDA()
        try await rebuildEqualsLiveApply(on: da)
    }

    @Test func rebuildEqualsLiveApplyOnFileLogDA() async throws {
        let directory = TempDir()
        let da = try FileLogDA(directory: directory.path)
        defer { da.close() }
        try await rebuildEqualsLiveApply(on: da)
        // A second process's view: a read-only follower rebuilds the same state.
        let follower = try FileLogDA.openReadOnly(directory: directory.path)
        defer { follower.close() }
        let (_, report) = try await fastRebuilder(follower).rebuild(expectedChecksum: try cleanChecksum(history))
        #expect(report.counts.eventsApplied == UInt64(history.count))
    }

    private func rebuildEqualsLiveApply(on da: any DALayer) async throws {
        let consumer = fastConsumer(da)
        let live = Task { try await consumer.run() }
        let publisher = try await publishAll(history, to: da, batchSize: 100)
        let head = try await da.head()
        #expect(head == 30)
        try await consumer.waitUntilApplied(head)
        live.cancel()
        try await live.value
        let liveState = await consumer.snapshot()

        let (machine, report) = try await fastRebuilder(da).rebuild()
        #expect(report.heightsRead == head)
        #expect(report.counts.blobsApplied == 30)
        #expect(report.counts.eventsApplied == UInt64(history.count))
        #expect(report.counts.blobsDuplicate == 0 && report.counts.blobsRejected == 0)
        #expect(report.checksum == liveState.checksum())
        #expect(report.cursorDigest == liveState.cursorDigest())
        #expect(machine.state.checksum() == (try cleanChecksum(history)))
        #expect(await publisher.lastSequence == 30)
    }

    @Test func invalidRanges() async throws {
        let da = MemoryDA()
        try await publishAll(Array(history.prefix(50)), to: da, batchSize: 10)
        let rebuilder = fastRebuilder(da)
        let backwards = await runtimeError { try await rebuilder.rebuild(from: 4, to: 3) }
        #expect(backwards?.code == .invalidRange)
        #expect(backwards?.message.contains("from height 4 is after to height 3") == true)
        let zero = await runtimeError { try await rebuilder.rebuild(from: 0, to: 3) }
        #expect(zero?.code == .invalidRange)
        let future = await runtimeError { try await rebuilder.rebuild(from: 1, to: 6) }
        #expect(future?.code == .futureHeight)
        #expect(future?.height == 6)
        // A partial range is fine and reads exactly those heights.
        let (_, report) = try await rebuilder.rebuild(from: 1, to: 3)
        #expect(report.heightsRead == 3)
        #expect(report.counts.eventsApplied == 30)
    }

    @Test func prunedHistoryNamesTheHeight() async throws {
        let da = MemoryDA(retainHeights: 4)
        try await publishAll(Array(history.prefix(100)), to: da, batchSize: 10)
        let error = await runtimeError { try await fastRebuilder(da).rebuild() }
        #expect(error?.code == .prunedHistory)
        #expect(error?.height == 1)
        #expect(error?.message.contains("height 1 is pruned") == true)
    }

    @Test func progressOncePerHeightAndFailingCallbackDoesNotStopTheRebuild() async throws {
        let da = MemoryDA()
        try await publishAll(Array(history.prefix(200)), to: da, batchSize: 20)
        await da.appendEmptyHeight()  // heights without blobs are reported too
        let seen = Mutex<[UInt64]>([])
        let (_, clean) = try await fastRebuilder(da).rebuild { progress in
            seen.withLock { $0.append(progress.height) }
        }
        #expect(seen.withLock { $0 } == Array(1...11))
        #expect(clean.progressFailures == 0)

        struct Boom: Error {}
        let calls = Mutex(0)
        let (_, failing) = try await fastRebuilder(da).rebuild { _ in
            calls.withLock { $0 += 1 }
            throw Boom()
        }
        #expect(calls.withLock { $0 } == 11)
        #expect(failing.progressFailures == 11)
        #expect(failing.firstProgressFailure?.hasPrefix("height 1:") == true)
        #expect(failing.heightsRead == 11)
        #expect(failing.checksum == clean.checksum)
    }

    @Test func expectedChecksum() async throws {
        let da = MemoryDA()
        let events = Array(history.prefix(300))
        try await publishAll(events, to: da, batchSize: 50)
        let good = try await fastRebuilder(da).rebuild(expectedChecksum: try cleanChecksum(events))
        #expect(good.report.checksum == (try cleanChecksum(events)))
        let wrong = try cleanChecksum(Array(events.prefix(299)))
        let error = await runtimeError { try await fastRebuilder(da).rebuild(expectedChecksum: wrong) }
        #expect(error?.code == .checksumMismatch)
        #expect(error?.message.contains(wrong.hex) == true)
    }

    @Test func unavailableDAAfterBoundedRetries() async throws {
        let da = MemoryDA()
        try await publishAll(Array(history.prefix(20)), to: da, batchSize: 10)
        await da.setDown("maintenance")
        let sleeper = RecordingSleeper()
        let error = await runtimeError { try await fastRebuilder(da, maxAttempts: 4, sleeper: sleeper.sleeper).rebuild() }
        #expect(error?.code == .daUnavailable)
        #expect(error?.message.contains("after 4 attempts") == true)
        #expect(sleeper.durations == [.seconds(1), .seconds(2), .seconds(4)])
    }

    @Test func persistentCorruptionFailsWithHeightAndIndex() async throws {
        let da = MemoryDA(faults: .init(seed: 9, corruptionPerMillion: 1_000_000))
        try await publishAll(Array(history.prefix(20)), to: da, batchSize: 10)
        let error = await runtimeError { try await fastRebuilder(da).rebuild() }
        #expect(error?.code == .commitmentMismatch)
        #expect(error?.height == 1)
        #expect(error?.index == 0)
        #expect(error?.message.contains("on 6 reads") == true)
    }

    @Test func foreignAndMalformedBlobsAreCountedNotFatal() async throws {
        let da = MemoryDA()
        let events = Array(history.prefix(40))
        try await publishAll(Array(events.prefix(20)), to: da, batchSize: 10)
        await da.appendForeignBlob(Array("not a dsdn blob".utf8), to: testNamespace)
        await da.appendForeignBlob(Array("DSDN".utf8) + [1, 2, 3], to: testNamespace)
        try await publishAll(Array(events.suffix(20)), to: da, batchSize: 10, publisherID: "coordinator-2")
        let (_, report) = try await fastRebuilder(da).rebuild(expectedChecksum: try cleanChecksum(events))
        #expect(report.counts.rejections(.foreign) == 1)
        #expect(report.counts.rejections(.malformed) == 1)
        #expect(report.counts.blobsApplied == 4)
    }
}
