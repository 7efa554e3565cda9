import Crypto

/// A batch of events as one publisher posts it to the DA: the unit of atomicity and of deduplication.
public struct BlobEnvelope: Hashable, Sendable {
    /// The format version this code writes.
    public static let currentFormatVersion: UInt8 = 1
    /// The 4 magic bytes every blob starts with: `DSDN`.
    public static let magic: [UInt8] = Array("DSDN".utf8)

    /// Who published the blob (a printable-ASCII identifier).
    public var publisherID: String
    /// The publisher's sequence number for this blob; strictly increasing per publisher.
    public var sequence: UInt64
    /// The events, applied in order, all or nothing.
    public var events: [Event]

    /// Creates an envelope.
    public init(publisherID: String, sequence: UInt64, events: [Event]) {
        self.publisherID = publisherID
        self.sequence = sequence
        self.events = events
    }
}

/// Why a blob was not applied. The raw values are stable: they are counted in the state's cursor.
public enum RejectionReason: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The blob does not start with the `DSDN` magic: another writer's data in the namespace.
    case foreign = 1
    /// A format version this coordinator does not understand.
    case unsupportedVersion = 2
    /// The integrity checksum does not match the bytes.
    case integrityMismatch = 3
    /// A structural error: truncated, trailing bytes, bad lengths, invalid UTF-8, non-canonical flags.
    case malformed = 4
    /// An event type code this version does not know.
    case unknownEventType = 5
    /// A size, count or length limit was exceeded.
    case limitExceeded = 6
    /// The blob decoded but one of its events was refused by the state machine.
    case invalidEvent = 7

    /// A stable snake_case name.
    public var description: String {
        switch self {
        case .foreign: "foreign"
        case .unsupportedVersion: "unsupported_version"
        case .integrityMismatch: "integrity_mismatch"
        case .malformed: "malformed"
        case .unknownEventType: "unknown_event_type"
        case .limitExceeded: "limit_exceeded"
        case .invalidEvent: "invalid_event"
        }
    }
}

/// A blob that could not be decoded or encoded, with the byte offset where the problem was found.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of problem.
    public var reason: RejectionReason
    /// What is wrong, for an operator.
    public var message: String
    /// The byte offset in the blob, when known.
    public var offset: Int?

    /// Creates an error.
    public init(_ reason: RejectionReason, _ message: String, offset: Int? = nil) {
        self.reason = reason
        self.message = message
        self.offset = offset
    }

    /// `reason: message (at byte N)`.
    public var description: String {
        "\(reason): \(message)" + (offset.map { " (at byte \($0))" } ?? "")
    }
}

/// The canonical binary encoding of blobs (docs/events.md): big-endian fixed-width integers,
/// length-prefixed UTF-8, one byte string per value, SHA-256 integrity trailer.
public enum BlobCodec {
    /// The length of the SHA-256 integrity trailer.
    static let integrityBytes = 32
    /// The smallest possible encoded event: type (1) + body length (4) + the smallest body (a hash, 32,
    /// or an empty identifier, 2 bytes).
    static let minimumEventBytes = 1 + 4 + 2

    // MARK: Encoding

    /// Encodes an envelope canonically. Throws when a field breaks a format limit, so nothing
    /// undecodable is ever published.
    public static func encode(_ envelope: BlobEnvelope) throws(CodecError) -> [UInt8] {
        guard envelope.events.count <= Limits.maxEventsPerBlob else {
            throw CodecError(.limitExceeded, "a blob holds at most \(Limits.maxEventsPerBlob) events, got \(envelope.events.count)")
        }
        var writer = ByteWriter()
        writer.bytes.append(contentsOf: BlobEnvelope.magic)
        writer.u8(BlobEnvelope.currentFormatVersion)
        try writer.string(envelope.publisherID, max: Limits.maxIdentifierBytes, field: "publisher_id")
        writer.u64(envelope.sequence)
        writer.u32(UInt32(envelope.events.count))
        for event in envelope.events {
            writer.u8(event.type.rawValue)
            let lengthOffset = writer.bytes.count
            writer.u32(0)
            let bodyStart = writer.bytes.count
            try writer.body(of: event)
            writer.patchU32(at: lengthOffset, UInt32(writer.bytes.count - bodyStart))
        }
        writer.bytes.append(contentsOf: SHA256.hash(data: writer.bytes))
        guard writer.bytes.count <= Limits.maxBlobBytes else {
            throw CodecError(.limitExceeded, "encoded blob is \(writer.bytes.count) bytes, over the \(Limits.maxBlobBytes)-byte limit")
        }
        return writer.bytes
    }

