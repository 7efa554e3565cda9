import DSDNCore
import DSDNDA
import DSDNRuntime
import DSDNTestSupport
import Foundation
import Testing

@testable import DSDNService

/// The durable outbox: what was recorded comes back after a restart, torn tails are cut, corruption in
/// the middle refuses to open with the offset.
@Suite struct FileOutboxTests {
    func events(_ range: Range<Int>) -> [JournaledEvent] {
        range.map { JournaledEvent(id: UInt64($0), event: Fixtures.register("node-\($0)")) }
    }

    @Test func acceptedSealedAndIncludedComeBackAfterReopening() throws {
        let directory = try TemporaryDirectory()
        do {
            let outbox = try FileOutbox(directory: directory.url.path)
            #expect(outbox.backlog.isEmpty)
            try outbox.recordAccepted(events(1..<4))
            try outbox.recordAccepted(events(4..<6))
            try outbox.recordSealed(sequence: 7, ids: [1, 2])
            try outbox.recordSealed(sequence: 8, ids: [3, 4])
            try outbox.recordIncluded(sequence: 7)
            #expect(outbox.outstandingCount == 3)
        }
        let reopened = try FileOutbox(directory: directory.url.path)
        #expect(reopened.backlog.sealed == [SealedBatch(sequence: 8, events: events(3..<5))])
        #expect(reopened.backlog.unsealed == events(5..<6))
        #expect(reopened.backlog.lastEventID == 5)
        #expect(reopened.tornBytesCut == 0)
    }

    @Test func idsNeverRepeatAfterEverythingWasIncluded() throws {
        let directory = try TemporaryDirectory()
        do {
            let outbox = try FileOutbox(directory: directory.url.path)
            try outbox.recordAccepted(events(1..<3))
            try outbox.recordSealed(sequence: 1, ids: [1, 2])
            try outbox.recordIncluded(sequence: 1)
            #expect(outbox.outstandingCount == 0)
            // Nothing outstanding: the file shrinks to the single record that keeps the highest id.
            #expect(outbox.fileSize < 40)
        }
        let reopened = try FileOutbox(directory: directory.url.path)
        #expect(reopened.backlog.isEmpty)
        #expect(reopened.backlog.lastEventID == 2)
    }

    @Test func aTornTailIsCutAtEveryOffsetOfTheLastRecord() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("outbox.log")
        do {
            let outbox = try FileOutbox(directory: directory.url.path)
            try outbox.recordAccepted(events(1..<3))
        }
        let intact = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let outbox = try FileOutbox(directory: directory.url.path)
            try outbox.recordAccepted(events(3..<4))
        }
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(full.count > intact.count)
        for cut in intact.count..<full.count {
            try full.prefix(cut).write(to: URL(fileURLWithPath: path))
            let outbox = try FileOutbox(directory: directory.url.path)
            #expect(outbox.backlog.unsealed == events(1..<3), "cut at \(cut)")
            #expect(outbox.tornBytesCut == Int64(cut - intact.count), "cut at \(cut)")
        }
    }

    @Test func corruptionInTheMiddleRefusesWithTheOffset() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("outbox.log")
        do {
            let outbox = try FileOutbox(directory: directory.url.path)
            try outbox.recordAccepted(events(1..<3))
            try outbox.recordAccepted(events(3..<5))
        }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[20] ^= 0xFF  // inside the first record's payload
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try FileOutbox(directory: directory.url.path)
            Issue.record("a corrupted outbox opened")
        } catch {
            #expect(error.code == .journalFailure)
            #expect(error.message.contains("outbox.log"))
            #expect(error.message.contains("offset 0"))
        }
        // The refusal changed nothing on disk.
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == bytes)
    }

    @Test func aPublisherRestoredFromTheOutboxResubmitsSealedBlobsWithTheirSequence() async throws {
        let directory = try TemporaryDirectory()
        do {
            let outbox = try FileOutbox(directory: directory.url.path)
            try outbox.recordAccepted(events(1..<5))
            try outbox.recordSealed(sequence: 3, ids: [1, 2])
            try outbox.recordSealed(sequence: 4, ids: [3])
        }
        let outbox = try FileOutbox(directory: directory.url.path)
        let da = MemoryDAForTests()
        // Sequence 3 was applied before the crash; 4 was not.
        let publisher = try EventPublisher(da: da.layer, namespace: da.namespace, publisherID: "coord", journal: outbox)
        await publisher.restore(outbox.backlog, appliedSequence: 3)
        await publisher.flush()
        let blobs = try await da.allEnvelopes()
        #expect(blobs.map(\.sequence) == [4, 5])
        #expect(blobs[0].events == [Fixtures.register("node-3")])
        #expect(blobs[1].events == [Fixtures.register("node-4")])
        #expect(outbox.outstandingCount == 0)
        #expect(await publisher.lastSequence == 5)
    }
}

/// A refusal retrying cannot fix halts a journaled publisher, so no later sequence lands first.
@Suite struct PublisherHaltTests {
    @Test func aNonRetryableRefusalHaltsAndKeepsEverythingInTheOutbox() async throws {
        let directory = try TemporaryDirectory()
        let outbox = try FileOutbox(directory: directory.url.path)
        // A 1-byte blob cap on the DA side: every submit is refused as too large (not retryable).
        let memory = MemoryDA(maxBlobSize: 1)
        let publisher = try EventPublisher(
            da: memory, namespace: DANamespace(name: "halt"), publisherID: "coord",
            options: EventPublisher.Options(batchSize: 1), journal: outbox)
        let first = try await publisher.enqueue(Fixtures.register("n1"))
        await publisher.flush()
        do {
            _ = try await first.inclusion()
            Issue.record("the refused blob was reported included")
        } catch {
            #expect(error.code == .unpublishable)
        }
        #expect(await publisher.halted != nil)
        do {
            _ = try await publisher.enqueue(Fixtures.register("n2"))
            Issue.record("a halted publisher accepted an event")
        } catch {
            #expect(error.code == .daFailure)
            #expect(error.message.contains("halted"))
        }
        // The refused blob is still in the outbox for the next start.
        #expect(outbox.outstandingCount == 1)
        #expect(try await memory.head() == 0)
    }
}
