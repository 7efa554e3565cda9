import DSDNCore
import DSDNRuntime
import Glibc
import Synchronization
import SystemPackage

/// The publisher's durable outbox: one append-only file, `outbox.log`, in the coordinator's data
/// directory. Every record is fsync'd before the call returns, so an event acknowledged to a caller is
/// on disk before the caller hears about it.
///
/// **Records.** `u32 payload length ‖ 8 bytes of SHA-256(payload) ‖ payload`, big-endian. Payload kinds:
/// - `1 accepted`: `u32 n ‖ n × u64 id ‖ blob envelope` carrying the n events (the canonical codec, so
///   the events are validated on the way back in);
/// - `2 sealed`: `u64 sequence ‖ u32 n ‖ n × u64 id`;
/// - `3 included`: `u64 sequence`.
///
/// **Recovery.** A record cut short or with a bad checksum at the very end of the file is a torn tail
/// (a crash mid-write, before the caller was acknowledged) and is cut. A bad record followed by more
/// bytes is corruption: opening refuses with the file and offset, and nothing is lost by that refusal.
///
/// **Compaction.** Opening rewrites the file with only what is outstanding (write a temporary file,
/// fsync, rename, fsync the directory); when nothing is outstanding at run time the file is truncated.
///
/// Thread safety: every method may be called from any thread; a mutex serializes them.
public final class FileOutbox: PublisherJournal {
    /// The outbox file.
    public let path: String
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var descriptor: FileDescriptor?
        var size: Int64
        var accepted: [UInt64: Event]  // lookup only; order comes from the ids
        var sealed: [UInt64: [UInt64]]  // sequence -> ids; lookup only
        var sealedIDs: Set<UInt64>
        var lastEventID: UInt64
        /// Set when an fsync failed: what is on disk is unknown (Linux may have dropped the dirty pages
        /// and report success next time), so nothing more is written until a restart re-reads the file.
        var failStopped: String?
    }

    /// What opening found.
    public let backlog: JournalBacklog
    /// Bytes of a torn tail cut on open (0 when the file ended cleanly).
    public let tornBytesCut: Int64

    /// Opens (creating) the outbox in `directory`, recovers a torn tail, compacts, and reads the backlog.
    /// Throws `journalFailure` with the file and offset on corruption or an I/O error.
    public init(directory: String) throws(RuntimeError) {
        path = directory.hasSuffix("/") ? directory + "outbox.log" : directory + "/outbox.log"
        let loaded = try Self.load(path)
        tornBytesCut = loaded.torn
        var accepted: [UInt64: Event] = [:]
        var sealed: [UInt64: [UInt64]] = [:]
        var sealedIDs = Set<UInt64>()
        var order: [UInt64] = []
        for record in loaded.records {
            switch record {
            case let .accepted(events):
                for event in events {
                    accepted[event.id] = event.event
                    order.append(event.id)
                }
            case let .sealed(sequence, ids):
                sealed[sequence] = ids
                sealedIDs.formUnion(ids)
            case let .included(sequence):
                if let ids = sealed.removeValue(forKey: sequence) {
                    for id in ids {
                        accepted[id] = nil
                        sealedIDs.remove(id)
                    }
                }
            }
        }
        let sealedBatches = sealed.keys.sorted().map { sequence in
            SealedBatch(
                sequence: sequence,
                events: (sealed[sequence] ?? []).compactMap { id in accepted[id].map { JournaledEvent(id: id, event: $0) } })
        }
        let unsealed = order.filter { !sealedIDs.contains($0) }
            .compactMap { id in accepted[id].map { JournaledEvent(id: id, event: $0) } }
        backlog = JournalBacklog(sealed: sealedBatches, unsealed: unsealed, lastEventID: loaded.lastEventID)

        // Compact: rewrite only what is outstanding.
        var bytes: [UInt8] = []
        if !unsealed.isEmpty || !sealedBatches.isEmpty {
            let all = sealedBatches.flatMap(\.events) + unsealed
            try Self.appendRecord(&bytes, Self.acceptedPayload(all))
            for batch in sealedBatches {
                try Self.appendRecord(&bytes, Self.sealedPayload(batch.sequence, batch.events.map(\.id)))
            }
        }
        // Keep the highest id even when nothing is outstanding, so ids never repeat after a restart.
        if bytes.isEmpty, loaded.lastEventID > 0 {
            try Self.appendRecord(&bytes, Self.acceptedPayload([], lastID: loaded.lastEventID))
        }
        let descriptor = try Self.replace(path, with: bytes)
        state = Mutex(
            State(
                descriptor: descriptor, size: Int64(bytes.count), accepted: accepted,
                sealed: sealed, sealedIDs: sealedIDs, lastEventID: loaded.lastEventID, failStopped: nil))
    }

    deinit {
        state.withLock { try? $0.descriptor?.close() }
    }

    /// Events accepted and not yet included.
    public var outstandingCount: Int { state.withLock { $0.accepted.count } }

    /// The file's current size in bytes.
    public var fileSize: Int64 { state.withLock { $0.size } }

    // MARK: - PublisherJournal

    /// Appends and fsyncs an `accepted` record.
    public func recordAccepted(_ events: [JournaledEvent]) throws(RuntimeError) {
        guard !events.isEmpty else { return }
        let payload = try Self.acceptedPayload(events)
        try state.withLock { (state) throws(RuntimeError) in
            try append(&state, payload)
            for event in events {
                state.accepted[event.id] = event.event
                state.lastEventID = max(state.lastEventID, event.id)
            }
        }
    }

    /// Appends and fsyncs a `sealed` record.
    public func recordSealed(sequence: UInt64, ids: [UInt64]) throws(RuntimeError) {
        let payload = Self.sealedPayload(sequence, ids)
        try state.withLock { (state) throws(RuntimeError) in
            try append(&state, payload)
            state.sealed[sequence] = ids
            state.sealedIDs.formUnion(ids)
        }
    }

    /// Appends an `included` record, or truncates the file when nothing is outstanding any more.
    public func recordIncluded(sequence: UInt64) throws(RuntimeError) {
        try state.withLock { (state) throws(RuntimeError) in
            guard let ids = state.sealed.removeValue(forKey: sequence) else { return }
            for id in ids {
                state.accepted[id] = nil
                state.sealedIDs.remove(id)
            }
            if state.accepted.isEmpty {
                // Nothing outstanding: start the file afresh, keeping only the highest id.
                guard let descriptor = state.descriptor else { throw Self.failure(path, "the outbox is closed") }
                if let failStopped = state.failStopped { throw Self.failure(path, failStopped) }
                var bytes: [UInt8] = []
                try Self.appendRecord(&bytes, Self.acceptedPayload([], lastID: state.lastEventID))
                do {
                    try descriptor.resize(to: 0)
                    _ = try descriptor.writeAll(toAbsoluteOffset: 0, bytes)
                } catch {
                    throw Self.failure(path, "cannot rewrite: \(error)")
                }
                if fsync(descriptor.rawValue) != 0 {
                    // Only already-included events were dropped; what the file holds is not known now.
                    let reason = "an fsync failed (\(Errno(rawValue: errno))): the outbox stops writing until a restart re-reads it"
                    state.failStopped = reason
                    throw Self.failure(path, reason)
                }
                state.size = Int64(bytes.count)
            } else {
                // Lazy: an included record that is lost only causes a harmless resubmission.
                try append(&state, Self.includedPayload(sequence), sync: false)
            }
        }
    }

    // MARK: - File format

    private enum Record {
        case accepted([JournaledEvent])
        case sealed(UInt64, [UInt64])
        case included(UInt64)
    }

    private static let headerSize = 12

    private func append(_ state: inout State, _ payload: [UInt8], sync: Bool = true) throws(RuntimeError) {
        guard let descriptor = state.descriptor else { throw Self.failure(path, "the outbox is closed") }
        if let failStopped = state.failStopped { throw Self.failure(path, failStopped) }
        var bytes: [UInt8] = []
        try Self.appendRecord(&bytes, payload)
        do {
            _ = try descriptor.writeAll(toAbsoluteOffset: state.size, bytes)
        } catch {
            // Nothing or part of the record was written (a full disk): take it back off so the next
            // append starts at a record boundary, and let the caller try again later.
            try? descriptor.resize(to: state.size)
            throw Self.failure(path, "cannot append at offset \(state.size): \(error)")
        }
        if sync, fsync(descriptor.rawValue) != 0 {
            // The kernel may have dropped the record's pages or kept them: take the record back off so a
            // restart does not publish what was refused, and write nothing more until a restart re-reads
            // the file.
            let code = Errno(rawValue: errno)
            try? descriptor.resize(to: state.size)
            let reason = "an fsync failed (\(code)): the outbox stops writing until a restart re-reads it"
            state.failStopped = reason
            throw Self.failure(path, reason)
        }
        state.size += Int64(bytes.count)
    }

    private static func failure(_ path: String, _ message: String) -> RuntimeError {
        RuntimeError(.journalFailure, "outbox \(path): \(message)")
    }

    private static func appendRecord(_ bytes: inout [UInt8], _ payload: [UInt8]) throws(RuntimeError) {
        guard payload.count <= Int(UInt32.max) else { throw RuntimeError(.journalFailure, "outbox record too large") }
        putU32(&bytes, UInt32(payload.count))
        bytes.append(contentsOf: sha256(payload).bytes.prefix(8))
        bytes.append(contentsOf: payload)
    }

    private static func acceptedPayload(_ events: [JournaledEvent], lastID: UInt64? = nil) throws(RuntimeError) -> [UInt8] {
        var payload: [UInt8] = [1]
        // An empty accepted record may carry the highest id seen (as its single "id" with no event).
        if events.isEmpty, let lastID {
            putU32(&payload, 0)
            putU64(&payload, lastID)
            return payload
        }
        putU32(&payload, UInt32(events.count))
        for event in events { putU64(&payload, event.id) }
        do {
            payload += try BlobCodec.encode(BlobEnvelope(publisherID: "outbox", sequence: 0, events: events.map(\.event)))
        } catch {
            throw RuntimeError(.unpublishable, "event cannot be encoded: \(error)", cause: error)
        }
        return payload
    }

    private static func sealedPayload(_ sequence: UInt64, _ ids: [UInt64]) -> [UInt8] {
        var payload: [UInt8] = [2]
        putU64(&payload, sequence)
        putU32(&payload, UInt32(ids.count))
        for id in ids { putU64(&payload, id) }
        return payload
    }

    private static func includedPayload(_ sequence: UInt64) -> [UInt8] {
        var payload: [UInt8] = [3]
        putU64(&payload, sequence)
        return payload
    }

    private struct Loaded {
        var records: [Record] = []
        var torn: Int64 = 0
        var lastEventID: UInt64 = 0
    }

    private static func load(_ path: String) throws(RuntimeError) -> Loaded {
        let bytes: [UInt8]
        do {
            let descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
            defer { try? descriptor.close() }
            let size = try descriptor.seek(offset: 0, from: .end)
            var buffer = [UInt8](repeating: 0, count: Int(size))
            let read = try buffer.withUnsafeMutableBytes { try descriptor.read(fromAbsoluteOffset: 0, into: $0) }
            bytes = Array(buffer.prefix(read))
        } catch Errno.noSuchFileOrDirectory {
            return Loaded()
        } catch {
            throw failure(path, "cannot read: \(error)")
        }
        var loaded = Loaded()
        var offset = 0
        while offset < bytes.count {
            func corrupt(_ why: String) -> RuntimeError {
                failure(
                    path,
                    "corrupted record at offset \(offset): \(why); the outbox refuses to open (move the file aside only after publishing its events by other means)"
                )
            }
            guard offset + headerSize <= bytes.count else {
                loaded.torn = Int64(bytes.count - offset)
                break
            }
            let length = Int(getU32(bytes, offset))
            let end = offset + headerSize + length
            guard end <= bytes.count else {
                loaded.torn = Int64(bytes.count - offset)
                break
            }
            let payload = Array(bytes[(offset + headerSize)..<end])
            guard sha256(payload).bytes.prefix(8).elementsEqual(bytes[(offset + 4)..<(offset + 12)]) else {
                if end == bytes.count {
                    loaded.torn = Int64(bytes.count - offset)
                    break
                }
                throw corrupt("checksum mismatch")
            }
            guard let record = parse(payload, lastEventID: &loaded.lastEventID) else { throw corrupt("unreadable payload") }
            loaded.records.append(record)
            offset = end
        }
        return loaded
    }

    private static func parse(_ payload: [UInt8], lastEventID: inout UInt64) -> Record? {
        guard let kind = payload.first else { return nil }
        switch kind {
        case 1:
            guard payload.count >= 5 else { return nil }
            let count = Int(getU32(payload, 1))
            if count == 0 {
                guard payload.count == 13 else { return nil }
                lastEventID = max(lastEventID, getU64(payload, 5))
                return .accepted([])
            }
            let idsEnd = 5 + count * 8
            guard payload.count > idsEnd else { return nil }
            let ids = (0..<count).map { getU64(payload, 5 + $0 * 8) }
            guard let envelope = try? BlobCodec.decode(Array(payload[idsEnd...])), envelope.events.count == count else {
                return nil
            }
            lastEventID = max(lastEventID, ids.max() ?? 0)
            return .accepted(zip(ids, envelope.events).map { JournaledEvent(id: $0, event: $1) })
        case 2:
            guard payload.count >= 13 else { return nil }
            let count = Int(getU32(payload, 9))
            guard payload.count == 13 + count * 8 else { return nil }
            let sequence = getU64(payload, 1)
            return .sealed(sequence, (0..<count).map { getU64(payload, 13 + $0 * 8) })
        case 3:
            guard payload.count == 9 else { return nil }
            return .included(getU64(payload, 1))
        default:
            return nil
        }
    }

    /// Writes `bytes` to a temporary file, fsyncs it, renames it over `path`, fsyncs the directory and
    /// returns a descriptor on the new file, positioned for appends.
    private static func replace(_ path: String, with bytes: [UInt8]) throws(RuntimeError) -> FileDescriptor {
        let temporary = path + ".tmp"
        do {
            let out = try FileDescriptor.open(
                FilePath(temporary), .writeOnly, options: [.create, .truncate, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead])
            do {
                _ = try out.writeAll(bytes)
                guard fsync(out.rawValue) == 0 else { throw Errno(rawValue: errno) }
                try out.close()
            } catch {
                try? out.close()
                throw error
            }
            guard rename(temporary, path) == 0 else { throw Errno(rawValue: errno) }
            let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            let dir = try FileDescriptor.open(
                FilePath(directory.isEmpty ? "." : directory), .readOnly, options: [.directory, .closeOnExec])
            _ = fsync(dir.rawValue)
            try? dir.close()
            return try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec])
        } catch {
            throw failure(path, "cannot rewrite: \(error)")
        }
    }
}

@inline(__always) private func putU32(_ bytes: inout [UInt8], _ value: UInt32) {
    bytes.append(contentsOf: [
        UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value),
    ])
}

@inline(__always) private func putU64(_ bytes: inout [UInt8], _ value: UInt64) {
    putU32(&bytes, UInt32(value >> 32))
    putU32(&bytes, UInt32(truncatingIfNeeded: value))
}

@inline(__always) private func getU32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

@inline(__always) private func getU64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    UInt64(getU32(bytes, offset)) << 32 | UInt64(getU32(bytes, offset + 4))
}
