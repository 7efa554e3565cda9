/// The one reader of event JSON: strict syntax (RFC 8259, plus the format's own rules) checked in the
/// same pass that records where every member is, so that what a lenient decoder would quietly accept
/// is refused with one line: trailing commas, a byte-order mark or other non-JSON whitespace, duplicate
/// keys, and numbers that are not plain decimal integers (`1.0`, `1e3`, `-0`,
/// `1.00000000000000000001`) — every number in an event is an integer.
///
/// It works on the UTF-8 bytes of a whole text and keeps ranges, not copies: a value becomes a `String`
/// or an integer only when the event builder asks for it.
struct StrictJSON {
    /// What is wrong, with the 1-based column (in bytes, from where the value starts) where it was found.
    struct SyntaxError: Error, Hashable {
        var column: Int
        var message: String

        var description: String { "invalid JSON at column \(column): \(message)" }
    }

    /// The kind of value a document must be.
    enum TopLevel {
        case object
        case array
    }

    enum Kind: UInt8 {
        case string, number, object, array, boolean, null
    }

    /// A member of an object: its key and value as byte ranges of the text, and the object it belongs to.
    struct Member {
        /// The object holding it (0 for the document's first object).
        var object: Int32
        /// For an object value, the id of that object.
        var child: Int32
        var kind: Kind
        /// Whether the key or the value (for a string) holds escapes that decoding must resolve.
        var keyEscaped: Bool
        var valueEscaped: Bool
        var keyStart: Int
        var keyEnd: Int
        /// A string's bytes between the quotes; a number's digits (with its sign); a literal's bytes.
        var valueStart: Int
        var valueEnd: Int
    }

    /// The text's bytes.
    let bytes: [UInt8]
    /// Members of every object parsed since the last `reset`.
    private(set) var members: [Member] = []
    /// For a top-level array: each element's kind and, for an object, its id.
    private(set) var elements: [(kind: Kind, object: Int32)] = []
    private var objects: Int32 = 0
    private var offset = 0
    private var end = 0
    private var start = 0

    /// Deeper nesting than any event needs is refused before it can exhaust the stack.
    static let maxDepth = 64
    /// Whether numbers may have a fraction and an exponent (API bodies); events take plain integers only.
    var allowsFractions = false

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `bytes[range]` as exactly one JSON value of the `topLevel` kind, surrounded by JSON
    /// whitespace only. Columns in errors count from the range's start.
    mutating func parse(_ range: Range<Int>, topLevel: TopLevel) throws(SyntaxError) {
        members.removeAll(keepingCapacity: true)
        elements.removeAll(keepingCapacity: true)
        objects = 0
        start = range.lowerBound
        offset = range.lowerBound
        end = range.upperBound
        skipWhitespace()
        if startsWithByteOrderMark { throw error("a byte-order mark is not JSON") }
        switch (topLevel, peek) {
        case (.object, UInt8(ascii: "{")?):
            _ = try object(depth: 0)
        case (.array, UInt8(ascii: "[")?):
            try topLevelArray()
        case (.object, _): throw error("expected a JSON object")
        case (.array, _): throw error("expected a JSON array")
        }
        skipWhitespace()
        guard atEnd else { throw error("unexpected bytes after the value") }
    }

    // MARK: Reading values

    /// The first member of object `id` whose key is `name`.
    func member(of id: Int32, named name: UnsafeBufferPointer<UInt8>) -> Int? {
        for index in members.indices where members[index].object == id && key(of: index, is: name) { return index }
        return nil
    }

    /// Whether member `index`'s key is `key`.
    func key(of index: Int, is key: UnsafeBufferPointer<UInt8>) -> Bool {
        let member = members[index]
        if member.keyEscaped { return decodeString(member.keyStart..<member.keyEnd).utf8.elementsEqual(key) }
        guard member.keyEnd - member.keyStart == key.count else { return false }
        return bytes.withUnsafeBufferPointer { all in
            var offset = 0
            while offset < key.count, all[member.keyStart + offset] == key[offset] { offset += 1 }
            return offset == key.count
        }
    }

