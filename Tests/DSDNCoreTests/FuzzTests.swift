import DSDNCore
import DSDNSimulation
import DSDNTestSupport
import Testing

/// Random and mutated blobs through the decoder and the state machine: no crash, no partial state, and
/// the same outcome every time.
@Suite struct FuzzTests {
    /// Builds 10,000+ blobs: valid ones, mutations of them (with and without a repaired integrity
    /// trailer, so mutations reach the event decoder and the handlers), random bytes, and replays.
    static func corpus(seed: UInt64) throws -> [[UInt8]] {
        var random = SeededGenerator(seed: seed)
        let events = SyntheticHistory.events(.init(seed: seed, eventCount: 3_000, nodeCount: 30, zoneCount: 4))
        let valid = try events.encodedBlobs(publisher: "fuzz", batchSize: 5)
        var blobs: [[UInt8]] = []
        for blob in valid {
            blobs.append(blob)
            for _ in 0..<16 {
                blobs.append(mutate(blob, &random))
            }
        }
        for _ in 0..<200 {
            let length = Int(random.below(300))
            var noise = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if random.chance(1, in: 2) && noise.count >= 5 { noise.replaceSubrange(0..<5, with: Array("DSDN".utf8) + [1]) }
            blobs.append(noise)
        }
        // Replays of earlier valid blobs, and valid envelopes carrying events that do not fit the state.
        for _ in 0..<200 {
            blobs.append(valid[Int(random.below(UInt64(valid.count)))])
            let shuffled = events[Int(random.below(UInt64(events.count)))...].prefix(3)
            blobs.append(try BlobCodec.encode(BlobEnvelope(publisherID: "other", sequence: random.next() % 1_000, events: Array(shuffled))))
        }
        return blobs
    }

    static func mutate(_ blob: [UInt8], _ random: inout SeededGenerator) -> [UInt8] {
        var bytes = blob
        switch random.below(6) {
        case 0:
            let index = Int(random.below(UInt64(bytes.count)))
            bytes[index] ^= UInt8(1 << random.below(8))
        case 1:
            bytes = Array(bytes.prefix(Int(random.below(UInt64(bytes.count)))))
        case 2:
            bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: Int(random.below(UInt64(bytes.count + 1))))
        case 3:
            for _ in 0..<(1 + random.below(4)) {
                bytes[Int(random.below(UInt64(bytes.count)))] = UInt8(truncatingIfNeeded: random.next())
            }
        case 4:
            bytes.removeSubrange(Int(random.below(UInt64(bytes.count)))..<bytes.count)
            bytes += (0..<random.below(64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        default:
            // Big-endian length fields set to extremes.
            let index = Int(random.below(UInt64(max(1, bytes.count - 4))))
            for offset in 0..<min(4, bytes.count - index) { bytes[index + offset] = 0xFF }
        }
        // Half the mutations get a valid integrity trailer, so they reach the structural decoder.
        if random.chance(1, in: 2), bytes.count > 37, bytes.starts(with: Array("DSDN".utf8)) {
            let payload = Array(bytes.dropLast(32))
            bytes = payload + sha256(payload).bytes
        }
        return bytes
    }

    @Test func randomAndMutatedBlobsNeverCrashOrLeavePartialState() throws {
        let blobs = try Self.corpus(seed: 0xF00D)
        #expect(blobs.count >= 10_000)

        var indexProblems: [String] = []
        func run() -> (outcomes: [BlobOutcome], checksum: Hash256, cursor: Hash256, partialStates: Int) {
            var machine = StateMachine()
            var outcomes: [BlobOutcome] = []
            var partial = 0
            for (offset, blob) in blobs.enumerated() {
                let before = machine.state.checksum()
                let outcome = machine.apply(blob: blob, at: BlobPosition(height: UInt64(offset / 4 + 1), index: UInt32(offset % 4)))
                switch outcome {
                case .applied: break
                case .duplicate, .rejected, .outOfOrder:
                    if machine.state.checksum() != before { partial += 1 }
                }
                outcomes.append(outcome)
                // The incremental indexes must equal a recomputation, after applies and rollbacks alike.
                if offset % 97 == 0 { indexProblems += machine.state.indexInconsistencies() }
            }
            indexProblems += machine.state.indexInconsistencies()
            return (outcomes, machine.state.checksum(), machine.state.cursorDigest(), partial)
        }

        let first = run()
        let second = run()
        #expect(first.partialStates == 0)
        #expect(indexProblems.isEmpty, "\(indexProblems.prefix(3))")
        #expect(first.outcomes == second.outcomes)
        #expect(first.checksum == second.checksum)
        #expect(first.cursor == second.cursor)
        // The corpus really exercises every path.
        let rejected = first.outcomes.compactMap { if case let .rejected(r) = $0 { r.reason } else { nil } }
        for reason in [RejectionReason.foreign, .integrityMismatch, .malformed, .invalidEvent, .unknownEventType] {
            #expect(rejected.contains(reason), "no \(reason) in the corpus")
        }
        #expect(first.outcomes.contains(.duplicate))
        #expect(first.outcomes.contains { if case .applied = $0 { true } else { false } })
    }
}
