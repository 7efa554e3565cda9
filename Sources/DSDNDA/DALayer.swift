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
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Whether retrying the same call later may succeed.
    public var isRetryable: Bool { code == .unavailable || code == .heightFromFuture }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
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
}

@inline(__always)
func hexByte(_ byte: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
}