    /// Member `index`'s key as text.
    func key(of index: Int) -> String {
        let member = members[index]
        return member.keyEscaped
            ? decodeString(member.keyStart..<member.keyEnd) : String(decoding: bytes[member.keyStart..<member.keyEnd], as: UTF8.self)
    }

    /// A member's key as decoded bytes.
    func keyBytes(_ member: Member) -> [UInt8] {
        member.keyEscaped ? Array(decodeString(member.keyStart..<member.keyEnd).utf8) : Array(bytes[member.keyStart..<member.keyEnd])
    }

    /// Text the input wrote, for a message: quoted and escaped (one line), and cut after 100 characters.
    static func quotedForMessage(_ text: String) -> String {
        var quoted = "\""
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            guard count <= 100 else { continue }
            switch scalar.value {
            case 0x22: quoted += "\\\""
            case 0x5C: quoted += "\\\\"
            case 0x0A: quoted += "\\n"
            case 0x0D: quoted += "\\r"
            case 0x09: quoted += "\\t"
            case 0x20...0x7E: quoted.unicodeScalars.append(scalar)
            default: quoted += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
        }
        quoted += "\""
        return count > 100 ? quoted + "… (\(count - 100) more characters)" : quoted
    }

    /// A string member's value.
    func string(_ index: Int) -> String {
        let member = members[index]
        return member.valueEscaped
            ? decodeString(member.valueStart..<member.valueEnd)
            : String(decoding: bytes[member.valueStart..<member.valueEnd], as: UTF8.self)
    }

    /// A string member's raw bytes (no escapes).
    func rawBytes(_ index: Int) -> ArraySlice<UInt8> { bytes[members[index].valueStart..<members[index].valueEnd] }

