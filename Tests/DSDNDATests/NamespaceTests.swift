import DSDNDA
import Foundation
import Testing

/// A valid namespace with the given 10 user bytes.
private func namespaceBytes(user: [UInt8]) -> [UInt8] {
    [UInt8](repeating: 0, count: 19) + user
}

@Suite struct NamespaceTests {
    @Test func acceptsAValidNamespace() throws {
        let user: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2]
        let namespace = try DANamespace(bytes: namespaceBytes(user: user))
        #expect(namespace.bytes.count == 29)
        #expect(Array(namespace.userBytes) == user)
        #expect(namespace.description.count == 58)
        #expect(namespace.description.hasSuffix("0102"))
    }

    @Test(arguments: [0, 1, 28, 30, 58])
    func rejectsWrongLength(count: Int) {
        let error = #expect(throws: DAError.self) {
            try DANamespace(bytes: [UInt8](repeating: 7, count: count))
        }
        #expect(error?.code == .invalidNamespace)
        #expect(error?.message.contains("29 bytes") == true)
    }

    @Test func rejectsANonZeroVersion() {
        var bytes = namespaceBytes(user: Array("swift-da!!".utf8))
        bytes[0] = 1
        let error = #expect(throws: DAError.self) { try DANamespace(bytes: bytes) }
        #expect(error?.code == .invalidNamespace)
        #expect(error?.message.contains("version") == true)
    }

    @Test(arguments: Array(1..<19))
    func rejectsANonZeroLeadingIdByte(position: Int) {
        var bytes = namespaceBytes(user: Array("swift-da!!".utf8))
        bytes[position] = 0x80
        let error = #expect(throws: DAError.self) { try DANamespace(bytes: bytes) }
        #expect(error?.code == .invalidNamespace)
        #expect(error?.message.contains("18 leading zero") == true)
    }

    @Test func rejectsTheReservedRange() {
        // Only the last user byte set: the first 9 user bytes are zero, which Celestia reserves.
        let bytes = namespaceBytes(user: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF])
        let error = #expect(throws: DAError.self) { try DANamespace(bytes: bytes) }
        #expect(error?.code == .invalidNamespace)
        #expect(error?.message.contains("reserved") == true)
        #expect(throws: DAError.self) { try DANamespace(bytes: [UInt8](repeating: 0, count: 29)) }
    }

    @Test func decodesTheDocumentedBase64Example() throws {
        let decoded = try #require(Data(base64Encoded: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE="))
        let namespace = try DANamespace(bytes: Array(decoded))
        #expect(Array(namespace.userBytes) == [0, 0] + Array("swift-da".utf8))
        #expect(namespace.bytes == namespaceBytes(user: [0, 0] + Array("swift-da".utf8)))
    }

    @Test func derivesAValidNamespaceFromAName() throws {
        let namespace = DANamespace(name: "dsdn-test")
        // The first 10 bytes of SHA-256("dsdn-test") = ca364b9dce05ede43cf0ace9...
        #expect(namespace.description == String(repeating: "00", count: 19) + "ca364b9dce05ede43cf0")
        // The derived bytes pass validation and round-trip.
        #expect(try DANamespace(bytes: namespace.bytes) == namespace)
        #expect(DANamespace(name: "dsdn-test") == namespace)
        #expect(DANamespace(name: "dsdn-other") != namespace)
    }
}
