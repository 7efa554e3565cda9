import DSDNJSON
import Foundation

/// The one JSON configuration of the coordinator's HTTP API (docs/operations.md §API): the server encodes
/// its answers with it, the CLI and the tests decode them with it.
public enum APIJSON {
    /// Encodes an API body: sorted keys, `/` unescaped, one trailing newline.
    public static func encode(_ value: some Encodable) throws -> Data {
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Decodes an API body (a request body on the server, an answer in a client).
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }

    /// Decodes an API body given as text.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try decode(type, from: Data(text.utf8))
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// A decoding failure of a request body as one line naming the field: `size_bytes must be a
    /// non-negative integer`, `the body must be a JSON object`, `unknown field x`.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? APIRequestError { return error.message }
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case let .typeMismatch(type, context), let .valueNotFound(type, context):
            guard !context.codingPath.isEmpty else { return "the body must be a JSON object" }
            return "\(path(context.codingPath)) must be \(kind(type))"
        case let .keyNotFound(key, context):
            return "missing field \(path(context.codingPath + [key]))"
        case let .dataCorrupted(context):
            guard !context.codingPath.isEmpty else { return "the body must be a JSON object" }
            return "\(path(context.codingPath)) has the wrong type or range"
        @unknown default:
            return "\(error)"
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    private static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is UInt64.Type, is UInt32.Type, is UInt.Type: "a non-negative integer"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is [String].Type: "an array of strings"
        default: "of another type"
        }
    }
}

/// A request body the API refuses, with the one-line message of its 400 answer.
public struct APIRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, naming the field.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Any JSON object key, to list the keys a body holds.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Refuses an object with a key outside `known` (typos must not be ignored silently); names the first
    /// unknown key in sorted order.
    func refuseUnknownKeys<Key: CodingKey & CaseIterable>(_: Key.Type) throws {
        let known = Set(Key.allCases.map(\.stringValue))
        let present = try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
        if let unknown = present.filter({ !known.contains($0) }).sorted().first {
            throw APIRequestError("unknown field \(unknown)")
        }
    }
}

/// An optional field the API writes as `null` when it has no value (the synthesized `Encodable` would
/// leave it out). Decoding accepts `null` or an absent key.
@propertyWrapper
public struct EncodedAsNull<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// An absent key decodes as `nil` (the synthesized `Decodable` would demand it).
    func decode<Value>(_: EncodedAsNull<Value>.Type, forKey key: Key) throws -> EncodedAsNull<Value> {
        try decodeIfPresent(EncodedAsNull<Value>.self, forKey: key) ?? EncodedAsNull(wrappedValue: nil)
    }
}

extension KeyedDecodingContainer {
    /// An optional integer field, refused with one line naming it when it is not an integer or does not
    /// fit `T` (Foundation's decoder reports `-1` for an unsigned field as "not valid JSON", naming nothing).
    func decodeIntegerIfPresent<T: FixedWidthInteger>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = try decodeIfPresent(JSONValue.self, forKey: key) else { return nil }
        let kind = T.isSigned ? "an integer" : "a non-negative integer"
        switch value {
        case .null: return nil
        case let .int(number):
            guard let exact = T(exactly: number) else {
                throw APIRequestError(
                    number < 0 && !T.isSigned ? "\(key.stringValue) must be \(kind)" : "\(key.stringValue) is out of range")
            }
            return exact
        case let .uint(number):
            guard let exact = T(exactly: number) else { throw APIRequestError("\(key.stringValue) is out of range") }
            return exact
        default:
            throw APIRequestError("\(key.stringValue) must be \(kind)")
        }
    }
}
