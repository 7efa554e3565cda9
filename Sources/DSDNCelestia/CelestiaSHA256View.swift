import DSDNCore
import DSDNDA

/// A Celestia backend as seen by code that verifies blobs with SHA-256 commitments — the runtime's
/// default `CommitmentScheme`, which the `MemoryDA` and file-log backends use.
///
/// Every blob read is checked here against the share commitment the node reported for it
/// (`ShareCommitment.compute(namespace:data:)`). When it matches, the blob's reference carries
/// SHA-256 of the data, so a SHA-256 verifier accepts it; when it does not, the reference keeps the
/// node's share commitment, which cannot match, so the verifier re-reads and finally reports the
/// mismatch. `submit` returns SHA-256 of the submitted bytes as the commitment, so an
/// `EventPublisher`'s inclusion check with the SHA-256 scheme finds its blobs.
///
/// Use it where the verifying code cannot be given the share-commitment scheme; code that can should
/// use the backend directly with a `CommitmentScheme` computing share commitments.
public struct CelestiaSHA256View: DALayer {
    /// The backend viewed.
    public let base: any DALayer

    /// A view of `base` (normally a ``CelestiaDA``).
    public init(_ base: any DALayer) {
        self.base = base
    }

    /// Submits through the base; the reference's commitment is SHA-256 of `blob`.
    public func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference {
        var reference = try await base.submit(blob, to: namespace)
        reference.commitment = sha256(blob).bytes
        return reference
    }

    /// The base's blobs, each checked against its share commitment (see the type's documentation).
    public func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        try await base.blobs(of: namespace, at: height).map { blob in
            var blob = blob
            if ShareCommitment.compute(namespace: namespace, data: blob.data) == blob.reference.commitment {
                blob.reference.commitment = sha256(blob.data).bytes
            }
            return blob
        }
    }

    /// The base's head.
    public func head() async throws(DAError) -> UInt64 { try await base.head() }

    /// The base's wake-up stream.
    public func newHeights() -> AsyncStream<UInt64> { base.newHeights() }

    /// The base's health.
    public func health() async -> DAHealth { await base.health() }
}
