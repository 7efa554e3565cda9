import CDSDNSandbox

/// A Lua value as it crosses the sandbox boundary: plain data, no references into the Lua state.
public indirect enum LuaValue: Hashable, Sendable {
    /// `nil`.
    case `nil`
    /// A boolean.
    case bool(Bool)
    /// A Lua integer.
    case integer(Int64)
    /// A Lua float.
    case number(Double)
    /// A string (Lua strings are bytes; these are decoded as UTF-8 with replacement).
    case string(String)
    /// A sequence `1...n`.
    case array([LuaValue])
    /// Any other table, with its keys in sorted order (numbers ascending, then strings bytewise).
    case map([(key: LuaValue, value: LuaValue)])
    /// A function (only reported, never carried).
    case function
    /// Userdata or a thread (only reported).
    case other

    /// Equality of maps compares entries in order (they are always sorted).
    public static func == (lhs: LuaValue, rhs: LuaValue) -> Bool {
        switch (lhs, rhs) {
        case (.nil, .nil), (.function, .function), (.other, .other): true
        case let (.bool(a), .bool(b)): a == b
        case let (.integer(a), .integer(b)): a == b
        case let (.number(a), .number(b)): a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.map(a), .map(b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// Hashes consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .nil: hasher.combine(0)
        case let .bool(value): hasher.combine(value)
        case let .integer(value): hasher.combine(value)
        case let .number(value): hasher.combine(value.bitPattern)
        case let .string(value): hasher.combine(value)
        case let .array(values): hasher.combine(values)
        case let .map(entries):
            for entry in entries {
                hasher.combine(entry.key)
                hasher.combine(entry.value)
            }
        case .function: hasher.combine(7)
        case .other: hasher.combine(8)
        }
    }

    /// A map from string keys, sorted bytewise as the transport requires.
    public static func record(_ fields: [(String, LuaValue)]) -> LuaValue {
        .map(fields.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }.map { (.string($0.0), $0.1) })
    }

    /// The value at a string key of a map, or `.nil`.
    public subscript(key: String) -> LuaValue {
        guard case let .map(entries) = self else { return .nil }
        return entries.first { $0.key == .string(key) }?.value ?? .nil
    }

    /// The elements, if this is a sequence; an empty table counts as an empty sequence.
    public var arrayValue: [LuaValue]? {
        switch self {
        case let .array(values): values
        case let .map(entries) where entries.isEmpty: []
        default: nil
        }
    }

    /// The entries, if this is a table; an empty table counts as an empty map.
    public var mapEntries: [(key: LuaValue, value: LuaValue)]? {
        switch self {
        case let .map(entries): entries
        case let .array(values) where values.isEmpty: []
        default: nil
        }
    }

    /// The string, if this is one.
    public var stringValue: String? { if case let .string(value) = self { value } else { nil } }

    /// The number as a `Double` (integers converted), if this is a number.
    public var doubleValue: Double? {
        switch self {
        case let .integer(value): Double(value)
        case let .number(value): value
        default: nil
        }
    }

    /// The integer, if this is an integer or an integral float within range.
    public var integerValue: Int64? {
        switch self {
        case let .integer(value): value
        case let .number(value) where value.rounded() == value && abs(value) < 9.2e18: Int64(value)
        default: nil
        }
    }

    /// The Lua type name.
    public var typeName: String {
        switch self {
        case .nil: "nil"
        case .bool: "boolean"
        case .integer, .number: "number"
        case .string: "string"
        case .array, .map: "table"
        case .function: "function"
        case .other: "userdata"
        }
    }
}

/// The binary transport of `LuaValue` (dsdn_sandbox.h): little-endian, tagged, maps sorted.
enum LuaTransport {
    static func encode(_ value: LuaValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(value, into: &out)
        return out
    }

    private static func append<T: FixedWidthInteger>(_ value: T, into out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func write(_ value: LuaValue, into out: inout [UInt8]) {
        switch value {
        case .nil, .function, .other: out.append(UInt8(DSDN_TAG_NIL))
        case let .bool(flag): out.append(UInt8(flag ? DSDN_TAG_TRUE : DSDN_TAG_FALSE))
        case let .integer(number):
            out.append(UInt8(DSDN_TAG_INTEGER))
            append(number, into: &out)
        case let .number(number):
            out.append(UInt8(DSDN_TAG_NUMBER))
            append(number.bitPattern, into: &out)
        case let .string(text):
            out.append(UInt8(DSDN_TAG_STRING))
            append(UInt32(text.utf8.count), into: &out)
            out.append(contentsOf: text.utf8)
        case let .array(values):
            out.append(UInt8(DSDN_TAG_ARRAY))
            append(UInt32(values.count), into: &out)
            for element in values { write(element, into: &out) }
        case let .map(entries):
            out.append(UInt8(DSDN_TAG_MAP))
            append(UInt32(entries.count), into: &out)
            for entry in entries {
                write(entry.key, into: &out)
                write(entry.value, into: &out)
            }
        }
    }

    /// Decodes what the C side wrote; `nil` on any inconsistency (which would be a host bug).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> LuaValue? {
        var offset = 0
        let value = read(bytes, &offset, depth: 0)
        return offset == bytes.count ? value : nil
    }

    private static func load<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, as _: T.Type) -> T? {
        guard offset + MemoryLayout<T>.size <= bytes.count else { return nil }
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    private static func read(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, depth: Int) -> LuaValue? {
        guard depth < 40, offset < bytes.count else { return nil }
        let tag = Int32(bytes[offset])
        offset += 1
        switch tag {
        case DSDN_TAG_NIL: return .nil
        case DSDN_TAG_FALSE: return .bool(false)
        case DSDN_TAG_TRUE: return .bool(true)
        case DSDN_TAG_INTEGER: return load(bytes, &offset, as: Int64.self).map(LuaValue.integer)
        case DSDN_TAG_NUMBER: return load(bytes, &offset, as: UInt64.self).map { .number(Double(bitPattern: $0)) }
        case DSDN_TAG_STRING:
            guard let length = load(bytes, &offset, as: UInt32.self), offset + Int(length) <= bytes.count else { return nil }
            defer { offset += Int(length) }
            return .string(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))]), as: UTF8.self))
        case DSDN_TAG_ARRAY:
            guard let count = load(bytes, &offset, as: UInt32.self), Int(count) <= bytes.count - offset else { return nil }
            var values: [LuaValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let value = read(bytes, &offset, depth: depth + 1) else { return nil }
                values.append(value)
            }
            return .array(values)
        case DSDN_TAG_MAP:
            guard let count = load(bytes, &offset, as: UInt32.self), Int(count) <= bytes.count - offset else { return nil }
            var entries: [(key: LuaValue, value: LuaValue)] = []
            entries.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let key = read(bytes, &offset, depth: depth + 1), let value = read(bytes, &offset, depth: depth + 1) else {
                    return nil
                }
                entries.append((key, value))
            }
            return .map(entries)
        case DSDN_TAG_FUNCTION: return .function
        case DSDN_TAG_OTHER: return .other
        default: return nil
        }
    }
}
