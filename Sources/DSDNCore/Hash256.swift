/// A 32-byte hash (chunk hashes, DA commitments, policy source hashes), stored as four big-endian words
/// so that comparison is byte-wise lexicographic and hashing never allocates.
public struct Hash256: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The bytes 0–7, 8–15, 16–23 and 24–31, each read big-endian.
    public var w0, w1, w2, w3: UInt64

    /// The all-zero hash.
    public static let zero = Hash256(w0: 0, w1: 0, w2: 0, w3: 0)

    /// Creates a hash from its four big-endian words.
    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Creates a hash from exactly 32 bytes; `nil` for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (offset, byte) in bytes.enumerated() {
            words[offset / 8] = words[offset / 8] << 8 | UInt64(byte)
        }
        self.init(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    /// Parses 64 hexadecimal characters (either case).
    ///
    /// Errors follow the prototype's wording: a wrong length mentions "64", a bad digit "invalid hex".
    public init(hex: String) throws(HexError) {
        try self.init(hexUTF8: ArraySlice(hex.utf8))
    }

    /// Parses 64 hexadecimal characters given as UTF-8 bytes, with the messages of ``init(hex:)``.
    public init(hexUTF8 utf8: ArraySlice<UInt8>) throws(HexError) {
        if utf8.isEmpty { throw HexError(message: "hash is empty: expected 64 hex characters") }
        guard utf8.count == 64 else {
            throw HexError(message: "hash must be exactly 64 hex characters, got \(utf8.count)")
        }
        // Four words of 16 digits each, straight from the buffer; the position of a bad digit, if any.
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let bad: Int? = utf8.withUnsafeBufferPointer { buffer in
            func word(_ start: Int) -> UInt64? {
                var value: UInt64 = 0
                for offset in start..<(start + 16) {
                    guard let nibble = hexValue(buffer[offset]) else { return nil }
                    value = value << 4 | UInt64(nibble)
                }
                return value
            }
            guard let w0 = word(0), let w1 = word(16), let w2 = word(32), let w3 = word(48) else {
                return buffer.firstIndex { hexValue($0) == nil }
            }
            words = (w0, w1, w2, w3)
            return nil
        }
        if let bad { throw HexError(message: "invalid hex character at position \(bad) of the hash") }
        self.init(w0: words.0, w1: words.1, w2: words.2, w3: words.3)
    }

    /// The 32 bytes in order.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for word in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return out
    }

    /// Lower-case hex, 64 characters.
    public var hex: String { hexString(bytes) }

    /// Lower-case hex, 64 characters.
    public var description: String { hex }

    /// Byte-wise lexicographic order.
    public static func < (lhs: Hash256, rhs: Hash256) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2, lhs.w3) < (rhs.w0, rhs.w1, rhs.w2, rhs.w3)
    }
}

/// A malformed hexadecimal string.
public struct HexError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, for an operator.
    public var message: String
    /// The message.
    public var description: String { message }
}

@inline(__always)
func hexValue(_ character: UInt8) -> UInt8? {
    let digit = character &- UInt8(ascii: "0")
    if digit < 10 { return digit }
    // Setting bit 5 maps "A"..."F" onto "a"..."f" and nothing else onto them.
    let letter = (character | 0x20) &- UInt8(ascii: "a")
    return letter < 6 ? letter + 10 : nil
}

/// Lower-case hex of `bytes`.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Parses hex of any even length (either case); `nil` when malformed.
public func bytes(fromHex hex: String) -> [UInt8]? {
    let utf8 = Array(hex.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(utf8.count / 2)
    var index = 0
    while index < utf8.count {
        guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}
