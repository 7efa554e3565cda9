import DSDNCore
import Foundation

/// The JSON Lines interchange format for events (docs/events.md): one JSON object per line with a
/// `type` field naming the event and snake_case fields. Hashes are 64 hex characters; integers are JSON
/// numbers (exact up to 2^64 − 1); fixed-point stats keep their integer units.
public enum EventJSON {
    /// A line that is not a valid event, with its 1-based line number.
    public struct LineError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The 1-based line number (0 when decoding a single object).
        public var line: Int
        /// What is wrong.
        public var message: String

        /// Creates an error for `line` (0 when not from a file).
        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }

        /// `line N: message`.
        public var description: String { line > 0 ? "line \(line): \(message)" : message }
    }

    // MARK: Encoding

    /// One event as a JSON object with sorted keys (stable output).
    public static func encode(_ event: Event) -> String {
        var fields: [(String, String)] = [("type", quote(event.type.description))]
        switch event {
        case let .nodeRegistered(nodeID, zone, addr, capacity):
            fields += [("node_id", quote(nodeID)), ("zone", quote(zone)), ("addr", quote(addr)), ("capacity", "\(capacity)")]
        case let .nodeUnregistered(nodeID):
            fields += [("node_id", quote(nodeID))]
        case let .chunkDeclared(hash, size, replicationFactor, uploader, commitment):
            fields += [
                ("chunk_hash", quote(hash.hex)), ("size_bytes", "\(size)"), ("replication_factor", "\(replicationFactor)"),
                ("uploader_id", quote(uploader)),
            ]
            if let commitment { fields.append(("da_commitment", quote(commitment.hex))) }
        case let .chunkRemoved(hash):
            fields += [("chunk_hash", quote(hash.hex))]
        case let .replicaAdded(hash, nodeID, index, addedAt, provenance):
            fields += [
                ("chunk_hash", quote(hash.hex)), ("node_id", quote(nodeID)), ("replica_index", "\(index)"),
                ("added_at", "\(addedAt)"),
            ]
            if let provenance {
                var object = [
                    ("input_digest", quote(provenance.inputDigest.hex)), ("policy", quote(provenance.policyName)),
                    ("source_hash", quote(provenance.policySourceHash.hex)), ("version", "\(provenance.policyVersion)"),
                ]
                if let context = provenance.context {
                    object += [
                        ("engine", quote(context.engine)), ("params_digest", quote(context.parametersDigest.hex)),
                        ("snapshot_height", "\(context.snapshotHeight)"),
                    ]
                    object.sort { $0.0 < $1.0 }
                }
                fields.append(("provenance", "{" + object.map { "\(quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"))
            }
        case let .replicaRemoved(hash, nodeID):
            fields += [("chunk_hash", quote(hash.hex)), ("node_id", quote(nodeID))]
        case let .zoneAssigned(zone, nodeID), let .zoneUnassigned(zone, nodeID):
            fields += [("zone_id", quote(zone)), ("node_id", quote(nodeID))]
        case let .nodeStatsReported(nodeID, stats):
            fields += [
                ("node_id", quote(nodeID)), ("cpu_free_milli", "\(stats.cpuFreeMilli)"), ("ram_free_mb", "\(stats.ramFreeMB)"),
                ("gpu_free_milli", "\(stats.gpuFreeMilli)"), ("latency_us", "\(stats.latencyMicros)"),
                ("io_pressure_milli", "\(stats.ioPressureMilli)"), ("used_bytes", "\(stats.usedBytes)"),
                ("reported_at", "\(stats.reportedAtMillis)"),
            ]
        case let .nodeStatusChanged(nodeID, status):
            fields += [("node_id", quote(nodeID)), ("status", quote(status.description))]
        case let .policyPublished(release):
            fields += [
                ("name", quote(release.name)), ("version", "\(release.version)"), ("api", "\(release.apiLevel)"),
                ("source", quote(String(decoding: release.source, as: UTF8.self))), ("source_hash", quote(release.sourceHash.hex)),
                ("params", parameterObject(release.parameters)), ("budget_instructions", "\(release.instructionBudget)"),
                ("budget_memory", "\(release.memoryBudget)"),
            ]
        case let .policyActivated(name, version, role):
            fields += [("name", quote(name)), ("version", "\(version)"), ("role", quote(role.description))]
        case let .policyParamsSet(name, version, parameters):
            fields += [("name", quote(name)), ("version", "\(version)"), ("params", parameterObject(parameters))]
        }
        fields.sort { $0.0 < $1.0 }
        return "{" + fields.map { "\(quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// Events as JSON Lines, each line ending in a newline.
    public static func encodeLines(_ events: [Event]) -> String {
        var out = ""
        for event in events {
            out += encode(event)
            out += "\n"
        }
        return out
    }

    /// Parameters as one object, keys in byte order, each value an object of one member naming its type:
    /// `{"integer":-3}`, `{"number":"0.5"}` (the shortest text that reads back as the same double: JSON
    /// Lines numbers are plain integers only), `{"boolean":true}`, `{"string":"text"}`.
    private static func parameterObject(_ parameters: [PolicyParameter]) -> String {
        let members = parameters.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }.map { parameter in
            let value =
                switch parameter.value {
                case let .integer(number): "\(number)"
                case let .number(bits): quote("\(Double(bitPattern: bits))")
                case let .boolean(flag): "\(flag)"
                case let .string(text): quote(text)
                }
            return "\(quote(parameter.name)):{\(quote(parameter.value.typeName)):\(value)}"
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    private static func quote(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: Decoding

    /// Parses JSON Lines. Blank lines and lines starting with `#` are skipped. The first bad line stops
    /// the parse with its line number: an import is all or nothing.
    public static func decodeLines(_ text: String) throws(LineError) -> [Event] {
        try decodeNumberedLines(text).map(\.event)
    }

    /// Parses JSON Lines like `decodeLines(_:)`, keeping each event's 1-based line number.
    ///
    /// Lines end at LF (a CR before it is JSON whitespace, so CRLF files read line by line). A
    /// byte-order mark is allowed at the very start of the text only.
    public static func decodeNumberedLines(_ text: String) throws(LineError) -> [(line: Int, event: Event)] {
        let bytes = Array(text.utf8)
        var parser = StrictJSON(bytes: bytes)
        var events: [(line: Int, event: Event)] = []
        var lineStart = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var lineNumber = 0
        while lineStart <= bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
            lineNumber += 1
            defer { lineStart = lineEnd + 1 }
            var first = lineStart
            var last = lineEnd
            while first < last, isJSONWhitespace(bytes[first]) { first += 1 }
            while last > first, isJSONWhitespace(bytes[last - 1]) { last -= 1 }
            if first == last || bytes[first] == UInt8(ascii: "#") { continue }
            do throws(LineError) {
                events.append((lineNumber, try decodeObject(first..<last, with: &parser)))
            } catch {
                throw LineError(line: lineNumber, message: error.message)
            }
        }
        return events
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }

    /// Parses one JSON object into an event. The object must be strict JSON (see ``StrictJSON``).
    public static func decode(_ line: String) throws(LineError) -> Event {
        var parser = StrictJSON(bytes: Array(line.utf8))
        return try decodeObject(0..<parser.bytes.count, with: &parser)
    }

    private static func decodeObject(_ range: Range<Int>, with parser: inout StrictJSON) throws(LineError) -> Event {
        do throws(StrictJSON.SyntaxError) {
            try parser.parse(range, topLevel: .object)
        } catch {
            throw LineError(line: 0, message: error.description)
        }
        var fields = EventFields(parser: parser, object: 0)
        return try fields.event()
    }

    /// Parses a JSON array of event objects (the array form of `POST /v1/events`), strictly: a body that
    /// is not an array, or an element that is not a valid event, is one error naming the element.
    public static func decodeArray(_ text: String) throws(LineError) -> [Event] {
        var parser = StrictJSON(bytes: Array(text.utf8))
        do throws(StrictJSON.SyntaxError) {
            try parser.parse(0..<parser.bytes.count, topLevel: .array)
        } catch {
            throw LineError(line: 0, message: "the body starts with [ but is not a JSON array: \(error.description)")
        }
        var events: [Event] = []
        events.reserveCapacity(parser.elements.count)
        for (position, element) in parser.elements.enumerated() {
            guard element.kind == .object else { throw LineError(line: 0, message: "element \(position) is not a JSON object") }
            var fields = EventFields(parser: parser, object: element.object)
            do throws(LineError) {
                events.append(try fields.event())
            } catch {
                throw LineError(line: 0, message: "element \(position): \(error.message)")
            }
        }
        return events
    }
}

/// Builds an event from one parsed object, with the format's messages, and refuses unknown fields
/// (typos) by remembering which fields were asked for.
private struct EventFields {
    let parser: StrictJSON
    let object: Int32
    /// The members read so far (an event has at most a dozen fields).
    private var read: [Int] = []

    init(parser: StrictJSON, object: Int32) {
        self.parser = parser
        self.object = object
        read.reserveCapacity(12)
    }

    mutating func event() throws(EventJSON.LineError) -> Event {
        let typeName = try string("type")
        guard let type = EventType(name: typeName) else {
            throw Self.failure("unknown event type \(StrictJSON.quotedForMessage(typeName))")
        }
        let event: Event
        switch type {
        case .nodeRegistered:
            event = .nodeRegistered(
                nodeID: try string("node_id"), zone: try string("zone"), addr: try string("addr"), capacityBytes: try integer("capacity"))
        case .nodeUnregistered:
            event = .nodeUnregistered(nodeID: try string("node_id"))
        case .chunkDeclared:
            event = .chunkDeclared(
                hash: try hash("chunk_hash"), sizeBytes: try integer("size_bytes"), replicationFactor: try integer("replication_factor"),
                uploaderID: try string("uploader_id"), daCommitment: try optionalHash("da_commitment"))
        case .chunkRemoved:
            event = .chunkRemoved(hash: try hash("chunk_hash"))
        case .replicaAdded:
            event = .replicaAdded(
                hash: try hash("chunk_hash"), nodeID: try string("node_id"), replicaIndex: try integer("replica_index"),
                addedAtMillis: try integer("added_at"), provenance: try provenance("provenance"))
        case .replicaRemoved:
            event = .replicaRemoved(hash: try hash("chunk_hash"), nodeID: try string("node_id"))
        case .zoneAssigned:
            event = .zoneAssigned(zone: try string("zone_id"), nodeID: try string("node_id"))
        case .zoneUnassigned:
            event = .zoneUnassigned(zone: try string("zone_id"), nodeID: try string("node_id"))
        case .nodeStatsReported:
            event = .nodeStatsReported(
                nodeID: try string("node_id"),
                stats: NodeStats(
                    cpuFreeMilli: try integer("cpu_free_milli"), ramFreeMB: try integer("ram_free_mb"),
                    gpuFreeMilli: try integer("gpu_free_milli"), latencyMicros: try integer("latency_us"),
                    ioPressureMilli: try integer("io_pressure_milli"), usedBytes: try integer("used_bytes"),
                    reportedAtMillis: try integer("reported_at")))
        case .nodeStatusChanged:
            let name = try string("status")
            guard let status = NodeStatus(name: name) else {
                throw Self.failure("status must be active, draining or down, got \(StrictJSON.quotedForMessage(name))")
            }
            event = .nodeStatusChanged(nodeID: try string("node_id"), status: status)
        case .policyPublished:
            let source = try string("source")
            event = .policyPublished(
                PolicyRelease(
                    name: try string("name"), version: try integer("version"), apiLevel: try integer("api"),
                    source: Array(source.utf8), sourceHash: try hash("source_hash"), parameters: try parameters("params"),
                    instructionBudget: try integer("budget_instructions"), memoryBudget: try integer("budget_memory")))
        case .policyActivated:
            let name = try string("role")
            guard let role = PolicyRole(name: name) else {
                throw Self.failure("role must be placement or shadow, got \(StrictJSON.quotedForMessage(name))")
            }
            event = .policyActivated(name: try string("name"), version: try integer("version"), role: role)
        case .policyParamsSet:
            event = .policyParamsSet(name: try string("name"), version: try integer("version"), parameters: try parameters("params"))
        }
        try rejectUnknown(context: "for \(type)")
        return event
    }

    static func failure(_ message: String) -> EventJSON.LineError { EventJSON.LineError(line: 0, message: message) }

    /// The member named `key`, if written.
    private mutating func member(_ key: StaticString) -> Int? {
        let found = key.withUTF8Buffer { name in parser.member(of: object, named: name) }
        if let found { read.append(found) }
        return found
    }

    /// The member named `key`, which must be there and not null.
    private mutating func present(_ key: StaticString) throws(EventJSON.LineError) -> Int {
        guard let index = member(key), parser.members[index].kind != .null else { throw Self.failure("missing field \(key)") }
        return index
    }

    mutating func string(_ key: StaticString) throws(EventJSON.LineError) -> String {
        let index = try present(key)
        guard parser.members[index].kind == .string else { throw Self.failure("field \(key) must be a string") }
        return parser.string(index)
    }

    mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_ key: StaticString) throws(EventJSON.LineError) -> T {
        let index = try present(key)
        guard parser.members[index].kind == .number, let value = parser.unsigned(index, limit: UInt64(T.max)) else {
            throw Self.failure("field \(key) must be an integer in 0...\(T.max)")
        }
        return T(value)
    }

    mutating func hash(_ key: StaticString) throws(EventJSON.LineError) -> Hash256 {
        try hash(at: try present(key), key)
    }

    private func hash(at index: Int, _ key: StaticString) throws(EventJSON.LineError) -> Hash256 {
        guard parser.members[index].kind == .string else { throw Self.failure("field \(key) must be a string") }
        do {
            return parser.members[index].valueEscaped
                ? try Hash256(hex: parser.string(index)) : try Hash256(hexUTF8: parser.rawBytes(index))
        } catch {
            throw Self.failure("field \(key): \(error.message)")
        }
    }

    mutating func optionalHash(_ key: StaticString) throws(EventJSON.LineError) -> Hash256? {
        guard let index = member(key), parser.members[index].kind != .null else { return nil }
        return try hash(at: index, key)
    }

    mutating func provenance(_ key: StaticString) throws(EventJSON.LineError) -> PlacementProvenance? {
        guard let index = member(key), parser.members[index].kind != .null else { return nil }
        guard parser.members[index].kind == .object else { throw Self.failure("field \(key) must be an object") }
        var inner = EventFields(parser: parser, object: parser.members[index].child)
        var provenance = PlacementProvenance(
            policyName: try inner.string("policy"), policyVersion: try inner.integer("version"),
            policySourceHash: try inner.hash("source_hash"), inputDigest: try inner.hash("input_digest"))
        // The context's three fields come together or not at all.
        if inner.member("params_digest") != nil || inner.member("snapshot_height") != nil || inner.member("engine") != nil {
            provenance.context = PlacementContext(
                parametersDigest: try inner.hash("params_digest"), snapshotHeight: try inner.integer("snapshot_height"),
                engine: try inner.string("engine"))
        }
        try inner.rejectUnknown(context: "in \(key)")
        return provenance
    }

    /// An object of parameters, each value an object of one member naming its type (see
    /// `EventJSON.parameterObject`).
    mutating func parameters(_ key: StaticString) throws(EventJSON.LineError) -> [PolicyParameter] {
        let index = try present(key)
        guard parser.members[index].kind == .object else { throw Self.failure("field \(key) must be an object of name: value") }
        let child = parser.members[index].child
        var parameters: [PolicyParameter] = []
        for member in parser.members.indices where parser.members[member].object == child {
            let name = parser.key(of: member)
            let shown = StrictJSON.quotedForMessage(name)
            let typed = parser.members[member].child
            let inner = parser.members.indices.filter { parser.members[$0].object == typed }
            guard parser.members[member].kind == .object, inner.count == 1, let slot = inner.first else {
                throw Self.failure(
                    "parameter \(shown) must be an object of one member: integer, number, boolean or string")
            }
            let kind = parser.members[slot].kind
            let value: PolicyParameterValue
            switch (parser.key(of: slot), kind) {
            case ("integer", .number):
                guard let integer = Int64(String(decoding: parser.rawBytes(slot), as: UTF8.self)) else {
                    throw Self.failure("parameter \(shown) must be an integer in \(Int64.min)...\(Int64.max)")
                }
                value = .integer(integer)
            case ("number", .string):
                guard let number = PolicyParameterValue.number(decimal: parser.string(slot)) else {
                    throw Self.failure("parameter \(shown) must be a finite number written as a string, such as \"0.5\"")
                }
                value = number
            case ("boolean", .boolean): value = .boolean(parser.bytes[parser.members[slot].valueStart] == UInt8(ascii: "t"))
            case ("string", .string): value = .string(parser.string(slot))
            default:
                throw Self.failure(
                    "parameter \(shown) must be {\"integer\": N}, {\"number\": \"X\"}, {\"boolean\": B} or {\"string\": \"S\"}")
            }
            parameters.append(PolicyParameter(name: name, value: value))
        }
        return parameters
    }

    /// Refuses the first field (in byte order) that no reader asked for.
    func rejectUnknown(context: String) throws(EventJSON.LineError) {
        var unknown: [String] = []
        for index in parser.members.indices where parser.members[index].object == object && !read.contains(index) {
            unknown.append(parser.key(of: index))
        }
        if let first = unknown.min(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            // A key that is not plain printable ASCII, or a long one, is quoted and cut: one line.
            let plain = first.utf8.count <= 100 && first.utf8.allSatisfy { (0x21...0x7E).contains($0) }
            throw Self.failure("unknown field \(plain ? first : StrictJSON.quotedForMessage(first)) \(context)")
        }
    }
}
