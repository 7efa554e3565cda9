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
                let object = [
                    ("input_digest", quote(provenance.inputDigest.hex)), ("policy", quote(provenance.policyName)),
                    ("source_hash", quote(provenance.policySourceHash.hex)), ("version", "\(provenance.policyVersion)"),
                ]
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
    public static func decodeNumberedLines(_ text: String) throws(LineError) -> [(line: Int, event: Event)] {
        var events: [(line: Int, event: Event)] = []
        var lineNumber = 0
        // A byte-order mark is allowed at the very start of the text only.
        let body = text.hasPrefix("\u{FEFF}") ? Substring(text.unicodeScalars.dropFirst()) : Substring(text)
        // "\r\n" is one Character in Swift: split on both so CRLF files read line by line.
        for line in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let trimmed = trimmingJSONWhitespace(line)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do {
                events.append((lineNumber, try decode(String(trimmed))))
            } catch {
                throw LineError(line: lineNumber, message: error.message)
            }
        }
        return events
    }

    /// The line without the JSON whitespace (space, tab, CR, LF) around it; nothing else is trimmed.
    private static func trimmingJSONWhitespace(_ line: Substring) -> Substring {
        let isJSONWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = line.firstIndex(where: { !isJSONWhitespace($0) }), let last = line.lastIndex(where: { !isJSONWhitespace($0) })
        else { return "" }
        return line[first...last]
    }

    /// Parses one JSON object into an event. The object must be strict JSON (see ``StrictJSON``).
    public static func decode(_ line: String) throws(LineError) -> Event {
        do throws(StrictJSON.SyntaxError) {
            try StrictJSON.check(line, topLevel: .object)
        } catch {
            throw LineError(line: 0, message: error.description)
        }
        do {
            return try JSONDecoder().decode(EventLine.self, from: Data(line.utf8)).event
        } catch {
            throw lineError(error, depth: 0)
        }
    }

    /// Parses a JSON array of event objects (the array form of `POST /v1/events`), strictly: a body that
    /// is not an array, or an element that is not a valid event, is one error naming the element.
    public static func decodeArray(_ text: String) throws(LineError) -> [Event] {
        do throws(StrictJSON.SyntaxError) {
            try StrictJSON.check(text, topLevel: .array)
        } catch {
            throw LineError(line: 0, message: "the body starts with [ but is not a JSON array: \(error.description)")
        }
        let elements: [ArrayElement]
        do {
            elements = try JSONDecoder().decode([ArrayElement].self, from: Data(text.utf8))
        } catch {
            throw LineError(line: 0, message: "the body starts with [ but is not a JSON array")
        }
        var events: [Event] = []
        events.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            switch element.result {
            case let .success(event): events.append(event)
            case let .failure(error) where error.message == Self.notAnObject:
                throw LineError(line: 0, message: "element \(position) is not a JSON object")
            case let .failure(error):
                throw LineError(line: 0, message: "element \(position): \(error.message)")
            }
        }
        return events
    }

    static let notAnObject = "expected a JSON object"

    /// A decoding failure of one event object, `depth` coding-path components below the document's root,
    /// as the one-line message of the JSON Lines format.
    static func lineError(_ error: any Error, depth: Int) -> LineError {
        switch error {
        case let error as LineError:
            return error
        case let DecodingError.dataCorrupted(context):
            return LineError(line: 0, message: context.codingPath.count <= depth ? "not valid JSON" : describe(context, depth: depth))
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            return LineError(line: 0, message: context.codingPath.count <= depth ? notAnObject : describe(context, depth: depth))
        default:
            return LineError(line: 0, message: "not a valid event: \(error)")
        }
    }

    private static func describe(_ context: DecodingError.Context, depth: Int) -> String {
        let field = context.codingPath.dropFirst(depth).map(\.stringValue).joined(separator: ".")
        return "field \(field) has the wrong type or range"
    }
}

/// One element of a JSON array of events: the event, or why it is not one (decoding never fails, so the
/// array's other elements are still read).
private struct ArrayElement: Decodable {
    let result: Result<Event, EventJSON.LineError>

    init(from decoder: any Decoder) throws {
        do {
            result = .success(try EventLine(from: decoder).event)
        } catch {
            result = .failure(EventJSON.lineError(error, depth: decoder.codingPath.count))
        }
    }
}

/// Any JSON key.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One line decoded through `Decodable`, which parses integers exactly and refuses fractions.
private struct EventLine: Decodable {
    let event: Event

