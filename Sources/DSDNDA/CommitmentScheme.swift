import DSDNCore

/// How a DA layer commits to a blob's bytes, so a reader can check that the bytes it got are the bytes
/// on the DA (docs/events.md §7) and a publisher can recognise its own blob by commitment. Each
/// ``DALayer`` names its own scheme (``DALayer/commitmentScheme``): SHA-256 of the data for `MemoryDA`
/// and the file log, the share commitment for Celestia.
public struct CommitmentScheme: Sendable {
    private let compute: (@Sendable (DANamespace, [UInt8]) -> [UInt8])?
    /// A short name for logs and reports.
    public let name: String

    /// A scheme computing the commitment of a blob in a namespace with `compute`.
    public init(name: String, compute: @escaping @Sendable (DANamespace, [UInt8]) -> [UInt8]) {
        self.name = name
        self.compute = compute
    }

    private init(unverifiedNamed name: String) {
        self.name = name
        self.compute = nil
    }

    /// SHA-256 of the blob's bytes: the commitment of `MemoryDA` and `FileLogDA`.
    public static let sha256 = CommitmentScheme(name: "sha256") { _, data in DSDNCore.sha256(data).bytes }

    /// No verification, for a backend whose commitment cannot be recomputed from the bytes alone.
    public static let unverified = CommitmentScheme(unverifiedNamed: "unverified")

    /// Whether this scheme can recompute commitments (false for ``unverified``).
    public var verifies: Bool { compute != nil }

    /// The commitment of `data` in `namespace`, or `nil` when this scheme does not verify.
    public func commitment(of data: [UInt8], in namespace: DANamespace) -> [UInt8]? { compute?(namespace, data) }

    /// Whether `blob`'s bytes match its reference's commitment (always true when unverified).
    public func matches(_ blob: DABlob, in namespace: DANamespace) -> Bool {
        guard let compute else { return true }
        return compute(namespace, blob.data) == blob.reference.commitment
    }
}
