import Crypto

extension DerivedState {
    /// SHA-256 of the canonical encoding of the content state (docs/state-checksum.md): registered nodes
    /// sorted by id, then declared chunks sorted by hash with their replica entries sorted by index.
    ///
    /// Zones and per-node loads are derived from these records and so are covered by them. The delivery
    /// cursor is not included: it depends on how events were grouped into blobs, which the content does
    /// not (see `cursorDigest()`).
    public func checksum() -> Hash256 {
        var out = HashingWriter()
        out.writer.bytes.append(contentsOf: Array("DSDN-STATE".utf8))
        // Version 2 adds the policy registry after the chunks; a state that never saw a policy event is
        // encoded exactly as before (version 1), so checksums of such histories did not change.
        out.writer.u8(policies.isEmpty ? 1 : 2)

        let symbols = registeredSymbols()
        out.writer.u32(UInt32(symbols.count))
        for symbol in symbols {
            guard let record = nodes[Int(symbol)] else { continue }
            out.string(nodeNames[symbol])
            out.writer.flag(record.zone != nil)
            if let zone = record.zone { out.string(zoneNames[zone]) }
            out.string(record.addr)
            out.writer.u64(record.capacityBytes)
            out.writer.u8(record.status.rawValue)
            out.writer.flag(record.stats != nil)
            if let stats = record.stats {
                out.writer.u32(stats.cpuFreeMilli)
                out.writer.u64(stats.ramFreeMB)
                out.writer.u32(stats.gpuFreeMilli)
                out.writer.u32(stats.latencyMicros)
                out.writer.u32(stats.ioPressureMilli)
                out.writer.u64(stats.usedBytes)
                out.writer.u64(stats.reportedAtMillis)
            }
            out.flushIfLarge()
        }

        out.writer.u32(UInt32(chunks.count))
        var ordered = Array(chunks.entries.indices)
        ordered.sort { chunks.hash(at: $0) < chunks.hash(at: $1) }
        var entries: [Replica] = []
        for position in ordered {
            let record = chunks[position]
            out.writer.hash(chunks.hash(at: position))
            out.writer.u64(record.sizeBytes)
            out.writer.u8(record.replicationFactor)
            out.string(uploaderNames[record.uploader])
            out.writer.flag(record.daCommitment != nil)
            if let commitment = record.daCommitment { out.writer.hash(commitment) }
            entries.removeAll(keepingCapacity: true)
            entries.append(contentsOf: record.replicas)
            entries.sort { $0.index < $1.index }
            out.writer.u8(UInt8(entries.count))
            for replica in entries {
                out.writer.u8(replica.index)
                out.string(nodeNames[replica.node])
                out.writer.u64(replica.addedAtMillis)
                out.writer.flag(replica.isLost)
            }
            out.flushIfLarge()
        }
        if !policies.isEmpty { encodePolicies(into: &out) }
        return out.finish()
    }

    /// The registry section of encoding version 2 (docs/state-checksum.md §1).
    private func encodePolicies(into out: inout HashingWriter) {
        let versions = policies.sortedVersions()
        out.writer.u32(UInt32(versions.count))
        for info in versions {
            let release = info.release
            out.string(release.name)
            out.writer.u32(release.version)
            out.writer.u8(release.apiLevel)
            out.writer.hash(release.sourceHash)
            out.writer.u64(release.instructionBudget)
            out.writer.u64(release.memoryBudget)
            out.writer.u16(UInt16(release.parameters.count))
            for parameter in release.parameters { out.writer.parameter(parameter) }
            out.writer.u16(UInt16(info.values.count))
            for parameter in info.values { out.writer.parameter(parameter) }
            out.writer.hash(info.parametersDigest)
            out.writer.u32(info.parameterSets)
            out.flushIfLarge()
        }
        for activation in [policies.placement, policies.shadow] {
            out.writer.flag(activation != nil)
            if let activation {
                out.string(activation.name)
                out.writer.u32(activation.version)
            }
        }
        out.writer.u32(UInt32(policies.history.count))
        for entry in policies.history {
            out.writer.u8(entry.kind.rawValue)
            out.string(entry.name)
            out.writer.u32(entry.version)
            switch entry.kind {
            case .activated: out.writer.u8(entry.role?.rawValue ?? 0)
            case .published, .parametersSet: out.writer.hash(entry.digest ?? .zero)
            }
            out.flushIfLarge()
        }
    }

    /// SHA-256 of the canonical encoding of the delivery cursor: last position, per-publisher sequences
    /// sorted by publisher id, blob and event counters, and rejection counts per reason.
    public func cursorDigest() -> Hash256 {
        var out = HashingWriter()
        out.writer.bytes.append(contentsOf: Array("DSDN-CURSOR".utf8))
        out.writer.u8(1)
        out.writer.flag(cursor.lastPosition != nil)
        if let position = cursor.lastPosition {
            out.writer.u64(position.height)
            out.writer.u32(position.index)
        }
        let publishers = cursor.publisherSequences.sorted { utf8Precedes($0.key, $1.key) }
        out.writer.u32(UInt32(publishers.count))
        for (publisher, sequence) in publishers {
            out.string(publisher)
            out.writer.u64(sequence)
        }
        out.writer.u64(cursor.blobsApplied)
        out.writer.u64(cursor.blobsDuplicate)
        out.writer.u64(cursor.eventsApplied)
        for count in cursor.rejectionCounts.dropFirst() { out.writer.u64(count) }
        return out.finish()
    }
}

/// Streams canonical bytes into SHA-256 in 64 KiB pieces.
private struct HashingWriter {
    var writer = ByteWriter()
    var hasher = SHA256()

    mutating func string(_ value: String) {
        writer.u16(UInt16(truncatingIfNeeded: value.utf8.count))
        writer.bytes.append(contentsOf: value.utf8)
    }

    mutating func flushIfLarge() {
        guard writer.bytes.count >= 1 << 16 else { return }
        hasher.update(data: writer.bytes)
        writer.bytes.removeAll(keepingCapacity: true)
    }

    mutating func finish() -> Hash256 {
        hasher.update(data: writer.bytes)
        // A SHA-256 digest is always 32 bytes, so this initializer cannot fail.
        return Hash256(bytes: Array(hasher.finalize())) ?? .zero
    }
}

/// SHA-256 of `bytes` as a `Hash256`.
public func sha256(_ bytes: some Sequence<UInt8>) -> Hash256 {
    // A SHA-256 digest is always 32 bytes, so this initializer cannot fail.
    Hash256(bytes: Array(SHA256.hash(data: Array(bytes)))) ?? .zero
}
