import DSDNCore
import DSDNSimulation
import DSDNTestSupport
import Testing

/// The canonical binary codec: round trips, golden bytes, and the documented rejection rules.
@Suite struct CodecTests {
    static let stats = NodeStats(
        cpuFreeMilli: 800, ramFreeMB: 16_000, gpuFreeMilli: 0, latencyMicros: 5_000, ioPressureMilli: 100,
        usedBytes: 123_456_789, reportedAtMillis: 1_767_225_600_123)
    static let provenance = PlacementProvenance(
        policyName: "zone-spread", policyVersion: 3, policySourceHash: Fixtures.hash(0xAA), inputDigest: Fixtures.hash(0xBB))

    /// One event of every type, in type order.
    static let everyType: [Event] = [
        .nodeRegistered(nodeID: "node-1", zone: "eu-west", addr: "10.0.0.1:7000", capacityBytes: 1 << 40),
        .nodeUnregistered(nodeID: "node-2"),
        .chunkDeclared(
            hash: Fixtures.hash(0x11), sizeBytes: 4096, replicationFactor: 3, uploaderID: "alice", daCommitment: Fixtures.hash(0x22)),
        .chunkRemoved(hash: Fixtures.hash(0x33)),
        .replicaAdded(
            hash: Fixtures.hash(0x11), nodeID: "node-1", replicaIndex: 2, addedAtMillis: 1_767_225_600_000, provenance: provenance),
        .replicaRemoved(hash: Fixtures.hash(0x11), nodeID: "node-1"),
        .zoneAssigned(zone: "eu-east", nodeID: "node-1"),
        .zoneUnassigned(zone: "eu-east", nodeID: "node-1"),
        .nodeStatsReported(nodeID: "node-1", stats: stats),
        .nodeStatusChanged(nodeID: "node-1", status: .draining),
    ]

    /// The exact bytes of a blob carrying `everyType`, publisher `golden`, sequence 42
    /// (layout in docs/events.md). Changing the encoding breaks every recorded history: bump the format
    /// version instead.
    static let goldenBlobHex = GoldenVectors.everyTypeBlobHex

    @Test func everyEventTypeRoundTrips() throws {
        #expect(Set((Self.everyType + PolicyRegistryTests.policyEvents).map(\.type)) == Set(EventType.allCases))
        let envelope = BlobEnvelope(publisherID: "golden", sequence: 42, events: Self.everyType)
        let bytes = try BlobCodec.encode(envelope)
        #expect(try BlobCodec.decode(bytes) == envelope)
        for event in Self.everyType {
            let single = BlobEnvelope(
                publisherID: "p", sequence: 1,
                events: [event, .replicaAdded(hash: Fixtures.hash(1), nodeID: "n", replicaIndex: 0, addedAtMillis: 0, provenance: nil)])
            #expect(try BlobCodec.decode(try BlobCodec.encode(single)) == single)
        }
    }

    @Test func goldenBlobBytes() throws {
        let bytes = try BlobCodec.encode(BlobEnvelope(publisherID: "golden", sequence: 42, events: Self.everyType))
        #expect(hexString(bytes) == Self.goldenBlobHex)
        // Hand-checked header: magic, version 1, publisher "golden", sequence 42, 10 events, first type 1.
        #expect(Array(bytes[0..<5]) == [0x44, 0x53, 0x44, 0x4E, 0x01])
        #expect(Array(bytes[5..<13]) == [0x00, 0x06] + Array("golden".utf8))
        #expect(Array(bytes[13..<21]) == [0, 0, 0, 0, 0, 0, 0, 42])
        #expect(Array(bytes[21..<25]) == [0, 0, 0, 10])
        #expect(bytes[25] == 1)
        #expect(Array(bytes.suffix(32)) == sha256(bytes.dropLast(32)).bytes)
        #expect(try BlobCodec.decode(bytes).events == Self.everyType)
    }

    @Test func goldenEventBodies() throws {
        // Per-event bodies, pinned one by one so a change points at the event that moved.
        for (event, hex) in zip(Self.everyType, GoldenVectors.everyTypeBodyHex) {
            #expect(hexString(try BlobCodec.encodeBody(event)) == hex, "\(event.type)")
        }
    }

    @Test func encodingIsCanonical() throws {
        let events = SyntheticHistory.events(.init(seed: 2, eventCount: 1_000))
        for blob in try events.encodedBlobs(publisher: "p", batchSize: 37) {
            #expect(try BlobCodec.encode(try BlobCodec.decode(blob)) == blob)
        }
    }

    @Test func rejectionRules() throws {
        let good = try BlobCodec.encode(BlobEnvelope(publisherID: "p", sequence: 1, events: [Fixtures.register("n1")]))

        func reason(_ bytes: [UInt8]) -> RejectionReason? {
            do {
                _ = try BlobCodec.decode(bytes)
                return nil
            } catch {
                return error.reason
            }
        }
        func resealed(_ bytes: [UInt8]) -> [UInt8] {
            let payload = Array(bytes.dropLast(32))
            return payload + sha256(payload).bytes
        }

        #expect(reason([]) == .foreign)
        #expect(reason(Array("DSD".utf8)) == .foreign)
        #expect(reason(Array("DSDN".utf8)) == .malformed)
        var version = good
        version[4] = 9
        #expect(reason(resealed(version)) == .unsupportedVersion)
        var flipped = good
        flipped[good.count - 40] ^= 0xFF
        #expect(reason(flipped) == .integrityMismatch)
        // An unknown event type, with a valid checksum.
        var unknown = good
        unknown[5 + 2 + 1 + 8 + 4] = 200
        #expect(reason(resealed(unknown)) == .unknownEventType)
        // Trailing bytes after the last event.
        #expect(reason(resealed(Array(good.dropLast(32)) + [0] + Array(repeating: 0, count: 32))) == .malformed)
        // A count far larger than the bytes could hold is refused before allocating.
        var count = good
        count.replaceSubrange((5 + 2 + 1 + 8)..<(5 + 2 + 1 + 8 + 4), with: [0, 0, 0x10, 0])
        #expect(reason(resealed(count)) == .malformed)
        count.replaceSubrange((5 + 2 + 1 + 8)..<(5 + 2 + 1 + 8 + 4), with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(reason(resealed(count)) == .limitExceeded)
        // A blob over the size limit is refused before hashing.
        #expect(reason(Array("DSDN".utf8) + [UInt8](repeating: 0, count: Limits.maxBlobBytes)) == .limitExceeded)
        // Invalid UTF-8 in a string.
        var utf8 = good
        utf8[5 + 2] = 0xFF
        #expect(reason(resealed(utf8)) == .malformed)
        // A non-canonical flag byte.
        let declared = try BlobCodec.encode(BlobEnvelope(publisherID: "p", sequence: 1, events: [Fixtures.declare(Fixtures.hash(1))]))
        var flag = declared
        flag[declared.count - 33] = 2
        #expect(reason(resealed(flag)) == .malformed)
    }

    @Test func encoderRefusesFieldsOverTheLimits() {
        let long = String(repeating: "x", count: Limits.maxIdentifierBytes + 1)
        #expect(throws: CodecError.self) { try BlobCodec.encode(BlobEnvelope(publisherID: long, sequence: 1, events: [])) }
        #expect(throws: CodecError.self) {
            try BlobCodec.encode(BlobEnvelope(publisherID: "p", sequence: 1, events: [Fixtures.register(long)]))
        }
    }
}