    /// Encodes one event body (without type and length), as the state checksum and golden vectors use.
    public static func encodeBody(_ event: Event) throws(CodecError) -> [UInt8] {
        var writer = ByteWriter()
        try writer.body(of: event)
        return writer.bytes
    }

    // MARK: Decoding

    /// Decodes a blob. Never traps and never allocates more than the input justifies: every length
    /// and count is checked against the limits and the bytes remaining before it is used.
    public static func decode(_ blob: [UInt8]) throws(CodecError) -> BlobEnvelope {
        let result = blob.withUnsafeBytes { raw in Result { () throws(CodecError) in try decode(raw) } }
        return try result.get()
    }

    /// Decodes a blob from raw bytes; see `decode(_:)`.
    public static func decode(_ raw: UnsafeRawBufferPointer) throws(CodecError) -> BlobEnvelope {
        guard raw.count <= Limits.maxBlobBytes else {
            throw CodecError(.limitExceeded, "blob is \(raw.count) bytes, over the \(Limits.maxBlobBytes)-byte limit")
        }
        guard raw.count >= 4, raw[0] == 0x44, raw[1] == 0x53, raw[2] == 0x44, raw[3] == 0x4E else {
            throw CodecError(.foreign, "blob does not start with the DSDN magic", offset: 0)
        }
        guard raw.count >= 5 else { throw CodecError(.malformed, "blob ends before its format version", offset: 4) }
        guard raw[4] == BlobEnvelope.currentFormatVersion else {
            throw CodecError(
                .unsupportedVersion,
                "format version \(raw[4]) is not supported (this coordinator reads version \(BlobEnvelope.currentFormatVersion))", offset: 4
            )
        }
        guard raw.count >= 5 + integrityBytes else {
            throw CodecError(.malformed, "blob is too short to hold its integrity checksum", offset: raw.count)
        }
        let payloadEnd = raw.count - integrityBytes
        let expected = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: raw[0..<payloadEnd]))
        guard expected.elementsEqual(raw[payloadEnd...]) else {
            throw CodecError(.integrityMismatch, "integrity checksum does not match the blob's bytes", offset: payloadEnd)
        }
        var reader = ByteReader(raw: raw, offset: 5, end: payloadEnd)
        let publisher = try reader.string(max: Limits.maxIdentifierBytes, field: "publisher_id")
        let sequence = try reader.u64()
        let countOffset = reader.offset
        let count = Int(try reader.u32())
        guard count <= Limits.maxEventsPerBlob else {
            throw CodecError(
                .limitExceeded, "blob declares \(count) events, over the limit of \(Limits.maxEventsPerBlob)", offset: countOffset)
        }
        guard count <= reader.remaining / minimumEventBytes else {
            throw CodecError(.malformed, "blob declares \(count) events but has only \(reader.remaining) bytes left", offset: countOffset)
        }
        var events = [Event]()
        events.reserveCapacity(count)
        for _ in 0..<count {
            let typeOffset = reader.offset
            let code = try reader.u8()
            guard let type = EventType(rawValue: code) else {
                throw CodecError(.unknownEventType, "unknown event type code \(code)", offset: typeOffset)
            }
            let length = Int(try reader.u32())
            guard length <= reader.remaining else {
                throw CodecError(.malformed, "event body of \(length) bytes runs past the end of the blob", offset: typeOffset)
            }
            let bodyEnd = reader.offset + length
            var body = ByteReader(raw: raw, offset: reader.offset, end: bodyEnd)
            events.append(try body.event(of: type))
            guard body.offset == bodyEnd else {
                throw CodecError(.malformed, "\(type) body has \(bodyEnd - body.offset) trailing bytes", offset: body.offset)
            }
            reader.offset = bodyEnd
        }
        guard reader.offset == payloadEnd else {
            throw CodecError(.malformed, "\(payloadEnd - reader.offset) bytes after the last event", offset: reader.offset)
        }
        return BlobEnvelope(publisherID: publisher, sequence: sequence, events: events)
    }
}

