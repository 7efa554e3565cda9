import DSDNCore
import DSDNTestSupport
import Testing

/// Field validation, with the substrings the prototype's tests matched.
@Suite struct ValidationTests {
    private func refusal(_ event: Event, after setup: [Event] = []) throws -> ApplyError? {
        var machine = try Fixtures.machine(setup)
        do {
            try machine.apply(event: event)
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyNodeIDMentionsEmpty() throws {
        let error = try refusal(.nodeRegistered(nodeID: "", zone: "z", addr: "h:1", capacityBytes: 1))
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains("empty") == true)
    }

    @Test(arguments: [" ", "   ", "\t", " \n "])
    func whitespaceOnlyNodeIDMentionsWhitespace(id: String) throws {
        let error = try refusal(.nodeRegistered(nodeID: id, zone: "z", addr: "h:1", capacityBytes: 1))
        #expect(error?.message.contains("whitespace") == true)
    }

    @Test(arguments: ["node 1", "nöde", "node\u{0}"])
    func nonASCIIOrSpacedIdentifiersAreRefused(id: String) throws {
        let error = try refusal(.nodeRegistered(nodeID: id, zone: "z", addr: "h:1", capacityBytes: 1))
        #expect(error?.message.contains("printable ASCII") == true)
    }

    /// `NodeUnregistered` and `ReplicaRemoved` check their `node_id` like every other event
    /// (docs/events.md §3): an invalid id is `invalid_field`, a valid unknown one a no-op.
    @Test func unregisterAndReplicaRemovalValidateTheNodeID() throws {
        let hash = Fixtures.hash(1)
        for event in [Event.nodeUnregistered(nodeID: "bad id"), .replicaRemoved(hash: hash, nodeID: "bad id")] {
            let error = try refusal(event, after: [Fixtures.register("n1"), Fixtures.declare(hash)])
            #expect(error?.code == .invalidField)
            #expect(error?.message.contains("node_id must be printable ASCII") == true)
        }
        #expect(try refusal(.nodeUnregistered(nodeID: "unknown")) == nil)
        #expect(try refusal(.replicaRemoved(hash: hash, nodeID: "unknown"), after: [Fixtures.declare(hash)]) == nil)
    }

    @Test func overlongIdentifierIsRefused() throws {
        let error = try refusal(.nodeRegistered(nodeID: String(repeating: "n", count: 129), zone: "z", addr: "h:1", capacityBytes: 1))
        #expect(error?.message.contains("longer than 128") == true)
    }

    @Test(arguments: [
        ("nocolon", "host:port"), (":8080", "empty host"), ("host:", "invalid port"), ("host:65536", "invalid port"),
        ("host:-1", "invalid port"), ("host:80a", "invalid port"), ("host:+80", "invalid port"), ("host:123456", "invalid port"),
    ])
    func badAddressesAreRefusedWithTheRightMessage(addr: String, expected: String) throws {
        let error = try refusal(.nodeRegistered(nodeID: "n1", zone: "z", addr: addr, capacityBytes: 1))
        #expect(error?.message.contains(expected) == true, "\(addr): \(error?.message ?? "accepted")")
    }

    @Test(arguments: ["host:0", "host:65535", "10.0.0.1:7000", "[::1]:443", "a:b:80"])
    func goodAddressesAreAccepted(addr: String) throws {
        #expect(try refusal(.nodeRegistered(nodeID: "n1", zone: "z", addr: addr, capacityBytes: 1)) == nil)
    }

    @Test func overlongAddressIsRefused() throws {
        let atLimit = String(repeating: "h", count: 250) + ":7000"
        #expect(try refusal(.nodeRegistered(nodeID: "n1", zone: "z", addr: atLimit, capacityBytes: 1)) == nil)
        let error = try refusal(.nodeRegistered(nodeID: "n1", zone: "z", addr: "h" + atLimit, capacityBytes: 1))
        #expect(error?.message.contains("longer than 255") == true)
    }

    @Test func emptyZoneIsRefused() throws {
        let error = try refusal(.nodeRegistered(nodeID: "n1", zone: "", addr: "h:1", capacityBytes: 1))
        #expect(error?.message.contains("zone is empty") == true)
    }

    @Test func chunkHashMustBe64HexCharacters() {
        #expect(throws: HexError.self) { try Hash256(hex: "") }
        let short = #expect(throws: HexError.self) { try Hash256(hex: "abc") }
        #expect(short?.message.contains("64") == true)
        let bad = #expect(throws: HexError.self) { try Hash256(hex: String(repeating: "g", count: 64)) }
        #expect(bad?.message.contains("invalid hex") == true)
        let upper = try? Hash256(hex: String(repeating: "AB", count: 32))
        #expect(upper == Hash256(bytes: [UInt8](repeating: 0xAB, count: 32)))
        #expect(upper?.hex == String(repeating: "ab", count: 32))
        // Every byte that is not a hex digit is refused at its own position, in each of the four words.
        let digits = Set("0123456789abcdefABCDEF".utf8)
        for byte in UInt8(0)...255 where !digits.contains(byte) {
            for position in [0, 17, 40, 63] {
                var text = [UInt8](repeating: UInt8(ascii: "7"), count: 64)
                text[position] = byte
                let error = #expect(throws: HexError.self) { try Hash256(hexUTF8: ArraySlice(text)) }
                #expect(error?.message == "invalid hex character at position \(position) of the hash")
            }
        }
        let mixed = try? Hash256(hex: "0123456789abcdefABCDEF" + String(repeating: "0", count: 42))
        #expect(mixed?.w0 == 0x0123_4567_89AB_CDEF && mixed?.w1 == 0xABCD_EF00_0000_0000)
    }

    @Test func zeroSizeMentionsSizeBytes() throws {
        let error = try refusal(Fixtures.declare(Fixtures.hash(1), size: 0))
        #expect(error?.message.contains("size_bytes") == true)
    }

    @Test func zeroReplicationFactorMentionsReplicationFactor() throws {
        let error = try refusal(Fixtures.declare(Fixtures.hash(1), replicationFactor: 0))
        #expect(error?.message.contains("replication_factor") == true)
        let tooMany = try refusal(Fixtures.declare(Fixtures.hash(1), replicationFactor: 33))
        #expect(tooMany?.message.contains("replication_factor") == true)
    }

    @Test func emptyUploaderMentionsUploaderID() throws {
        let error = try refusal(Fixtures.declare(Fixtures.hash(1), uploader: ""))
        #expect(error?.message.contains("uploader_id") == true)
    }
}