    /// A number member as an unsigned integer no larger than `limit`; nil when negative or larger.
    func unsigned(_ index: Int, limit: UInt64) -> UInt64? {
        let member = members[index]
        guard bytes[member.valueStart] != UInt8(ascii: "-") else { return nil }
        var value: UInt64 = 0
        for digit in bytes[member.valueStart..<member.valueEnd] {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(digit &- UInt8(ascii: "0")))
            if overflow || carry { return nil }
            value = sum
        }
        return value <= limit ? value : nil
    }

    /// Decodes a string's escapes (already checked by the parser: each is valid, and a `\u` high
    /// surrogate is followed by a low one).
    func decodeString(_ range: Range<Int>) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = range.lowerBound
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            let escaped = bytes[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = hex4(at: index)
                index += 4
                if (0xD800..<0xDC00).contains(code) {
                    let low = hex4(at: index + 2)
                    index += 6
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: utf8.append(escaped)  // " \ /
            }
        }
        flush()
        return String(scalars)
    }

    private func hex4(at index: Int) -> UInt32 {
        bytes[index..<index + 4].reduce(0) { value, digit in
            value << 4 | UInt32(digit <= UInt8(ascii: "9") ? digit - UInt8(ascii: "0") : (digit | 0x20) - UInt8(ascii: "a") + 10)
        }
    }

    // MARK: Parsing

    private var atEnd: Bool { offset >= end }
    private var peek: UInt8? { offset < end ? bytes[offset] : nil }
    private var startsWithByteOrderMark: Bool {
        offset + 3 <= end && bytes[offset] == 0xEF && bytes[offset + 1] == 0xBB && bytes[offset + 2] == 0xBF
    }

    private func error(_ message: String) -> SyntaxError { SyntaxError(column: offset - start + 1, message: message) }

    private mutating func skipWhitespace() {
        while offset < end {
            let byte = bytes[offset]
            guard byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { return }
            offset += 1
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(SyntaxError) {
        guard peek == byte else { throw error(atEnd ? "unexpected end, expected \(what)" : "expected \(what)") }
        offset += 1
    }

    /// Parses any value; returns its kind, range and, for an object, its id.
    private mutating func value(depth: Int) throws(SyntaxError) -> (kind: Kind, start: Int, end: Int, escaped: Bool, child: Int32) {
        guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        skipWhitespace()
        guard let byte = peek else { throw error("unexpected end, expected a value") }
        let valueStart = offset
        switch byte {
        case UInt8(ascii: "{"):
            let id = try object(depth: depth)
            return (.object, valueStart, offset, false, id)
        case UInt8(ascii: "["):
            try array(depth: depth)
            return (.array, valueStart, offset, false, -1)
        case UInt8(ascii: "\""):
            let (range, escaped) = try string()
            return (.string, range.lowerBound, range.upperBound, escaped, -1)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try number()
            return (.number, valueStart, offset, false, -1)
        case UInt8(ascii: "t"):
            try literal("true")
            return (.boolean, valueStart, offset, false, -1)
        case UInt8(ascii: "f"):
            try literal("false")
            return (.boolean, valueStart, offset, false, -1)
        case UInt8(ascii: "n"):
            try literal("null")
            return (.null, valueStart, offset, false, -1)
        case 0xEF where startsWithByteOrderMark: throw error("a byte-order mark is not JSON")
        default: throw error("unexpected character")
        }
    }

    /// An object: records its members under a new id and returns the id.
    private mutating func object(depth: Int) throws(SyntaxError) -> Int32 {
        let id = objects
        objects += 1
        let first = members.count
        var count = 0
        var seen: Set<[UInt8]>? = nil  // lookup only
        try elements(closing: UInt8(ascii: "}")) { (parser: inout StrictJSON) throws(SyntaxError) in
            guard parser.peek == UInt8(ascii: "\"") else {
                throw parser.error(parser.atEnd ? "unexpected end, expected a key" : "expected a string key")
            }
            let keyStart = parser.offset
            let (key, keyEscaped) = try parser.string()
            // Keys compare as decoded text ("node\u005fid" is node_id); past a few members, through a set,
            // so an object with thousands of keys is read in linear time.
            let name = keyEscaped ? Array(parser.decodeString(key).utf8) : Array(parser.bytes[key])
            let isDuplicate: Bool
            if var names = seen {
                isDuplicate = !names.insert(name).inserted
                seen = names
            } else {
                isDuplicate = parser.members[first...].contains { other in
                    other.object == id
                        && (other.keyEscaped
                            ? Array(parser.decodeString(other.keyStart..<other.keyEnd).utf8) == name
                            : parser.bytes[other.keyStart..<other.keyEnd].elementsEqual(name))
                }
                count += 1
                if count == 16 {
                    seen = Set(parser.members[first...].filter { $0.object == id }.map { parser.keyBytes($0) } + [name])
                }
            }
            if isDuplicate {
                parser.offset = keyStart
                throw parser.error("duplicate key \(Self.quotedForMessage(String(decoding: name, as: UTF8.self)))")
            }
            parser.skipWhitespace()
            try parser.expect(UInt8(ascii: ":"), ":")
            let value = try parser.value(depth: depth + 1)
            parser.members.append(
                Member(
                    object: id, child: value.child, kind: value.kind, keyEscaped: keyEscaped, valueEscaped: value.escaped,
                    keyStart: key.lowerBound, keyEnd: key.upperBound, valueStart: value.start, valueEnd: value.end))
        }
        return id
    }

    private mutating func array(depth: Int) throws(SyntaxError) {
        try elements(closing: UInt8(ascii: "]")) { (parser: inout StrictJSON) throws(SyntaxError) in
            _ = try parser.value(depth: depth + 1)
        }
    }

    /// The document's own array: records each element's kind (and object id).
    private mutating func topLevelArray() throws(SyntaxError) {
        try elements(closing: UInt8(ascii: "]")) { (parser: inout StrictJSON) throws(SyntaxError) in
            let value = try parser.value(depth: 1)
            parser.elements.append((value.kind, value.child))
        }
    }

    /// The members of an object or the elements of an array, separated by commas, up to `closing`; a
    /// comma right before `closing` is refused.
    private mutating func elements(
        closing: UInt8, _ element: (inout StrictJSON) throws(SyntaxError) -> Void
    ) throws(SyntaxError) {
        let bracket = Character(Unicode.Scalar(closing))
        offset += 1
        skipWhitespace()
        if peek == closing {
            offset += 1
            return
        }
        while true {
            skipWhitespace()
            if peek == closing { throw error("trailing comma before \(bracket)") }
            try element(&self)
            skipWhitespace()
            if peek == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            try expect(closing, ", or \(bracket)")
            return
        }
    }

    /// A string: the range of its bytes between the quotes, and whether it holds escapes (each checked).
    private mutating func string() throws(SyntaxError) -> (Range<Int>, Bool) {
        offset += 1
        let contentStart = offset
        var escaped = false
        while offset < end {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                let range = contentStart..<offset
                offset += 1
                return (range, escaped)
            case UInt8(ascii: "\\"):
                escaped = true
                offset += 1
                guard let escape = peek else { break }
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    offset += 1
                case UInt8(ascii: "u"):
                    let code = try unicodeEscape()
                    if (0xD800..<0xDC00).contains(code) {
                        guard peek == UInt8(ascii: "\\"), offset + 1 < end, bytes[offset + 1] == UInt8(ascii: "u") else {
                            throw error("a \\u high surrogate must be followed by a \\u low surrogate")
                        }
                        offset += 1
                        guard (0xDC00..<0xE000).contains(try unicodeEscape()) else {
                            throw error("a \\u high surrogate must be followed by a \\u low surrogate")
                        }
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw error("a \\u low surrogate without a high one")
                    }
                default: throw error("invalid escape")
                }
            case 0x00..<0x20: throw error("a control character must be escaped in a string")
            default: offset += 1
            }
        }
        throw error("unterminated string")
    }

    /// `u` and four hex digits, at `offset` (which is on the `u`); returns the code unit.
    private mutating func unicodeEscape() throws(SyntaxError) -> UInt32 {
        offset += 1
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = peek, let nibble = Self.hexNibble(digit) else { throw error("\\u needs four hex digits") }
            code = code << 4 | UInt32(nibble)
            offset += 1
        }
        return code
    }

    private static func hexNibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// An integer: `-`? then `0` or a non-zero digit followed by digits. No fraction, no exponent,
    /// no `-0`.
    private mutating func number() throws(SyntaxError) {
        let numberStart = offset
        if peek == UInt8(ascii: "-") { offset += 1 }
        guard let first = peek, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw error("expected a digit") }
        offset += 1
        if first == UInt8(ascii: "0"), let next = peek, next >= UInt8(ascii: "0"), next <= UInt8(ascii: "9") {
            throw error("a number must not have a leading zero")
        }
        while let digit = peek, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { offset += 1 }
        if allowsFractions {
            try fractionAndExponent()
            return
        }
        if let next = peek, next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            offset = numberStart
            throw error("numbers must be plain decimal integers (no fraction or exponent)")
        }
        if offset - numberStart == 2, bytes[numberStart] == UInt8(ascii: "-"), bytes[numberStart + 1] == UInt8(ascii: "0") {
            offset = numberStart
            throw error("-0 is not a plain integer; write 0")
        }
    }

    /// RFC 8259's `[ "." 1*DIGIT ] [ ("e" / "E") [ "+" / "-" ] 1*DIGIT ]`.
    private mutating func fractionAndExponent() throws(SyntaxError) {
        func digits() throws(SyntaxError) {
            guard let first = peek, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw error("expected a digit") }
            while let digit = peek, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { offset += 1 }
        }
        if peek == UInt8(ascii: ".") {
            offset += 1
            try digits()
        }
        if let next = peek, next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            offset += 1
            if let sign = peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { offset += 1 }
            try digits()
        }
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        guard offset + count <= end else { throw error("unexpected character") }
        let matches = word.withUTF8Buffer { expected in bytes[offset..<offset + count].elementsEqual(expected) }
        guard matches else { throw error("unexpected character") }
        offset += count
    }
}

/// The first way `text` is not exactly one strict JSON object (RFC 8259: no duplicate keys, no trailing
/// commas, no leading zeros, valid escapes; numbers may have fractions), as `invalid JSON at column C:
/// …`; `nil` when it is one. For API bodies that Foundation's decoder would read leniently.
public func strictJSONObjectError(_ text: String) -> String? {
    var parser = StrictJSON(bytes: Array(text.utf8))
    parser.allowsFractions = true
    do throws(StrictJSON.SyntaxError) {
        try parser.parse(0..<parser.bytes.count, topLevel: .object)
        return nil
    } catch {
        return error.description
    }
}
