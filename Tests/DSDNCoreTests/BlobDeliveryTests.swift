import DSDNCore
import DSDNSimulation
import DSDNTestSupport
import Testing

/// How blobs from the DA are applied: identity, duplicates, rejections, ordering.
@Suite struct BlobDeliveryTests {
    private func blob(_ publisher: String, _ sequence: UInt64, _ events: [Event]) throws -> [UInt8] {
        try BlobCodec.encode(BlobEnvelope(publisherID: publisher, sequence: sequence, events: events))
    }

    @Test func theSameBlobPostedTwiceIsANoOp() throws {
        var machine = StateMachine()
        let first = try blob("p", 1, [Fixtures.register("n1")])
        #expect(machine.apply(blob: first, at: .init(height: 1, index: 0)) == .applied(events: 1))
        let checksum = machine.state.checksum()
        #expect(machine.apply(blob: first, at: .init(height: 2, index: 0)) == .duplicate)
        #expect(machine.state.checksum() == checksum)
        #expect(machine.state.cursor.blobsDuplicate == 1)
        #expect(machine.state.cursor.blobsApplied == 1)
    }

    /// Defect fixed: the prototype applied lower sequence numbers silently.
    @Test func aLowerOrEqualSequenceFromThePublisherIsNotApplied() throws {
        var machine = StateMachine()
        machine.apply(blob: try blob("p", 5, [Fixtures.register("n1")]), at: .init(height: 1, index: 0))
        let outcome = machine.apply(blob: try blob("p", 4, [Fixtures.register("n2")]), at: .init(height: 2, index: 0))
        #expect(outcome == .duplicate)
        #expect(machine.state.node("n2") == nil)
        // Another publisher has its own sequence space; gaps are allowed.
        #expect(machine.apply(blob: try blob("q", 1, [Fixtures.register("n3")]), at: .init(height: 3, index: 0)) == .applied(events: 1))
        #expect(machine.apply(blob: try blob("p", 9, [Fixtures.register("n4")]), at: .init(height: 4, index: 0)) == .applied(events: 1))
        #expect(machine.state.cursor.publisherSequences == ["p": 9, "q": 1])
    }

    @Test func aRejectedBlobIsRecordedAndTheStreamGoesOn() throws {
        var machine = StateMachine()
        machine.apply(blob: try blob("p", 1, [Fixtures.register("n1")]), at: .init(height: 1, index: 0))
        let checksum = machine.state.checksum()
        let bad = try blob("p", 2, [Fixtures.register("n2"), Fixtures.replica(Fixtures.hash(1), on: "n2", index: 0)])
        guard case let .rejected(rejection) = machine.apply(blob: bad, at: .init(height: 2, index: 0)) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(rejection.reason == .invalidEvent)
        #expect(rejection.message.contains("does not exist"))
        #expect(rejection.message.contains("event 1"))
        #expect(machine.state.checksum() == checksum)
        #expect(machine.state.node("n2") == nil)
        #expect(machine.state.cursor.rejections(.invalidEvent) == 1)
        #expect(machine.state.cursor.recentRejections.map(\.position) == [.init(height: 2, index: 0)])
        // A rejected blob consumes no sequence: the next one applies.
        #expect(machine.apply(blob: try blob("p", 2, [Fixtures.register("n2")]), at: .init(height: 3, index: 0)) == .applied(events: 1))
    }

    @Test func foreignAndCorruptBlobsAreRejectedByReason() throws {
        var machine = StateMachine()
        machine.apply(blob: Array("hello from another app".utf8), at: .init(height: 1, index: 0))
        var flipped = try blob("p", 1, [Fixtures.register("n1")])
        flipped[10] ^= 0x01
        machine.apply(blob: flipped, at: .init(height: 1, index: 1))
        var future = try blob("p", 1, [Fixtures.register("n1")])
        future[4] = 2
        machine.apply(blob: future, at: .init(height: 1, index: 2))
        #expect(machine.state.cursor.rejections(.foreign) == 1)
        #expect(machine.state.cursor.rejections(.integrityMismatch) == 1)
        #expect(machine.state.cursor.rejections(.unsupportedVersion) == 1)
        #expect(machine.state.nodeCount == 0)
    }

    @Test func publisherIDsAreValidatedLikeOtherIdentifiers() throws {
        var machine = StateMachine()
        for (offset, publisher) in ["", "two words", "caf\u{E9}"].enumerated() {
            let outcome = machine.apply(
                blob: try blob(publisher, 1, [Fixtures.register("n\(offset)")]), at: .init(height: UInt64(offset + 1), index: 0))
            guard case let .rejected(rejection) = outcome else {
                Issue.record("publisher \(publisher.debugDescription) was accepted")
                continue
            }
            #expect(rejection.reason == .malformed)
            #expect(rejection.message.contains("publisher_id"))
        }
        #expect(machine.state.nodeCount == 0)
        #expect(machine.state.cursor.publisherSequences.isEmpty)
    }

    @Test func positionsMustAdvance() throws {
        var machine = StateMachine()
        machine.apply(blob: try blob("p", 1, [Fixtures.register("n1")]), at: .init(height: 5, index: 1))
        #expect(machine.apply(blob: try blob("p", 2, [Fixtures.register("n2")]), at: .init(height: 5, index: 1)) == .outOfOrder)
        #expect(machine.apply(blob: try blob("p", 2, [Fixtures.register("n2")]), at: .init(height: 4, index: 9)) == .outOfOrder)
        #expect(machine.state.node("n2") == nil)
        #expect(machine.apply(blob: try blob("p", 2, [Fixtures.register("n2")]), at: .init(height: 5, index: 2)) == .applied(events: 1))
    }

    @Test func cursorDigestTracksDeliveryButContentChecksumDoesNot() throws {
        let events = SyntheticHistory.events(.init(seed: 1, eventCount: 500))
        let small = Fixtures.machine(blobs: try events.encodedBlobs(publisher: "p", batchSize: 10))
        let large = Fixtures.machine(blobs: try events.encodedBlobs(publisher: "p", batchSize: 100))
        #expect(small.state.checksum() == large.state.checksum())
        #expect(small.state.cursorDigest() != large.state.cursorDigest())
    }
}
