/// A strict syntax check of event JSON (RFC 8259, plus the format's own rules) run before decoding, so
/// that what Foundation's decoder would quietly accept is refused with one line: trailing commas, a
/// byte-order mark or other non-JSON whitespace, duplicate keys, and numbers that are not plain decimal
/// integers (`1.0`, `1e3`, `-0`, `1.00000000000000000001`) — every number in an event is an integer.
enum StrictJSON {
    /// What is wrong, with the 1-based column (in bytes) where it was found.
    struct SyntaxError: Error, Hashable {
        var column: Int
        var message: String

        var description: String { "invalid JSON at column \(column): \(message)" }
    }

    /// Checks that `text` is exactly one JSON value of the allowed kind, surrounded by JSON whitespace
    /// only, and that `topLevel` describes it.
    static func check(_ text: String, topLevel: TopLevel) throws(SyntaxError) {
        var scanner = Scanner(bytes: Array(text.utf8))
        scanner.skipWhitespace()
        if scanner.bytes[scanner.offset...].starts(with: [0xEF, 0xBB, 0xBF]) { throw scanner.error("a byte-order mark is not JSON") }
        switch (topLevel, scanner.peek) {
        case (.object, UInt8(ascii: "{")?), (.array, UInt8(ascii: "[")?): break
        case (.object, _): throw scanner.error("expected a JSON object")
        case (.array, _): throw scanner.error("expected a JSON array")
        }
        try scanner.value(depth: 0)
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw scanner.error("unexpected bytes after the value") }
    }

    /// The kind of value a document must be.
    enum TopLevel {
        case object
        case array
    }

    private struct Scanner {
        let bytes: [UInt8]
        var offset = 0
        /// Deeper nesting than any event needs is refused before it can exhaust the stack.
        static let maxDepth = 64

        var atEnd: Bool { offset >= bytes.count }
        var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        func error(_ message: String) -> SyntaxError { SyntaxError(column: offset + 1, message: message) }

        mutating func skipWhitespace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { offset += 1 }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(SyntaxError) {
            guard peek == byte else { throw error(atEnd ? "unexpected end, expected \(what)" : "expected \(what)") }
            offset += 1
        }

        mutating func value(depth: Int) throws(SyntaxError) {
            guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
            skipWhitespace()
            guard let byte = peek else { throw error("unexpected end, expected a value") }
            switch byte {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case 0xEF where bytes[offset...].starts(with: [0xEF, 0xBB, 0xBF]): throw error("a byte-order mark is not JSON")
            default: throw error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(SyntaxError) {
            var keys: Set<[UInt8]> = []  // lookup only
            try elements(closing: UInt8(ascii: "}")) { (scanner: inout Scanner) throws(SyntaxError) in
                guard scanner.peek == UInt8(ascii: "\"") else {
                    throw scanner.error(scanner.atEnd ? "unexpected end, expected a key" : "expected a string key")
                }
                let keyStart = scanner.offset
                let key = try scanner.string()
                guard keys.insert(key).inserted else {
                    scanner.offset = keyStart
                    throw scanner.error("duplicate key \(String(decoding: key, as: UTF8.self).debugDescription)")
                }
                scanner.skipWhitespace()
                try scanner.expect(UInt8(ascii: ":"), ":")
                try scanner.value(depth: depth + 1)
            }
        }

        mutating func array(depth: Int) throws(SyntaxError) {
            try elements(closing: UInt8(ascii: "]")) { (scanner: inout Scanner) throws(SyntaxError) in try scanner.value(depth: depth + 1) }
        }

        /// The members of an object or the elements of an array, separated by commas, up to `closing`; a
        /// comma right before `closing` is refused.
        mutating func elements(
            closing: UInt8, _ element: (inout Scanner) throws(SyntaxError) -> Void
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

        /// A string's raw bytes between the quotes (escapes are checked, not decoded: keys compare by
        /// their raw spelling, which is enough to catch a key written twice the same way).
        mutating func string() throws(SyntaxError) -> [UInt8] {
            offset += 1
            let start = offset
            while let byte = peek {
                switch byte {
                case UInt8(ascii: "\""):
                    let raw = Array(bytes[start..<offset])
                    offset += 1
                    return raw
                case UInt8(ascii: "\\"):
                    offset += 1
                    guard let escaped = peek else { break }
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        offset += 1
                    case UInt8(ascii: "u"):
                        offset += 1
                        for _ in 0..<4 {
                            guard let hex = peek, (hex >= 0x30 && hex <= 0x39) || (hex | 0x20 >= 0x61 && hex | 0x20 <= 0x66) else {
                                throw error("\\u needs four hex digits")
                            }
                            offset += 1
                        }
                    default: throw error("invalid escape")
                    }
                case 0x00..<0x20: throw error("a control character must be escaped in a string")
                default: offset += 1
                }
            }
            throw error("unterminated string")
        }

        /// An integer: `-`? then `0` or a non-zero digit followed by digits. No fraction, no exponent,
        /// no `-0`.
        mutating func number() throws(SyntaxError) {
            let start = offset
            if peek == UInt8(ascii: "-") { offset += 1 }
            guard let first = peek, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw error("expected a digit") }
            offset += 1
            if first == UInt8(ascii: "0"), let next = peek, next >= UInt8(ascii: "0"), next <= UInt8(ascii: "9") {
                throw error("a number must not have a leading zero")
            }
            while let digit = peek, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { offset += 1 }
            if let next = peek, next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
                offset = start
                throw error("numbers must be plain decimal integers (no fraction or exponent)")
            }
            if bytes[start..<offset].elementsEqual("-0".utf8) {
                offset = start
                throw error("-0 is not a plain integer; write 0")
            }
        }

        mutating func literal(_ word: String) throws(SyntaxError) {
            guard bytes[offset...].starts(with: word.utf8) else { throw error("unexpected character") }
            offset += word.utf8.count
        }
    }
}
