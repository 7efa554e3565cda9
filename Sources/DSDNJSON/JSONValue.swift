/// The project's one free-form JSON value: the Celestia client and test server (JSON-RPC, where a height
/// sent as a string must stay distinguishable from a number), the CLI's `--json` output and tests that
/// read JSON without a schema. Numbers keep their kind. No Foundation: encode and decode it with any
/// `Encoder`/`Decoder` (the API's are in DSDNAPI).
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case uint(UInt64)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .uint(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .uint(value): try container.encode(value)
        case let .int(value): try container.encode(value)
        case let .double(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        }
    }

    /// The member `key` of an object, else `nil`.
    public subscript(key: String) -> JSONValue? {
        if case let .object(object) = self { return object[key] }
        return nil
    }

    /// The element at `index` of an array, else `nil`.
    public subscript(index: Int) -> JSONValue? {
        if case let .array(array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }
}

// MARK: - Reading

extension JSONValue {
    /// The string, else `nil`.
    public var string: String? {
        if case let .string(value) = self { return value }
        return nil
    }

    /// The boolean, else `nil`.
    public var bool: Bool? {
        if case let .bool(value) = self { return value }
        return nil
    }

    /// An integer that fits `Int64`, else `nil`.
    public var int64: Int64? {
        switch self {
        case let .int(value): value
        case let .uint(value): Int64(exactly: value)
        default: nil
        }
    }

    /// A non-negative integer, else `nil`.
    public var uint64: UInt64? {
        switch self {
        case let .uint(value): value
        case let .int(value): UInt64(exactly: value)
        default: nil
        }
    }

    /// Any number as a `Double`, else `nil`.
    public var double: Double? {
        switch self {
        case let .double(value): value
        case let .uint(value): Double(value)
        case let .int(value): Double(value)
        default: nil
        }
    }

    /// The elements of an array, else `nil`.
    public var array: [JSONValue]? {
        if case let .array(value) = self { return value }
        return nil
    }

    /// The members of an object, else `nil`.
    public var object: [String: JSONValue]? {
        if case let .object(value) = self { return value }
        return nil
    }

    /// `true` for `null`.
    public var isNull: Bool { self == .null }
}

// MARK: - Building

/// A Swift value with a natural JSON form, so `JSONValue(x)` builds a tree without spelling out cases.
public protocol JSONValueConvertible {
    /// The value as JSON.
    var jsonValue: JSONValue { get }
}

extension JSONValue: JSONValueConvertible {
    public var jsonValue: JSONValue { self }

    /// `value` as JSON.
    public init(_ value: some JSONValueConvertible) { self = value.jsonValue }
}

extension String: JSONValueConvertible { public var jsonValue: JSONValue { .string(self) } }
extension Bool: JSONValueConvertible { public var jsonValue: JSONValue { .bool(self) } }
extension Double: JSONValueConvertible { public var jsonValue: JSONValue { .double(self) } }
extension Int: JSONValueConvertible { public var jsonValue: JSONValue { self < 0 ? .int(Int64(self)) : .uint(UInt64(self)) } }
extension Int64: JSONValueConvertible { public var jsonValue: JSONValue { self < 0 ? .int(self) : .uint(UInt64(self)) } }
extension Int32: JSONValueConvertible { public var jsonValue: JSONValue { Int64(self).jsonValue } }
extension UInt64: JSONValueConvertible { public var jsonValue: JSONValue { .uint(self) } }
extension UInt32: JSONValueConvertible { public var jsonValue: JSONValue { .uint(UInt64(self)) } }
extension UInt8: JSONValueConvertible { public var jsonValue: JSONValue { .uint(UInt64(self)) } }

extension Optional: JSONValueConvertible where Wrapped: JSONValueConvertible {
    public var jsonValue: JSONValue { map(\.jsonValue) ?? .null }
}

extension Array: JSONValueConvertible where Element: JSONValueConvertible {
    public var jsonValue: JSONValue { .array(map(\.jsonValue)) }
}

extension Dictionary: JSONValueConvertible where Key == String, Value: JSONValueConvertible {
    public var jsonValue: JSONValue { .object(mapValues(\.jsonValue)) }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = value.jsonValue }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { first, _ in first }))
    }
}
