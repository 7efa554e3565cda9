import DSDNCore
import DSDNTestSupport
import Testing

/// The policy events (docs/events.md 11–13) and the registry they build in the state.
@Suite struct PolicyRegistryTests {
    static let source = Array("return { name = \"tiny\", version = 1, api = 1, score = function() return 1 end }\n".utf8)
    static let release = PolicyRelease(
        name: "tiny", version: 1, apiLevel: 1, source: source,
        parameters: [
            PolicyParameter(name: "weight", value: .number(bitPattern: (0.5).bitPattern)),
            PolicyParameter(name: "limit", value: .integer(-3)), PolicyParameter(name: "strict", value: .boolean(true)),
            PolicyParameter(name: "label", value: .string("é")),
        ], instructionBudget: 5_000_000, memoryBudget: 16 << 20)

    /// One event of each policy type, in type order (their bodies are pinned in `GoldenVectors`).
    static let policyEvents: [Event] = [
        .policyPublished(release),
        .policyActivated(name: "tiny", version: 1, role: .shadow),
        .policyParamsSet(name: "tiny", version: 1, parameters: [PolicyParameter(name: "limit", value: .integer(7))]),
    ]

    static func machine(_ events: [Event]) throws -> StateMachine {
        var machine = StateMachine()
        try machine.apply(events: events)
        return machine
    }

    static func refusal(_ events: [Event], after setup: [Event] = [policyEvents[0]]) throws -> ApplyError? {
        var machine = try machine(setup)
        let before = machine.state.checksum()
        let error = #expect(throws: ApplyError.self) { try machine.apply(events: events) }
        #expect(machine.state.checksum() == before, "a refused batch changes nothing")
        return error
    }

    // MARK: Codec

    @Test func policyEventsRoundTripThroughBlobsAndJSONLines() throws {
        let envelope = BlobEnvelope(publisherID: "p", sequence: 1, events: Self.policyEvents)
        #expect(try BlobCodec.decode(try BlobCodec.encode(envelope)) == envelope)
        for (event, hex) in zip(Self.policyEvents, GoldenVectors.policyEventBodyHex) {
            #expect(hexString(try BlobCodec.encodeBody(event)) == hex, "\(event.type)")
        }
    }

    @Test func provenanceWithItsContextRoundTripsAndOldProvenanceStillReads() throws {
        let context = PlacementContext(
            parametersDigest: Fixtures.hash(0xCC), snapshotHeight: 77, engine: "dsdn-coordinator test; Lua 5.4.4")
        let placement = Event.replicaAdded(
            hash: Fixtures.hash(1), nodeID: "n", replicaIndex: 0, addedAtMillis: 5,
            provenance: PlacementProvenance(
                policyName: "tiny", policyVersion: 1, policySourceHash: Fixtures.hash(0xAA), inputDigest: Fixtures.hash(0xBB),
                context: context))
        let body = try BlobCodec.encodeBody(placement)
        #expect(hexString(body) == GoldenVectors.placementWithContextBodyHex)
        let envelope = BlobEnvelope(publisherID: "p", sequence: 1, events: [placement])
        #expect(try BlobCodec.decode(try BlobCodec.encode(envelope)) == envelope)
        // The ten-event golden blob (provenance marker 1) decodes as before: no context.
        let golden = try BlobCodec.decode(try #require(bytes(fromHex: GoldenVectors.everyTypeBlobHex)))
        guard case let .replicaAdded(_, _, _, _, provenance?) = golden.events[4] else {
            Issue.record("the golden blob's placement lost its provenance")
            return
        }
        #expect(provenance.context == nil)
    }

    @Test func malformedPolicyBodiesAreRefusedWithTheirOffsets() throws {
        func blob(_ body: [UInt8], type: EventType) -> [UInt8] {
            var bytes = Array("DSDN".utf8) + [1, 0, 1, 0x70] + [UInt8](repeating: 0, count: 7) + [1] + [0, 0, 0, 1]
            bytes += [type.rawValue] + withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init) + body
            return bytes + sha256(bytes).bytes
        }
        var activation = try BlobCodec.encodeBody(Self.policyEvents[1])
        activation[activation.count - 1] = 9
        let role = #expect(throws: CodecError.self) { try BlobCodec.decode(blob(activation, type: .policyActivated)) }
        #expect(role?.reason == .malformed && role?.message == "unknown policy role 9")

        var set = try BlobCodec.encodeBody(Self.policyEvents[2])
        set[4 + 2 + 4 + 1 + 2 + 5] = 7  // the first parameter's type code
        let type = #expect(throws: CodecError.self) { try BlobCodec.decode(blob(set, type: .policyParamsSet)) }
        #expect(type?.reason == .malformed && type?.message == "unknown parameter type 7")

        var published = try BlobCodec.encodeBody(Self.policyEvents[0])
        let lengthAt = 2 + 4 + 4 + 1
        published.replaceSubrange(lengthAt..<(lengthAt + 4), with: [0, 0x10, 0, 1])  // 1 MiB + 1
        let size = #expect(throws: CodecError.self) { try BlobCodec.decode(blob(published, type: .policyPublished)) }
        #expect(size?.reason == .limitExceeded)
        #expect(size?.message == "policy source is 1048577 bytes, over the limit of 1048576")
    }

