import DSDNCore
import DSDNInterchange
import DSDNTestSupport
import Testing

/// The JSON Lines reader is strict JSON (docs/events.md §9): each leniency Foundation's decoder has is
/// refused with one line naming the line and column.
@Suite struct EventJSONStrictnessTests {
    static let valid = #"{"node_id":"n1","type":"NodeUnregistered"}"#

    static func refusal(_ text: String) -> String? {
        do {
            _ = try EventJSON.decodeLines(text)
            return nil
        } catch {
            return error.description
        }
    }

    @Test(arguments: [
        (#"{"node_id":"n1","type":"NodeUnregistered",}"#, "line 1: invalid JSON at column 43: trailing comma before }"),
        (#"{"node_id":"n1","type":"NodeUnregistered","node_id":"n2"}"#, #"line 1: invalid JSON at column 43: duplicate key "node_id""#),
        ("\(valid)\n\u{FEFF}\(valid)", "line 2: invalid JSON at column 1: a byte-order mark is not JSON"),
        ("\u{200B}\(valid)", "line 1: invalid JSON at column 1: expected a JSON object"),
        (
            #"{"capacity":1.00000000000000000001,"addr":"h:1","node_id":"n1","type":"NodeRegistered","zone":"z"}"#,
            "line 1: invalid JSON at column 13: numbers must be plain decimal integers (no fraction or exponent)"
        ),
        (
            #"{"capacity":1e3,"addr":"h:1","node_id":"n1","type":"NodeRegistered","zone":"z"}"#,
            "line 1: invalid JSON at column 13: numbers must be plain decimal integers (no fraction or exponent)"
        ),
        (
            #"{"capacity":-0,"addr":"h:1","node_id":"n1","type":"NodeRegistered","zone":"z"}"#,
            "line 1: invalid JSON at column 13: -0 is not a plain integer; write 0"
        ),
        (
            #"{"capacity":01,"addr":"h:1","node_id":"n1","type":"NodeRegistered","zone":"z"}"#,
            "line 1: invalid JSON at column 14: a number must not have a leading zero"
        ),
        ("null", "line 1: invalid JSON at column 1: expected a JSON object"),
        ("[]", "line 1: invalid JSON at column 1: expected a JSON object"),
        ("\(valid) x", "line 1: invalid JSON at column 44: unexpected bytes after the value"),
        (
            #"{"node_id":"n\ud83d","type":"NodeUnregistered"}"#,
            #"line 1: invalid JSON at column 20: a \u high surrogate must be followed by a \u low surrogate"#
        ),
        (#"{"node_id":"n\ude00","type":"NodeUnregistered"}"#, #"line 1: invalid JSON at column 20: a \u low surrogate without a high one"#),
        (#"{"node_id":"n\u12","type":"NodeUnregistered"}"#, #"line 1: invalid JSON at column 18: \u needs four hex digits"#),
    ])
    func leniencesAreRefused(text: String, expected: String) {
        #expect(Self.refusal(text) == expected)
    }

    /// Keys are compared as decoded text, in linear time however many there are, and a key in a message
    /// is one quoted, escaped line.
    @Test func keysAreComparedDecodedAndQuotedInMessages() {
        #expect(
            Self.refusal(#"{"node_id":"n","node\u005fid":"m","type":"NodeUnregistered"}"#)
                == #"line 1: invalid JSON at column 16: duplicate key "node_id""#)
        #expect(
            Self.refusal(#"{"a\nb":1,"node_id":"n","type":"NodeUnregistered"}"#)
                == #"line 1: unknown field "a\nb" for NodeUnregistered"#)
        let many = (0..<5_000).map { #""k\#($0)":1"# }.joined(separator: ",")
        #expect(
            Self.refusal("{\(many),\"node_id\":\"n\",\"type\":\"NodeUnregistered\"}") == "line 1: unknown field k0 for NodeUnregistered")
        let duplicateLate = (0..<40).map { #""k\#($0)":1"# }.joined(separator: ",") + #","k3":2"#
        #expect(Self.refusal("{\(duplicateLate)}")?.hasSuffix(#"duplicate key "k3""#) == true)
        let long = String(repeating: "x", count: 500)
        #expect(
            Self.refusal(#"{"node_id":"n","type":"\#(long)"}"#)
                == #"line 1: unknown event type "\#(String(repeating: "x", count: 100))"… (400 more characters)"#)
    }

    /// Escapes are decoded: a surrogate pair is one character, and an escaped key names its field.
    @Test func escapesAreDecoded() throws {
        let events = try EventJSON.decodeLines(#"{"node\u005fid":"n\ud83d\ude00\t\u00e9","type":"NodeUnregistered"}"#)
        #expect(events == [.nodeUnregistered(nodeID: "n\u{1F600}\té")])
    }

    /// What stays allowed: a byte-order mark at the very start of the text, JSON whitespace around and
    /// inside a line, CRLF line ends, comments and blank lines.
    @Test func theDocumentedFormsStillRead() throws {
        let text = "\u{FEFF}# a comment\r\n\n  \t\(Self.valid)\t \r\n{ \"type\" : \"NodeUnregistered\" , \"node_id\" : \"n2\" }\n"
        let events = try EventJSON.decodeLines(text)
        #expect(events == [.nodeUnregistered(nodeID: "n1"), .nodeUnregistered(nodeID: "n2")])
    }

    /// Escapes in strings are checked too; a control character must be escaped.
    @Test func stringsAreStrict() {
        #expect(Self.refusal(#"{"node_id":"n\q","type":"NodeUnregistered"}"#) == "line 1: invalid JSON at column 15: invalid escape")
        #expect(Self.refusal("{\"node_id\":\"n\u{1}\",\"type\":\"NodeUnregistered\"}")?.contains("control character") == true)
        #expect(Self.refusal(#"{"node_id":"n\u00e9","type":"NodeUnregistered"}"#) == nil)
    }
}

/// The policy events in JSON Lines: typed parameters read back exactly, and a malformed one is one line.
@Suite struct PolicyEventJSONTests {
    @Test func policyEventsRoundTrip() throws {
        var release = PolicyRelease(
            name: "tiny", version: 2, apiLevel: 2, source: Array("return {}\n-- \"quoted\" \\ é\n".utf8),
            parameters: [
                PolicyParameter(name: "w", value: .number(bitPattern: (0.1).bitPattern)),
                PolicyParameter(name: "tiny", value: .number(bitPattern: Double.leastNonzeroMagnitude.bitPattern)),
                PolicyParameter(name: "n", value: .integer(.min)), PolicyParameter(name: "b", value: .boolean(false)),
                PolicyParameter(name: "s", value: .string("a\"b")),
            ], instructionBudget: 10_000, memoryBudget: 65_536)
        release.parameters.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let events: [Event] = [
            .policyPublished(release), .policyActivated(name: "tiny", version: 2, role: .placement),
            .policyParamsSet(
                name: "tiny", version: 2, parameters: [PolicyParameter(name: "w", value: .number(bitPattern: (2.0).bitPattern))]),
        ]
        let text = EventJSON.encodeLines(events)
        #expect(try EventJSON.decodeLines(text) == events)
        #expect(text.contains(#""params":{"w":{"number":"2.0"}}"#))
    }

    @Test(arguments: [
        (
            #"{"name":"t","params":{"w":1},"type":"PolicyParamsSet","version":1}"#,
            "line 1: parameter \"w\" must be an object of one member: integer, number, boolean or string"
        ),
        (
            #"{"name":"t","params":{"w":{"number":1}},"type":"PolicyParamsSet","version":1}"#,
            #"line 1: parameter "w" must be {"integer": N}, {"number": "X"}, {"boolean": B} or {"string": "S"}"#
        ),
        (
            #"{"name":"t","params":{"w":{"number":"inf"}},"type":"PolicyParamsSet","version":1}"#,
            #"line 1: parameter "w" must be a finite number written as a string, such as "0.5""#
        ),
        (
            #"{"name":"t","params":{"w":{"integer":9223372036854775808}},"type":"PolicyParamsSet","version":1}"#,
            "line 1: parameter \"w\" must be an integer in -9223372036854775808...9223372036854775807"
        ),
        (
            #"{"name":"t","params":{"w":{"number":"0x10"}},"type":"PolicyParamsSet","version":1}"#,
            #"line 1: parameter "w" must be a finite number written as a string, such as "0.5""#
        ),
        (
            #"{"name":"t","params":{"w":{"number":"+1"}},"type":"PolicyParamsSet","version":1}"#,
            #"line 1: parameter "w" must be a finite number written as a string, such as "0.5""#
        ),
        (
            #"{"name":"t","role":"primary","type":"PolicyActivated","version":1}"#,
            #"line 1: role must be placement or shadow, got "primary""#
        ),
    ])
    func badPolicyLinesGetOneLine(line: String, message: String) {
        #expect(EventJSONStrictnessTests.refusal(line) == message)
    }
}
