import DSDNCore

/// Small builders shared by the test targets.
public enum Fixtures {
    /// A deterministic chunk hash whose bytes are all `byte`.
    public static func hash(_ byte: UInt8) -> Hash256 {
        // 32 bytes always make a hash, so this cannot fail.
        Hash256(bytes: [UInt8](repeating: byte, count: 32)) ?? .zero
    }

    /// A node registration with a valid address.
    public static func register(_ id: String, zone: String = "zone-a", capacity: UInt64 = 1 << 40) -> Event {
        .nodeRegistered(nodeID: id, zone: zone, addr: "10.0.0.1:7000", capacityBytes: capacity)
    }

    /// A chunk declaration with valid metadata.
    public static func declare(_ hash: Hash256, size: UInt64 = 1024, replicationFactor: UInt8 = 3, uploader: String = "alice") -> Event {
        .chunkDeclared(hash: hash, sizeBytes: size, replicationFactor: replicationFactor, uploaderID: uploader, daCommitment: nil)
    }

    /// A replica addition without provenance.
    public static func replica(_ hash: Hash256, on node: String, index: UInt8, at millis: UInt64 = 1_000) -> Event {
        .replicaAdded(hash: hash, nodeID: node, replicaIndex: index, addedAtMillis: millis, provenance: nil)
    }

    /// Applies events as one batch into a fresh machine and returns it; throws the first refusal.
    public static func machine(_ events: [Event]) throws -> StateMachine {
        var machine = StateMachine()
        try machine.apply(events: events)
        return machine
    }

    /// Feeds encoded blobs at consecutive heights starting at 1 and returns the machine.
    public static func machine(blobs: [[UInt8]]) -> StateMachine {
        var machine = StateMachine()
        for (offset, blob) in blobs.enumerated() {
            machine.apply(blob: blob, at: BlobPosition(height: UInt64(offset + 1), index: 0))
        }
        return machine
    }
}
