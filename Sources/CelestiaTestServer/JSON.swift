import DSDNJSON

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The server's JSON values: the shared `JSONValue` (numbers keep their kind, so a height sent as a string
/// can be refused the way celestia-node, Go's `uint64`, refuses it).
typealias JSON = JSONValue

extension JSONValue {
    /// The Go type name celestia-node would report for this value in an unmarshalling error.
    var goKind: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .uint, .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    static func encodeData(_ value: JSON) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a JSON tree of plain values cannot fail (no non-finite doubles are ever produced).
        return (try? encoder.encode(value)).map { Array($0) }
            ?? Array(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"encoding failed"}}"#.utf8)
    }
}

enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { [UInt8]($0) } }
}