// MARK: - Writer

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xff))
    }
    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
    mutating func patchU32(at offset: Int, _ value: UInt32) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> UInt32(24 - 8 * index)) }
    }
    mutating func hash(_ value: Hash256) {
        u64(value.w0)
        u64(value.w1)
        u64(value.w2)
        u64(value.w3)
    }
    mutating func flag(_ value: Bool) { u8(value ? 1 : 0) }

    mutating func string(_ value: String, max: Int, field: String) throws(CodecError) {
        let utf8 = value.utf8
        guard utf8.count <= max else {
            throw CodecError(.limitExceeded, "\(field) is \(utf8.count) bytes, over the limit of \(max)")
        }
        u16(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func body(of event: Event) throws(CodecError) {
        let id = Limits.maxIdentifierBytes
        switch event {
        case let .nodeRegistered(nodeID, zone, addr, capacity):
            try string(nodeID, max: id, field: "node_id")
            try string(zone, max: id, field: "zone")
            try string(addr, max: Limits.maxAddressBytes, field: "addr")
            u64(capacity)
        case let .nodeUnregistered(nodeID):
            try string(nodeID, max: id, field: "node_id")
        case let .chunkDeclared(hash, size, replicationFactor, uploader, commitment):
            self.hash(hash)
            u64(size)
            u8(replicationFactor)
            try string(uploader, max: id, field: "uploader_id")
            flag(commitment != nil)
            if let commitment { self.hash(commitment) }
        case let .chunkRemoved(hash):
            self.hash(hash)
        case let .replicaAdded(hash, nodeID, index, addedAt, provenance):
            self.hash(hash)
            try string(nodeID, max: id, field: "node_id")
            u8(index)
            u64(addedAt)
            // 0 none, 1 provenance, 2 provenance with its context (docs/events.md §3).
            u8(provenance == nil ? 0 : provenance?.context == nil ? 1 : 2)
            if let provenance {
                try string(provenance.policyName, max: id, field: "policy_name")
                u32(provenance.policyVersion)
                self.hash(provenance.policySourceHash)
                self.hash(provenance.inputDigest)
                if let context = provenance.context {
                    self.hash(context.parametersDigest)
                    u64(context.snapshotHeight)
                    try string(context.engine, max: id, field: "engine")
                }
            }
        case let .replicaRemoved(hash, nodeID):
            self.hash(hash)
            try string(nodeID, max: id, field: "node_id")
        case let .zoneAssigned(zone, nodeID), let .zoneUnassigned(zone, nodeID):
            try string(zone, max: id, field: "zone")
            try string(nodeID, max: id, field: "node_id")
        case let .nodeStatsReported(nodeID, stats):
            try string(nodeID, max: id, field: "node_id")
            u32(stats.cpuFreeMilli)
            u64(stats.ramFreeMB)
            u32(stats.gpuFreeMilli)
            u32(stats.latencyMicros)
            u32(stats.ioPressureMilli)
            u64(stats.usedBytes)
            u64(stats.reportedAtMillis)
        case let .nodeStatusChanged(nodeID, status):
            try string(nodeID, max: id, field: "node_id")
            u8(status.rawValue)
        case let .policyPublished(release):
            try string(release.name, max: id, field: "policy_name")
            u32(release.version)
            u8(release.apiLevel)
            guard release.source.count <= Limits.maxPolicySourceBytes else {
                throw CodecError(
                    .limitExceeded, "policy source is \(release.source.count) bytes, over the limit of \(Limits.maxPolicySourceBytes)")
            }
            u32(UInt32(release.source.count))
            bytes.append(contentsOf: release.source)
            self.hash(release.sourceHash)
            try parameters(release.parameters)
            u64(release.instructionBudget)
            u64(release.memoryBudget)
        case let .policyActivated(name, version, role):
            try string(name, max: id, field: "policy_name")
            u32(version)
            u8(role.rawValue)
        case let .policyParamsSet(name, version, parameters):
            try string(name, max: id, field: "policy_name")
            u32(version)
            try self.parameters(parameters)
        }
    }

    mutating func parameters(_ list: [PolicyParameter]) throws(CodecError) {
        guard list.count <= Limits.maxPolicyParameters else {
            throw CodecError(.limitExceeded, "\(list.count) parameters, over the limit of \(Limits.maxPolicyParameters)")
        }
        u8(UInt8(list.count))
        for parameter in list {
            guard parameter.name.utf8.count <= Limits.maxIdentifierBytes else {
                throw CodecError(.limitExceeded, "parameter name is \(parameter.name.utf8.count) bytes, over the limit of 128")
            }
            if case let .string(text) = parameter.value, text.utf8.count > Limits.maxParameterStringBytes {
                throw CodecError(
                    .limitExceeded,
                    "parameter \(parameter.name) is \(text.utf8.count) bytes, over the limit of \(Limits.maxParameterStringBytes)")
            }
            self.parameter(parameter)
        }
    }

    /// One parameter: name, type code, value (checked against the limits by the caller).
    mutating func parameter(_ parameter: PolicyParameter) {
        u16(UInt16(truncatingIfNeeded: parameter.name.utf8.count))
        bytes.append(contentsOf: parameter.name.utf8)
        u8(parameter.value.typeCode)
        switch parameter.value {
        case let .integer(value): u64(UInt64(bitPattern: value))
        case let .number(bits): u64(bits)
        case let .boolean(flag): self.flag(flag)
        case let .string(text):
            u16(UInt16(truncatingIfNeeded: text.utf8.count))
            bytes.append(contentsOf: text.utf8)
        }
    }
}

// MARK: - Reader

struct ByteReader {
    let raw: UnsafeRawBufferPointer
    var offset: Int
    let end: Int

    var remaining: Int { end - offset }

    @inline(__always)
    mutating func need(_ count: Int, _ what: StaticString) throws(CodecError) {
        guard count <= end - offset else {
            throw CodecError(.malformed, "truncated: \(what) needs \(count) bytes, \(end - offset) left", offset: offset)
        }
    }

    mutating func u8() throws(CodecError) -> UInt8 {
        try need(1, "a byte")
        defer { offset += 1 }
        return raw[offset]
    }
    mutating func u16() throws(CodecError) -> UInt16 {
        try need(2, "a 16-bit integer")
        defer { offset += 2 }
        return UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    mutating func u32() throws(CodecError) -> UInt32 {
        try need(4, "a 32-bit integer")
        defer { offset += 4 }
        return UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    mutating func u64() throws(CodecError) -> UInt64 {
        try need(8, "a 64-bit integer")
        defer { offset += 8 }
        return UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    mutating func hash() throws(CodecError) -> Hash256 {
        try need(32, "a hash")
        let base = offset
        offset += 32
        return Hash256(
            w0: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: base, as: UInt64.self)),
            w1: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self)),
            w2: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: base + 16, as: UInt64.self)),
            w3: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: base + 24, as: UInt64.self)))
    }
    mutating func flag(_ field: StaticString) throws(CodecError) -> Bool {
        let at = offset
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw CodecError(.malformed, "\(field) flag must be 0 or 1, got \(other)", offset: at)
        }
    }
    mutating func string(max: Int, field: StaticString) throws(CodecError) -> String {
        let at = offset
        let length = Int(try u16())
        guard length <= max else {
            throw CodecError(.limitExceeded, "\(field) is \(length) bytes, over the limit of \(max)", offset: at)
        }
        try need(length, "a string")
        let slice = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
        // ASCII (every identifier) is valid UTF-8 as it is: skip the generic validating initializer.
        if slice.allSatisfy({ $0 < 0x80 }) {
            offset += length
            return String(decoding: slice, as: UTF8.self)
        }
        guard let value = String(validating: slice, as: UTF8.self) else {
            throw CodecError(.malformed, "\(field) is not valid UTF-8", offset: at)
        }
        offset += length
        return value
    }

    mutating func event(of type: EventType) throws(CodecError) -> Event {
        let id = Limits.maxIdentifierBytes
        switch type {
        case .nodeRegistered:
            return .nodeRegistered(
                nodeID: try string(max: id, field: "node_id"), zone: try string(max: id, field: "zone"),
                addr: try string(max: Limits.maxAddressBytes, field: "addr"), capacityBytes: try u64())
        case .nodeUnregistered:
            return .nodeUnregistered(nodeID: try string(max: id, field: "node_id"))
        case .chunkDeclared:
            let hash = try hash()
            let size = try u64()
            let replicationFactor = try u8()
            let uploader = try string(max: id, field: "uploader_id")
            let commitment = try flag("da_commitment") ? try self.hash() : nil
            return .chunkDeclared(
                hash: hash, sizeBytes: size, replicationFactor: replicationFactor, uploaderID: uploader,
                daCommitment: commitment)
        case .chunkRemoved:
            return .chunkRemoved(hash: try hash())
        case .replicaAdded:
            let hash = try hash()
            let node = try string(max: id, field: "node_id")
            let index = try u8()
            let addedAt = try u64()
            var provenance: PlacementProvenance?
            let markerAt = offset
            let marker = try u8()
            guard marker <= 2 else { throw CodecError(.malformed, "provenance marker must be 0, 1 or 2, got \(marker)", offset: markerAt) }
            if marker > 0 {
                provenance = PlacementProvenance(
                    policyName: try string(max: id, field: "policy_name"), policyVersion: try u32(),
                    policySourceHash: try self.hash(), inputDigest: try self.hash())
            }
            if marker == 2 {
                provenance?.context = PlacementContext(
                    parametersDigest: try self.hash(), snapshotHeight: try u64(), engine: try string(max: id, field: "engine"))
            }
            return .replicaAdded(
                hash: hash, nodeID: node, replicaIndex: index, addedAtMillis: addedAt, provenance: provenance)
        case .replicaRemoved:
            return .replicaRemoved(hash: try hash(), nodeID: try string(max: id, field: "node_id"))
        case .zoneAssigned:
            return .zoneAssigned(zone: try string(max: id, field: "zone"), nodeID: try string(max: id, field: "node_id"))
        case .zoneUnassigned:
            return .zoneUnassigned(zone: try string(max: id, field: "zone"), nodeID: try string(max: id, field: "node_id"))
        case .nodeStatsReported:
            let node = try string(max: id, field: "node_id")
            let stats = NodeStats(
                cpuFreeMilli: try u32(), ramFreeMB: try u64(), gpuFreeMilli: try u32(), latencyMicros: try u32(),
                ioPressureMilli: try u32(), usedBytes: try u64(), reportedAtMillis: try u64())
            return .nodeStatsReported(nodeID: node, stats: stats)
        case .nodeStatusChanged:
            let node = try string(max: id, field: "node_id")
            let at = offset
            let code = try u8()
            guard let status = NodeStatus(rawValue: code) else {
                throw CodecError(.malformed, "unknown node status \(code)", offset: at)
            }
            return .nodeStatusChanged(nodeID: node, status: status)
        case .policyPublished:
            let name = try string(max: id, field: "policy_name")
            let version = try u32()
            let apiLevel = try u8()
            let lengthAt = offset
            let length = Int(try u32())
            guard length <= Limits.maxPolicySourceBytes else {
                throw CodecError(
                    .limitExceeded, "policy source is \(length) bytes, over the limit of \(Limits.maxPolicySourceBytes)", offset: lengthAt)
            }
            try need(length, "the policy source")
            let source = [UInt8](UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]))
            offset += length
            let sourceHash = try hash()
            let parameters = try parameters()
            return .policyPublished(
                PolicyRelease(
                    name: name, version: version, apiLevel: apiLevel, source: source, sourceHash: sourceHash,
                    parameters: parameters, instructionBudget: try u64(), memoryBudget: try u64()))
        case .policyActivated:
            let name = try string(max: id, field: "policy_name")
            let version = try u32()
            let at = offset
            let code = try u8()
            guard let role = PolicyRole(rawValue: code) else {
                throw CodecError(.malformed, "unknown policy role \(code)", offset: at)
            }
            return .policyActivated(name: name, version: version, role: role)
        case .policyParamsSet:
            let name = try string(max: id, field: "policy_name")
            let version = try u32()
            return .policyParamsSet(name: name, version: version, parameters: try parameters())
        }
    }

    mutating func parameters() throws(CodecError) -> [PolicyParameter] {
        let at = offset
        let count = Int(try u8())
        guard count <= Limits.maxPolicyParameters else {
            throw CodecError(.limitExceeded, "\(count) parameters, over the limit of \(Limits.maxPolicyParameters)", offset: at)
        }
        // The smallest parameter is 5 bytes (an empty name, a type, a boolean).
        guard count <= remaining / 5 else {
            throw CodecError(.malformed, "\(count) parameters declared but only \(remaining) bytes left", offset: at)
        }
        var list: [PolicyParameter] = []
        list.reserveCapacity(count)
        for _ in 0..<count {
            let name = try string(max: Limits.maxIdentifierBytes, field: "parameter name")
            let typeAt = offset
            let value: PolicyParameterValue
            switch try u8() {
            case 0: value = .integer(Int64(bitPattern: try u64()))
            case 1: value = .number(bitPattern: try u64())
            case 2: value = .boolean(try flag("parameter"))
            case 3: value = .string(try string(max: Limits.maxParameterStringBytes, field: "parameter value"))
            case let other: throw CodecError(.malformed, "unknown parameter type \(other)", offset: typeAt)
            }
            list.append(PolicyParameter(name: name, value: value))
        }
        return list
    }
}