    init(from decoder: any Decoder) throws {
        var fields = Fields(container: try decoder.container(keyedBy: AnyKey.self))
        let typeName = try fields.string("type")
        guard let type = EventType(name: typeName) else {
            throw EventJSON.LineError(line: 0, message: "unknown event type \(typeName.debugDescription)")
        }
        switch type {
        case .nodeRegistered:
            event = .nodeRegistered(
                nodeID: try fields.string("node_id"), zone: try fields.string("zone"), addr: try fields.string("addr"),
                capacityBytes: try fields.integer("capacity"))
        case .nodeUnregistered:
            event = .nodeUnregistered(nodeID: try fields.string("node_id"))
        case .chunkDeclared:
            event = .chunkDeclared(
                hash: try fields.hash("chunk_hash"), sizeBytes: try fields.integer("size_bytes"),
                replicationFactor: try fields.integer("replication_factor"), uploaderID: try fields.string("uploader_id"),
                daCommitment: try fields.optionalHash("da_commitment"))
        case .chunkRemoved:
            event = .chunkRemoved(hash: try fields.hash("chunk_hash"))
        case .replicaAdded:
            event = .replicaAdded(
                hash: try fields.hash("chunk_hash"), nodeID: try fields.string("node_id"),
                replicaIndex: try fields.integer("replica_index"), addedAtMillis: try fields.integer("added_at"),
                provenance: try fields.provenance("provenance"))
        case .replicaRemoved:
            event = .replicaRemoved(hash: try fields.hash("chunk_hash"), nodeID: try fields.string("node_id"))
        case .zoneAssigned:
            event = .zoneAssigned(zone: try fields.string("zone_id"), nodeID: try fields.string("node_id"))
        case .zoneUnassigned:
            event = .zoneUnassigned(zone: try fields.string("zone_id"), nodeID: try fields.string("node_id"))
        case .nodeStatsReported:
            event = .nodeStatsReported(
                nodeID: try fields.string("node_id"),
                stats: NodeStats(
                    cpuFreeMilli: try fields.integer("cpu_free_milli"), ramFreeMB: try fields.integer("ram_free_mb"),
                    gpuFreeMilli: try fields.integer("gpu_free_milli"), latencyMicros: try fields.integer("latency_us"),
                    ioPressureMilli: try fields.integer("io_pressure_milli"), usedBytes: try fields.integer("used_bytes"),
                    reportedAtMillis: try fields.integer("reported_at")))
        case .nodeStatusChanged:
            let name = try fields.string("status")
            guard let status = NodeStatus(name: name) else {
                throw EventJSON.LineError(line: 0, message: "status must be active, draining or down, got \(name.debugDescription)")
            }
            event = .nodeStatusChanged(nodeID: try fields.string("node_id"), status: status)
        }
        try fields.rejectUnknown(context: "for \(type)")
    }

    /// Reads typed fields and remembers which were used, so unknown fields (typos) are refused.
    private struct Fields {
        let container: KeyedDecodingContainer<AnyKey>
        var used: Set<String> = ["type"]

        mutating func present(_ key: String) throws -> AnyKey {
            used.insert(key)
            let codingKey = AnyKey(key)
            guard container.contains(codingKey), try !container.decodeNil(forKey: codingKey) else {
                throw EventJSON.LineError(line: 0, message: "missing field \(key)")
            }
            return codingKey
        }

        mutating func string(_ key: String) throws -> String {
            let codingKey = try present(key)
            guard let value = try? container.decode(String.self, forKey: codingKey) else {
                throw EventJSON.LineError(line: 0, message: "field \(key) must be a string")
            }
            return value
        }

        mutating func integer<T: FixedWidthInteger & UnsignedInteger & Decodable>(_ key: String) throws -> T {
            let codingKey = try present(key)
            guard let value = try? container.decode(T.self, forKey: codingKey) else {
                throw EventJSON.LineError(line: 0, message: "field \(key) must be an integer in 0...\(T.max)")
            }
            return value
        }

        mutating func hash(_ key: String) throws -> Hash256 {
            let text = try string(key)
            do {
                return try Hash256(hex: text)
            } catch {
                throw EventJSON.LineError(line: 0, message: "field \(key): \(error.message)")
            }
        }

        mutating func optionalHash(_ key: String) throws -> Hash256? {
            used.insert(key)
            let codingKey = AnyKey(key)
            guard container.contains(codingKey), try !container.decodeNil(forKey: codingKey) else { return nil }
            return try hash(key)
        }

        mutating func provenance(_ key: String) throws -> PlacementProvenance? {
            used.insert(key)
            let codingKey = AnyKey(key)
            guard container.contains(codingKey), try !container.decodeNil(forKey: codingKey) else { return nil }
            guard let nested = try? container.nestedContainer(keyedBy: AnyKey.self, forKey: codingKey) else {
                throw EventJSON.LineError(line: 0, message: "field \(key) must be an object")
            }
            var inner = Fields(container: nested, used: [])
            let provenance = PlacementProvenance(
                policyName: try inner.string("policy"), policyVersion: try inner.integer("version"),
                policySourceHash: try inner.hash("source_hash"), inputDigest: try inner.hash("input_digest"))
            try inner.rejectUnknown(context: "in \(key)")
            return provenance
        }

        func rejectUnknown(context: String) throws {
            if let extra = container.allKeys.map(\.stringValue).filter({ !used.contains($0) }).sorted().first {
                throw EventJSON.LineError(line: 0, message: "unknown field \(extra) \(context)")
            }
        }
    }
}