    @Test func parameterNumbersAreReadAsDecimalOnly() {
        for text in ["0", "-0", "2", "-1.5", "0.25", "1e-3", "2E+10", "123456789.125"] {
            #expect(PolicyParameterValue.number(decimal: text) == PolicyParameterValue.number(Double(text) ?? .nan), "\(text)")
        }
        for text in ["", "-", "0x10", "+1", ".5", "5.", " 1", "1 ", "01", "1e", "1e+", "inf", "nan", "1e999", "1_000"] {
            #expect(PolicyParameterValue.number(decimal: text) == nil, "\(text.debugDescription)")
        }
    }

    // MARK: Publishing

    @Test func publishingRecordsTheVersionAndRepublishingTheSameBytesIsANoOp() throws {
        var machine = try Self.machine([Self.policyEvents[0]])
        let info = try #require(machine.state.policyVersion("tiny", 1))
        #expect(info.release.parameters.map(\.name) == ["label", "limit", "strict", "weight"], "sorted by name")
        #expect(info.values == info.release.parameters)
        #expect(info.parameterSets == 0)
        #expect(machine.state.placementPolicy == nil)
        let before = machine.state.checksum()
        try machine.apply(events: [Self.policyEvents[0]])
        #expect(machine.state.checksum() == before)
        #expect(machine.state.policyHistory.count == 1)
    }

    @Test func aVersionIsImmutable() throws {
        var other = Self.release
        other.source += Array("-- changed\n".utf8)
        other.sourceHash = sha256(other.source)
        let error = try Self.refusal([.policyPublished(other)])
        #expect(error?.code == .conflict)
        #expect(error?.message == "conflict: policy tiny@1 is already published with other content")
    }

    @Test func badReleasesGetOneLine() throws {
        var wrongHash = Self.release
        wrongHash.sourceHash = Fixtures.hash(1)
        var notUTF8 = Self.release
        notUTF8.source = [0x72, 0xFF]
        notUTF8.sourceHash = sha256(notUTF8.source)
        var tooLarge = Self.release
        tooLarge.source = [UInt8](repeating: 0x20, count: Limits.maxPolicySourceBytes + 1)
        tooLarge.sourceHash = sha256(tooLarge.source)
        var infinite = Self.release
        infinite.parameters[0].value = .number(bitPattern: Double.infinity.bitPattern)
        var twice = Self.release
        twice.parameters.append(PolicyParameter(name: "limit", value: .integer(1)))
        var budget = Self.release
        budget.instructionBudget = 1
        var api = Self.release
        api.apiLevel = 3
        let cases: [(PolicyRelease, String)] = [
            (wrongHash, "source_hash of tiny@1 does not match the SHA-256 of its source"),
            (notUTF8, "policy source of tiny@1 is not valid UTF-8"),
            (tooLarge, "policy source is 1048577 bytes, over the limit of 1048576"),
            (infinite, "parameter weight of tiny@1 must be finite"),
            (twice, "tiny@1 declares parameter limit twice"),
            (budget, "instruction budget of tiny@1 must be from 10000 to 50000000, got 1"),
            (api, "api_level must be 1 or 2, got 3"),
        ]
        for (release, message) in cases {
            let error = try Self.refusal([.policyPublished(release)], after: [])
            #expect(error?.code == .invalidField)
            #expect(error?.message == message)
        }
    }

    // MARK: Activation

    @Test func activationNamesAPublishedVersion() throws {
        var machine = try Self.machine([Self.policyEvents[0], .policyActivated(name: "tiny", version: 1, role: .placement)])
        #expect(machine.state.placementPolicy?.label == "tiny@1")
        let error = try Self.refusal(
            [.policyActivated(name: "tiny", version: 2, role: .placement)],
            after: [Self.policyEvents[0], .policyActivated(name: "tiny", version: 1, role: .placement)])
        #expect(error?.code == .unknownPolicy)
        #expect(error?.message == "policy tiny@2 is not published")
        // The shadow is set and cleared; the placement policy stays.
        try machine.apply(events: [.policyActivated(name: "tiny", version: 1, role: .shadow)])
        #expect(machine.state.shadowPolicy?.label == "tiny@1")
        try machine.apply(events: [.policyActivated(name: "tiny", version: 0, role: .shadow)])
        #expect(machine.state.shadowPolicy == nil)
        #expect(machine.state.placementPolicy?.label == "tiny@1")
        #expect(machine.state.policyHistory.map(\.kind) == [.published, .activated, .activated, .activated])
        let zero = try Self.refusal([.policyActivated(name: "tiny", version: 0, role: .placement)])
        #expect(zero?.message == "policy version must be 1 or more (version 0 only clears the shadow)")
    }

