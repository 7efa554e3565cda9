import DSDNCore
import DSDNDA
import Foundation
import Testing

private let swiftDABase64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE="
private let swiftDAHex = String(repeating: "00", count: 21) + "73776966742d6461"

/// `DANamespace(hex:)`, `(base64:)`, `(parsing:)` and `.base64`.
@Suite struct NamespaceParsingTests {
    /// docs/celestia.md §4: user bytes `swift-da` left-padded with zeros → the documented base64.
    @Test func theDocumentedExampleInEveryForm() throws {
        let fromUserBytes = try DANamespace(hex: "0x" + Array("swift-da".utf8).map { String(format: "%02x", $0) }.joined())
        #expect(fromUserBytes.base64 == swiftDABase64)
        #expect(Array(fromUserBytes.userBytes) == [0, 0] + Array("swift-da".utf8))
        #expect(try DANamespace(base64: swiftDABase64) == fromUserBytes)
        #expect(try DANamespace(hex: swiftDAHex) == fromUserBytes)
        #expect(try DANamespace(hex: "0X" + swiftDAHex.uppercased()) == fromUserBytes)
        #expect(try DANamespace(parsing: "0x" + swiftDAHex) == fromUserBytes)
        #expect(try DANamespace(parsing: "base64:" + swiftDABase64) == fromUserBytes)
        // Padding is optional; user bytes alone work in base64 too.
        #expect(try DANamespace(base64: String(swiftDABase64.dropLast())) == fromUserBytes)
        #expect(try DANamespace(base64: Data("swift-da".utf8).base64EncodedString()) == fromUserBytes)
        #expect(fromUserBytes.description == swiftDAHex)
    }

    @Test func aPlainNameIsDerivedAsBefore() throws {
        #expect(try DANamespace(parsing: "dsdn") == DANamespace(name: "dsdn"))
        #expect(try DANamespace(parsing: "swift-da") == DANamespace(name: "swift-da"))
        #expect(try DANamespace(parsing: "swift-da") != DANamespace(base64: swiftDABase64))
    }

    @Test func base64MatchesFoundationForManyNamespaces() throws {
        var random = SeededGenerator(seed: 29)
        for index in 0..<500 {
            let namespace = DANamespace(name: "ns-\(index)-\(random.next())")
            #expect(namespace.base64 == Data(namespace.bytes).base64EncodedString())
            #expect(try DANamespace(base64: namespace.base64) == namespace)
            #expect(try DANamespace(hex: namespace.description) == namespace)
            #expect(try DANamespace(parsing: "base64:" + namespace.base64) == namespace)
        }
    }

    @Test(arguments: [
        "0x01", "0x" + String(repeating: "00", count: 28) + "ff",
        "base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=", "base64:AQ==",
    ])
    func rejectsTheReservedRange(text: String) {
        let error = #expect(throws: DAError.self) { try DANamespace(parsing: text) }
        #expect(error?.code == .invalidNamespace)
        #expect(error?.message == "namespace is in the reserved range (first 9 user bytes are zero)")
    }

    @Test(arguments: [11, 12, 28, 30, 58])
    func rejectsWrongLengths(count: Int) {
        let bytes = [UInt8](repeating: 7, count: count)
        let hexError = #expect(throws: DAError.self) {
            try DANamespace(hex: bytes.map { String(format: "%02x", $0) }.joined())
        }
        #expect(hexError?.code == .invalidNamespace)
        #expect(hexError?.message == "namespace must be 29 bytes (or up to 10 user bytes), got \(count) bytes of hex")
        let base64Error = #expect(throws: DAError.self) { try DANamespace(base64: Data(bytes).base64EncodedString()) }
        #expect(base64Error?.message.contains("29 bytes") == true)
        #expect(base64Error?.message.contains("got \(count) bytes of base64") == true)
    }

    @Test func theChecksOfRawBytesApply() {
        // 29 bytes with version 1.
        let version = #expect(throws: DAError.self) { try DANamespace(hex: "01" + swiftDAHex.dropFirst(2)) }
        #expect(version?.message.contains("version must be 0") == true)
        // A non-zero byte among the 18 leading zeros of the id.
        let leading = #expect(throws: DAError.self) { try DANamespace(hex: "0001" + swiftDAHex.dropFirst(4)) }
        #expect(leading?.message.contains("18 leading zero") == true)
    }

    @Test(arguments: [
        ("0x", "hex namespace is empty"),
        ("0xabc", "odd number of digits"),
        ("0x0g", "invalid character at position 2"),
        ("base64:", "base64 namespace is empty"),
        ("base64:c3dp!!", "not valid base64"),
        ("base64:c3dpZnQtZGE===", "not valid base64"),
        ("base64:c", "not valid base64"),
        // Non-zero unused trailing bits: not a canonical encoding.
        ("base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGF=", "not valid base64"),
        ("", "namespace is empty"),
    ])
    func rejectsMalformedText(text: String, message: String) {
        let error = #expect(throws: DAError.self) { try DANamespace(parsing: text) }
        #expect(error?.code == .invalidNamespace)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    /// A complete namespace pasted without its prefix is refused with a hint, never hashed as a name.
    @Test func refusesBytesWithoutTheirPrefix() {
        let hex = #expect(throws: DAError.self) { try DANamespace(parsing: swiftDAHex) }
        #expect(hex?.message.contains("write 0x\(swiftDAHex)") == true)
        let base64 = #expect(throws: DAError.self) { try DANamespace(parsing: swiftDABase64) }
        #expect(base64?.message.contains("write base64:\(swiftDABase64)") == true)
    }
}
