import Crypto

/// A DA namespace: the 29-byte form Celestia uses (version byte 0, then a 28-byte id whose first 18
/// bytes are zero), so every backend addresses blobs the same way.
public struct DANamespace: Hashable, Sendable, CustomStringConvertible {
    /// The 29 namespace bytes.
    public let bytes: [UInt8]

    /// The 10 user bytes (the part after the 18 leading zero bytes of the id).
    public var userBytes: ArraySlice<UInt8> { bytes[19...] }

    /// Wraps raw namespace bytes after validating them.
    public init(bytes: [UInt8]) throws(DAError) {
        guard bytes.count == 29 else {
            throw DAError(.invalidNamespace, "namespace must be 29 bytes, got \(bytes.count)")
        }
        guard bytes[0] == 0 else {
            throw DAError(.invalidNamespace, "namespace version must be 0, got \(bytes[0])")
        }
        guard bytes[1..<19].allSatisfy({ $0 == 0 }) else {
            throw DAError(.invalidNamespace, "namespace id must start with 18 leading zero bytes")
        }
        guard !bytes[19..<28].allSatisfy({ $0 == 0 }) else {
            throw DAError(.invalidNamespace, "namespace is in the reserved range (first 9 user bytes are zero)")
        }
        self.bytes = bytes
    }

    /// Derives a namespace from a name: the 10 user bytes are the first 10 bytes of SHA-256(name).
    public init(name: String) {
        let digest = Array(SHA256.hash(data: Array(name.utf8)))
        var bytes = [UInt8](repeating: 0, count: 19)
        bytes.append(contentsOf: digest[0..<10])
        // A digest whose first 9 bytes are all zero is astronomically unlikely; flip one bit to stay
        // out of the reserved range deterministically rather than trap.
        if bytes[19..<28].allSatisfy({ $0 == 0 }) { bytes[27] = 1 }
        self.bytes = bytes
    }

    /// Lower-case hex of the 29 bytes.
    public var description: String { bytes.map { hexByte($0) }.joined() }

    /// Parses hexadecimal namespace bytes (either case, an optional `0x` prefix): all 29 bytes, or just
    /// the user bytes — 1 to 10 of them, left-padded with zeros as celestia-node's `--namespace` flag and
    /// go-square's `NewV0Namespace` do (so `0x73776966742d6461`, "swift-da", gives user bytes
    /// `00 00 73 77 69 66 74 2d 64 61`). The checks of ``init(bytes:)`` apply, the reserved range included.
    public init(hex: String) throws(DAError) {
        var digits = Substring(hex)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        let utf8 = Array(digits.utf8)
        guard !utf8.isEmpty else { throw DAError(.invalidNamespace, "hex namespace is empty") }
        guard utf8.count % 2 == 0 else {
            throw DAError(.invalidNamespace, "hex namespace has an odd number of digits (\(utf8.count))")
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(utf8.count / 2)
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = Self.hexDigit(utf8[index]) else {
                throw DAError(.invalidNamespace, "hex namespace has an invalid character at position \(index + 1)")
            }
            guard let low = Self.hexDigit(utf8[index + 1]) else {
                throw DAError(.invalidNamespace, "hex namespace has an invalid character at position \(index + 2)")
            }
            decoded.append(high << 4 | low)
        }
        try self.init(bytes: Self.padded(decoded, encoding: "hex"))
    }

    /// Parses base64 namespace bytes (standard alphabet; `=` padding optional), the form Celestia's JSON
    /// uses: all 29 bytes, or 1 to 10 user bytes left-padded with zeros as in ``init(hex:)``. The checks
    /// of ``init(bytes:)`` apply, the reserved range included.
    public init(base64: String) throws(DAError) {
        guard let decoded = Self.decodeBase64(base64) else {
            throw DAError(.invalidNamespace, "namespace is not valid base64: \(base64.debugDescription)")
        }
        guard !decoded.isEmpty else { throw DAError(.invalidNamespace, "base64 namespace is empty") }
        try self.init(bytes: Self.padded(decoded, encoding: "base64"))
    }