    // MARK: Parameters

    @Test func parametersAreCheckedAgainstTheDeclaration() throws {
        let cases: [([PolicyParameter], String)] = [
            ([PolicyParameter(name: "nope", value: .integer(1))], "unknown parameter nope of tiny@1 (known: label, limit, strict, weight)"),
            ([PolicyParameter(name: "limit", value: .boolean(true))], "parameter limit of tiny@1 is an integer, got boolean true"),
            ([PolicyParameter(name: "weight", value: .integer(2))], "parameter weight of tiny@1 is a number, got integer 2"),
            ([], "no parameters to set for tiny@1"),
            (
                [PolicyParameter(name: "limit", value: .integer(1)), PolicyParameter(name: "limit", value: .integer(2))],
                "parameter limit of tiny@1 is set twice"
            ),
        ]
        for (parameters, message) in cases {
            let error = try Self.refusal([.policyParamsSet(name: "tiny", version: 1, parameters: parameters)])
            #expect(error?.message == message)
        }
        let unknown = try Self.refusal([.policyParamsSet(name: "tiny", version: 9, parameters: [])])
        #expect(unknown?.code == .unknownPolicy)
    }

    @Test func settingParametersMakesANewSetWithItsOwnDigest() throws {
        var machine = try Self.machine([Self.policyEvents[0]])
        let first = try #require(machine.state.policyVersion("tiny", 1))
        try machine.apply(events: [Self.policyEvents[2]])
        let second = try #require(machine.state.policyVersion("tiny", 1))
        #expect(second.values.first { $0.name == "limit" }?.value == .integer(7))
        #expect(second.parametersDigest != first.parametersDigest)
        #expect(second.parameterSets == 1)
        #expect(machine.state.policyHistory.last?.digest == second.parametersDigest)
        // Setting the values in force again changes nothing.
        let checksum = machine.state.checksum()
        try machine.apply(events: [Self.policyEvents[2]])
        #expect(machine.state.checksum() == checksum)
        // Back to the defaults: the digest of the defaults again, and a third history entry.
        try machine.apply(events: [
            .policyParamsSet(name: "tiny", version: 1, parameters: [PolicyParameter(name: "limit", value: .integer(-3))])
        ])
        #expect(machine.state.policyVersion("tiny", 1)?.parametersDigest == first.parametersDigest)
        #expect(machine.state.policyHistory.count == 3)
    }

    // MARK: The checksum

    @Test func theRegistryIsInTheChecksumAsEncodingVersion2() throws {
        #expect(StateMachine().state.checksum().hex == GoldenVectors.emptyStateChecksum, "no registry: version 1, unchanged")
        let published = try Self.machine([Self.policyEvents[0]])
        let activated = try Self.machine([Self.policyEvents[0], .policyActivated(name: "tiny", version: 1, role: .placement)])
        let tuned = try Self.machine([Self.policyEvents[0], Self.policyEvents[2]])
        let checksums = [StateMachine().state.checksum(), published.state.checksum(), activated.state.checksum(), tuned.state.checksum()]
        #expect(Set(checksums).count == 4)
        #expect(activated.state.checksum().hex == GoldenVectors.policyStateChecksum)
        // Blob grouping and heights do not enter it.
        var viaBlobs = StateMachine()
        for (offset, event) in [Self.policyEvents[0], .policyActivated(name: "tiny", version: 1, role: .placement)].enumerated() {
            let blob = try BlobCodec.encode(BlobEnvelope(publisherID: "p", sequence: UInt64(offset + 1), events: [event]))
            viaBlobs.apply(blob: blob, at: BlobPosition(height: UInt64(10 + offset), index: 0))
        }
        #expect(viaBlobs.state.checksum() == activated.state.checksum())
        #expect(viaBlobs.state.policyHistory.map(\.height) == [10, 11])
        #expect(activated.state.policyHistory.map(\.height) == [nil, nil])
    }

    @Test func aRolledBackBatchRestoresTheRegistry() throws {
        var machine = try Self.machine([Self.policyEvents[0], .policyActivated(name: "tiny", version: 1, role: .placement)])
        let before = machine.state.checksum()
        var second = Self.release
        second.version = 2
        #expect(throws: ApplyError.self) {
            try machine.apply(events: [
                .policyPublished(second), .policyActivated(name: "tiny", version: 2, role: .placement),
                .policyParamsSet(name: "tiny", version: 2, parameters: [PolicyParameter(name: "limit", value: .integer(1))]),
                .policyActivated(name: "tiny", version: 3, role: .placement),
            ])
        }
        #expect(machine.state.checksum() == before)
        #expect(machine.state.placementPolicy?.label == "tiny@1")
        #expect(machine.state.policyVersion("tiny", 2) == nil)
        #expect(machine.state.policyHistory.count == 2)
    }
}