    /// Parses the namespace forms an operator writes: `0x` + hex (``init(hex:)``), `base64:` + base64
    /// (``init(base64:)``), or otherwise a name, whose namespace is derived by ``init(name:)``.
    ///
    /// A plain text that is itself a complete namespace in hex (58 digits) or base64 (40 characters
    /// decoding to 29 bytes) is refused rather than hashed as a name: it was almost certainly meant as
    /// bytes, and deriving a different namespace from it silently would read or write the wrong place.
    public init(parsing text: String) throws(DAError) {
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            try self.init(hex: text)
        } else if text.hasPrefix("base64:") {
            try self.init(base64: String(text.dropFirst("base64:".count)))
        } else {
            guard !text.isEmpty else {
                throw DAError(.invalidNamespace, "namespace is empty: give a name, 0x<hex> or base64:<base64>")
            }
            if text.utf8.count == 58, text.utf8.allSatisfy({ Self.hexDigit($0) != nil }) {
                throw DAError(
                    .invalidNamespace,
                    "\(text) looks like hex namespace bytes: write 0x\(text) to use them (a plain name is hashed)")
            }
            if text.utf8.count == 40, Self.decodeBase64(text)?.count == 29 {
                throw DAError(
                    .invalidNamespace,
                    "\(text) looks like base64 namespace bytes: write base64:\(text) to use them (a plain name is hashed)")
            }
            self.init(name: text)
        }
    }

    /// Standard base64 (with `=` padding) of the 29 bytes, as Celestia's JSON carries namespaces.
    public var base64: String { Self.encodeBase64(bytes) }

    /// Left-pads 1 to 10 user bytes to a full namespace; passes 29 bytes through; refuses other lengths.
    private static func padded(_ decoded: [UInt8], encoding: String) throws(DAError) -> [UInt8] {
        if decoded.count == 29 { return decoded }
        guard decoded.count <= 10 else {
            throw DAError(
                .invalidNamespace,
                "namespace must be 29 bytes (or up to 10 user bytes), got \(decoded.count) bytes of \(encoding)")
        }
        return [UInt8](repeating: 0, count: 29 - decoded.count) + decoded
    }

    private static func hexDigit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding (RFC 4648, section 4).
    static func encodeBase64(_ input: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index < input.count {
            let remaining = input.count - index
            let b0 = UInt32(input[index])
            let b1 = remaining > 1 ? UInt32(input[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(input[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            output.append(base64Alphabet[Int(group >> 18 & 0x3f)])
            output.append(base64Alphabet[Int(group >> 12 & 0x3f)])
            output.append(remaining > 1 ? base64Alphabet[Int(group >> 6 & 0x3f)] : UInt8(ascii: "="))
            output.append(remaining > 2 ? base64Alphabet[Int(group & 0x3f)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes standard base64 (RFC 4648, section 4), with or without `=` padding; `nil` for any other
    /// character, misplaced padding, an impossible length or non-zero unused trailing bits.
    static func decodeBase64(_ text: String) -> [UInt8]? {
        var symbols = Array(text.utf8)
        var padding = 0
        while symbols.last == UInt8(ascii: "=") {
            symbols.removeLast()
            padding += 1
        }
        guard padding <= 2, symbols.count % 4 != 1 else { return nil }
        if padding > 0 { guard (symbols.count + padding) % 4 == 0 else { return nil } }
        var output: [UInt8] = []
        output.reserveCapacity(symbols.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for symbol in symbols {
            let value: UInt32
            switch symbol {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(symbol - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(symbol - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(symbol - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            default: return nil
            }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Canonical encodings leave the unused low bits zero.
        guard accumulator == 0 else { return nil }
        return output
    }
}

/// Where a submitted blob landed.
public struct BlobReference: Hashable, Sendable {
    /// The DA height the blob was included at (heights start at 1).
    public var height: UInt64
    /// The blob's index among the namespace's blobs at that height.
    public var index: UInt32
    /// A backend-specific commitment that identifies the blob (SHA-256 of the data for the memory and
    /// file backends, the share commitment for Celestia).
    public var commitment: [UInt8]

    /// Creates a reference.
    public init(height: UInt64, index: UInt32, commitment: [UInt8]) {
        self.height = height
        self.index = index
        self.commitment = commitment
    }
}

/// A blob read back from the DA, in canonical order within its height.
public struct DABlob: Hashable, Sendable {
    /// Where it is.
    public var reference: BlobReference
    /// Its bytes, opaque to the DA layer. Untrusted input: anyone can post to a namespace.
    public var data: [UInt8]

    /// Creates a blob.
    public init(reference: BlobReference, data: [UInt8]) {
        self.reference = reference
        self.data = data
    }
}

/// The health of a DA connection.
public struct DAHealth: Hashable, Sendable {
    /// Whether the backend can serve reads and writes now.
    public var isReady: Bool
    /// The newest height the backend knows, if it could be read.
    public var head: UInt64?
    /// A short human description, e.g. the last error.
    public var detail: String

    /// Creates a health report.
    public init(isReady: Bool, head: UInt64?, detail: String) {
        self.isReady = isReady
        self.head = head
        self.detail = detail
    }
}

/// An error from a DA backend, classified so callers can decide whether to retry.
public struct DAError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of a DA error.
    public enum Code: String, Sendable, Hashable {
        /// A transient failure: retry with backoff.
        case unavailable
        /// The height is beyond the current head: wait for it.
        case heightFromFuture
        /// The height is older than the backend keeps: history is pruned, never skip it.
        case pruned
        /// The blob exceeds the backend's size cap.
        case blobTooLarge
        /// Credentials are missing or rejected: fail fast.
        case unauthorized
        /// The namespace is malformed or reserved.
        case invalidNamespace
        /// Stored data is damaged.
        case corrupted
        /// The request itself is invalid (e.g. height 0).
        case invalidRequest
    }

    /// The class.
    public var code: Code
    /// A one-line message for an operator.
    public var message: String

    /// Creates an error.
    /// The error this one wraps (an I/O or transport error), when it wraps one. Not part of equality.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.cause = cause
        self.code = code
        self.message = message
    }

    /// Whether retrying the same call later may succeed.
    public var isRetryable: Bool { code == .unavailable || code == .heightFromFuture }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }

    public static func == (lhs: DAError, rhs: DAError) -> Bool { lhs.code == rhs.code && lhs.message == rhs.message }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}

/// The Data Availability layer as the coordinator sees it: an ordered, append-only sequence of heights,
/// each holding zero or more opaque blobs per namespace.
///
/// Implementations: the in-memory backend (tests, with seeded faults), the embedded file log (default)
/// and Celestia. All are safe to call from any task.
public protocol DALayer: Sendable {
    /// Submits one blob to `namespace` and returns where it was included.
    func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference

    /// The blobs of `namespace` at `height`, in canonical order (empty when there are none).
    /// Throws `.heightFromFuture` for a height beyond the head and `.pruned` below the retained range.
    func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob]

    /// The newest height (0 when nothing was ever included).
    func head() async throws(DAError) -> UInt64

    /// A stream of heights as they are produced. Only a wake-up signal: a reader keeps its own cursor
    /// and backfills any height the stream skipped.
    func newHeights() -> AsyncStream<UInt64>

    /// Whether the backend is usable now.
    func health() async -> DAHealth

    /// How this backend commits to a blob's bytes (the `commitment` of its ``BlobReference``s): readers
    /// verify blobs and publishers recognise their own with it.
    var commitmentScheme: CommitmentScheme { get }

    /// The height the namespace's history begins at (its genesis): readers start there, never below.
    /// 1 unless the backend was told otherwise (a Celestia address's `from-height`).
    var firstHeight: UInt64 { get }
}

extension DALayer {
    /// Heights start at 1.
    public var firstHeight: UInt64 { 1 }
}

@inline(__always)
func hexByte(_ byte: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
}
