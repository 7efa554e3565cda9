/// Why an event was refused. Messages keep the prototype's wording (its tests matched substrings).
public struct ApplyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of refusal.
    public enum Code: String, Sendable, Hashable {
        /// A field failed validation.
        case invalidField = "invalid_field"
        /// A chunk was re-declared with different metadata.
        case conflict
        /// The event names a chunk that is not declared.
        case unknownChunk = "unknown_chunk"
        /// The event names a node that is not registered.
        case unknownNode = "unknown_node"
        /// A replica index is held by another node.
        case replicaIndexInUse = "replica_index_in_use"
        /// The node already holds a replica of the chunk under another index.
        case nodeAlreadyHoldsChunk = "node_already_holds_chunk"
        /// The node is down and cannot take a replica.
        case nodeDown = "node_down"
        /// The event names a policy version that is not published.
        case unknownPolicy = "unknown_policy"
    }

    /// The class.
    public var code: Code
    /// What is wrong, for an operator.
    public var message: String
    /// The position of the failing event in its batch, when applied as part of one.
    public var eventIndex: Int?

    /// Creates an error.
    public init(_ code: Code, _ message: String, eventIndex: Int? = nil) {
        self.code = code
        self.message = message
        self.eventIndex = eventIndex
    }

    /// `message` with the event position when known.
    public var description: String {
        eventIndex.map { "event \($0): \(message)" } ?? message
    }
}

/// What happened to a blob offered to the state machine.
public enum BlobOutcome: Hashable, Sendable {
    /// All its events were applied.
    case applied(events: Int)
    /// Its (publisher, sequence) was already applied: a resubmission or a copy. Nothing changed.
    case duplicate
    /// It was refused as a whole; the state is exactly as before, and the refusal is counted.
    case rejected(BlobRejection)
    /// Its position is not after the last position considered; the caller's order is wrong. Nothing
    /// changed and nothing was counted.
    case outOfOrder
}

/// The deterministic, idempotent event processor: the pure "instance" at the center of the coordinator.
///
/// Same blobs at the same positions give the same state and the same checksum in every process. A blob
/// is applied all-or-nothing: each mutation records its inverse in a journal, and a failing event rolls
/// the journal back.
public struct StateMachine: Sendable {
    /// The derived state.
    public private(set) var state = DerivedState()

    private var journal: [Undo] = []
    private var journaling = false
    /// Superseded placements in the batch being applied; added to the cursor only if the batch commits.
    private var pendingSuperseded: UInt64 = 0
    /// Placements (`ReplicaAdded` with provenance) in the batch being applied.
    private var batchPlacements = 0
    /// The publisher of the last blob `apply(blob:at:)` applied and how many placements (`ReplicaAdded`
    /// with provenance) it carried. Not part of the state: it tells a runtime which publishers place.
    public private(set) var lastAppliedBlob: (publisherID: String, placements: Int)?

    private enum Undo: Sendable {
        case node(UInt32, NodeRecord?)
        case chunk(Hash256, ChunkRecord?)
        case policies(PolicyRegistry)
    }

    /// A machine with an empty state.
    public init() {}

    // MARK: Blobs (the DA path)

    /// Decodes and applies one blob found at `position` of the DA. Never throws: every refusal is a
    /// recorded, deterministic outcome, so a bad blob never stops the stream.
    @discardableResult
    public mutating func apply(blob: [UInt8], at position: BlobPosition) -> BlobOutcome {
        if let last = state.cursor.lastPosition, position <= last { return .outOfOrder }
        state.cursor.lastPosition = position
        let envelope: BlobEnvelope
        do {
            envelope = try BlobCodec.decode(blob)
        } catch {
            return reject(position, error.reason, error.description)
        }
        do {
            try Validation.identifier(envelope.publisherID, field: "publisher_id")
        } catch {
            return reject(position, .malformed, error.message)
        }
        if let applied = state.cursor.publisherSequences[envelope.publisherID], envelope.sequence <= applied {
            state.cursor.blobsDuplicate += 1
            return .duplicate
        }
        do {
            try apply(events: envelope.events)
        } catch {
            let rejection = BlobRejection(
                position: position, reason: .invalidEvent,
                message: "publisher \(envelope.publisherID) sequence \(envelope.sequence): \(error)",
                publisherID: envelope.publisherID, sequence: envelope.sequence, eventIndex: error.eventIndex)
            state.cursor.recordRejection(rejection)
            return .rejected(rejection)
        }
        state.cursor.publisherSequences[envelope.publisherID] = envelope.sequence
        state.cursor.blobsApplied += 1
        lastAppliedBlob = (envelope.publisherID, batchPlacements)
        return .applied(events: envelope.events.count)
    }

    private mutating func reject(_ position: BlobPosition, _ reason: RejectionReason, _ message: String) -> BlobOutcome {
        let rejection = BlobRejection(position: position, reason: reason, message: message)
        state.cursor.recordRejection(rejection)
        return .rejected(rejection)
    }

    // MARK: Events

    /// Applies a batch of events all-or-nothing: if one fails, the state is left exactly as before and
    /// the error names the failing event's index.
    public mutating func apply(events: [Event]) throws(ApplyError) {
        journal.removeAll(keepingCapacity: true)
        journaling = true
        pendingSuperseded = 0
        batchPlacements = 0
        defer { journaling = false }
        for (index, event) in events.enumerated() {
            do {
                try apply(event)
            } catch {
                rollBack()
                var located = error
                located.eventIndex = index
                throw located
            }
        }
        state.cursor.eventsApplied += UInt64(events.count)
        state.cursor.placementsSuperseded += pendingSuperseded
    }

    /// Applies one event (a batch of one).
    public mutating func apply(event: Event) throws(ApplyError) {
        try apply(events: [event])
    }

    /// Checks whether `events` would apply as one batch after `pending` (batches accepted earlier and
    /// not applied yet; a pending batch that would fail is skipped, as the DA would reject it), and
    /// leaves the state exactly as it was. Throws the error `apply(events:)` would throw for `events`.
    public mutating func dryRun(_ events: [Event], after pending: [[Event]] = []) throws(ApplyError) {
        journal.removeAll(keepingCapacity: true)
        journaling = true
        defer {
            rollBack()
            journaling = false
        }
        for batch in pending {
            let mark = journal.count
            do {
                for event in batch { try apply(event) }
            } catch {
                rollBack(to: mark)
            }
        }
        for (index, event) in events.enumerated() {
            do {
                try apply(event)
            } catch {
                var located = error
                located.eventIndex = index
                throw located
            }
        }
    }

    private mutating func rollBack(to mark: Int = 0) {
        while journal.count > mark, let entry = journal.popLast() {
            switch entry {
            case let .node(symbol, record): setNode(symbol, record, journal: false)
            case let .chunk(hash, record): setChunk(hash, record, journal: false)
            case let .policies(registry): state.policies = registry
            }
        }
    }

    private mutating func apply(_ event: Event) throws(ApplyError) {
        switch event {
        case let .nodeRegistered(nodeID, zone, addr, capacity):
            try Validation.identifier(nodeID, field: "node_id")
            try Validation.identifier(zone, field: "zone")
            try Validation.address(addr)
            let symbol = internNode(nodeID)
            let zoneSymbol = state.zoneNames.intern(zone)
            var record =
                state.nodes[Int(symbol)]
                ?? NodeRecord(zone: zoneSymbol, addr: addr, capacityBytes: capacity, status: .active, stats: nil)
            record.zone = zoneSymbol
            record.addr = addr
            record.capacityBytes = capacity
            if record != state.nodes[Int(symbol)] { setNode(symbol, record) }

        case let .nodeUnregistered(nodeID):
            try Validation.identifier(nodeID, field: "node_id")
            guard let symbol = state.nodeNames.lookup(nodeID), state.nodes[Int(symbol)] != nil else { return }
            markReplicasLost(onNode: symbol)
            setNode(symbol, nil)

        case let .chunkDeclared(hash, size, replicationFactor, uploader, commitment):
            guard size > 0 else { throw ApplyError(.invalidField, "size_bytes must be greater than 0") }
            guard replicationFactor > 0 else {
                throw ApplyError(.invalidField, "replication_factor must be greater than 0")
            }
            guard replicationFactor <= Limits.maxReplicationFactor else {
                throw ApplyError(
                    .invalidField, "replication_factor \(replicationFactor) is over the limit of \(Limits.maxReplicationFactor)")
            }
            try Validation.identifier(uploader, field: "uploader_id")
            if let existing = state.chunks[hash] {
                let same =
                    existing.sizeBytes == size && existing.replicationFactor == replicationFactor
                    && state.uploaderNames[existing.uploader] == uploader && existing.daCommitment == commitment
                guard same else {
                    throw ApplyError(.conflict, "conflict: chunk \(hash) is already declared with different metadata")
                }
                return
            }
            let record = ChunkRecord(
                sizeBytes: size, uploader: state.uploaderNames.intern(uploader),
                replicationFactor: replicationFactor, daCommitment: commitment)
            setChunk(hash, record)

        case let .chunkRemoved(hash):
            if let slot = state.chunks.slot(of: hash) { setChunk(hash, nil, at: slot) }

        case let .replicaAdded(hash, nodeID, index, addedAt, provenance):
            // A registered node's id was validated when it was registered: check only unknown ones.
            let knownSymbol = state.nodeNames.lookup(nodeID)
            if knownSymbol == nil { try Validation.identifier(nodeID, field: "node_id") }
            // A scheduler's placement (it carries provenance) that lost a race to an earlier one is a
            // counted no-op, never an error: the first placement of a replica slot wins (first-wins).
            let isPlacement = provenance != nil
            if isPlacement { batchPlacements += 1 }
            guard let position = state.chunks.slot(of: hash) else {
                if isPlacement {
                    pendingSuperseded += 1
                    return
                }
                throw ApplyError(.unknownChunk, "chunk \(hash) does not exist")
            }
            guard let symbol = knownSymbol, let status = status(ofNode: symbol) else {
                if isPlacement {
                    pendingSuperseded += 1
                    return
                }
                throw ApplyError(.unknownNode, "node \(nodeID) does not exist")
            }
            guard status != .down else {
                if isPlacement {
                    pendingSuperseded += 1
                    return
                }
                throw ApplyError(.nodeDown, "node \(nodeID) is down")
            }
            // Read in place: the one copy of the record is the journal's.
            let replicationFactor = state.chunks[position].replicationFactor
            guard index < replicationFactor else {
                throw ApplyError(.invalidField, "replica_index \(index) is out of range for replication_factor \(replicationFactor)")
            }
            let own = state.chunks[position].replicas.firstIndex(ofNode: symbol)
            if let own, case let held = state.chunks[position].replicas[own], !held.isLost {
                if held.index == index {
                    if isPlacement { pendingSuperseded += 1 }
                    return
                }
                if isPlacement {
                    pendingSuperseded += 1
                    return
                }
                throw ApplyError(
                    .nodeAlreadyHoldsChunk, "node \(nodeID) already holds replica index \(held.index) of chunk \(hash)")
            }
            if let holder = state.chunks[position].replicas.first(where: { $0.index == index && !$0.isLost }) {
                if isPlacement {
                    pendingSuperseded += 1
                    return
                }
                throw ApplyError(
                    .replicaIndexInUse, "replica index \(index) of chunk \(hash) is already used by node \(state.nodeNames[holder.node])")
            }
            let replica = Replica(node: symbol, addedAtMillis: addedAt, index: index, isLost: false)
            updateChunk(at: position, live: LiveChange(node: symbol, sign: 1)) { record in
                if let own { record.replicas[own] = replica } else { record.replicas.append(replica) }
                // A lost entry whose index is now taken again has been replaced: drop it.
                if let replaced = record.replicas.firstIndex(where: { $0.index == index && $0.isLost && $0.node != symbol }) {
                    record.replicas.remove(at: replaced)
                }
            }

        case let .replicaRemoved(hash, nodeID):
            try Validation.identifier(nodeID, field: "node_id")
            guard let slot = state.chunks.slot(of: hash), let symbol = state.nodeNames.lookup(nodeID),
                let entry = state.chunks[slot].replicas.firstIndex(ofNode: symbol)
            else { return }
            let wasLive = !state.chunks[slot].replicas[entry].isLost
            updateChunk(at: slot, live: wasLive ? LiveChange(node: symbol, sign: -1) : nil) { $0.replicas.remove(at: entry) }

        case let .zoneAssigned(zone, nodeID):
            try Validation.identifier(zone, field: "zone")
            try Validation.identifier(nodeID, field: "node_id")
            guard let symbol = state.nodeNames.lookup(nodeID), var record = state.nodes[Int(symbol)] else {
                throw ApplyError(.unknownNode, "node \(nodeID) does not exist")
            }
            let zoneSymbol = state.zoneNames.intern(zone)
            guard record.zone != zoneSymbol else { return }
            record.zone = zoneSymbol
            setNode(symbol, record)

        case let .zoneUnassigned(zone, nodeID):
            try Validation.identifier(zone, field: "zone")
            try Validation.identifier(nodeID, field: "node_id")
            guard let symbol = state.nodeNames.lookup(nodeID), var record = state.nodes[Int(symbol)],
                let zoneSymbol = state.zoneNames.lookup(zone), record.zone == zoneSymbol
            else { return }
            record.zone = nil
            setNode(symbol, record)

        case let .nodeStatsReported(nodeID, stats):
            try Validation.identifier(nodeID, field: "node_id")
            guard let symbol = state.nodeNames.lookup(nodeID), var record = state.nodes[Int(symbol)] else {
                throw ApplyError(.unknownNode, "node \(nodeID) does not exist")
            }
            // A report older than the one held is stale: keep the newer figures.
            if let current = record.stats, current.reportedAtMillis > stats.reportedAtMillis { return }
            guard record.stats != stats else { return }
            record.stats = stats
            setNode(symbol, record)

        case let .nodeStatusChanged(nodeID, status):
            try Validation.identifier(nodeID, field: "node_id")
            guard let symbol = state.nodeNames.lookup(nodeID), var record = state.nodes[Int(symbol)] else {
                throw ApplyError(.unknownNode, "node \(nodeID) does not exist")
            }
            guard record.status != status else { return }
            if status == .down { markReplicasLost(onNode: symbol) }
            record.status = status
            setNode(symbol, record)

        case let .policyPublished(release):
            try changePolicies { registry, height throws(ApplyError) in try registry.publish(release, height: height) }

        case let .policyActivated(name, version, role):
            try changePolicies { registry, height throws(ApplyError) in
                try registry.activate(name: name, version: version, role: role, height: height)
            }

        case let .policyParamsSet(name, version, parameters):
            try changePolicies { registry, height throws(ApplyError) in
                try registry.setParameters(name: name, version: version, parameters, height: height)
            }
        }
    }

    /// Changes the policy registry through a copy (checks run before anything changes), journaling the
    /// registry as it was when the change is real.
    private mutating func changePolicies(
        _ change: (inout PolicyRegistry, UInt64?) throws(ApplyError) -> Bool
    ) throws(ApplyError) {
        var registry = state.policies
        guard try change(&registry, state.cursor.lastPosition?.height) else { return }
        if journaling { journal.append(.policies(state.policies)) }
        state.policies = registry
    }

    // MARK: Primitive mutations (the only writers of node and chunk records)

    private mutating func internNode(_ id: String) -> UInt32 {
        let symbol = state.nodeNames.intern(id)
        if Int(symbol) == state.nodes.count {
            state.nodes.append(nil)
            state.loads.append(NodeLoad())
            state.nodeChunks.addSet()
        }
        return symbol
    }

    private mutating func setNode(_ symbol: UInt32, _ record: NodeRecord?, journal: Bool = true) {
        let old = state.nodes[Int(symbol)]
        if journal && journaling { self.journal.append(.node(symbol, old)) }
        state.registeredNodeCount += (record != nil ? 1 : 0) - (old != nil ? 1 : 0)
        state.nodes[Int(symbol)] = record
    }

    /// Writes a chunk record and keeps the per-node loads and chunk index in step with its live replicas.
    /// The one writer of `chunks`, so undo through it restores the derived indexes too.
    private mutating func setChunk(_ hash: Hash256, _ record: ChunkRecord?, journal: Bool = true) {
        setChunk(hash, record, at: state.chunks.slot(of: hash), journal: journal)
    }

    /// `setChunk` for a chunk whose storage slot is known (`nil`: not stored), saving the lookup.
    private mutating func setChunk(_ hash: Hash256, _ record: ChunkRecord?, at position: Int?, journal: Bool = true) {
        let old = position.map { state.chunks[$0] }
        if journal && journaling { self.journal.append(.chunk(hash, old)) }
        let wasUnder = old?.isUnderReplicated ?? false
        let isUnder = record?.isUnderReplicated ?? false
        switch (position, record) {
        case let (position?, record?):
            if wasUnder != isUnder { markUnderReplicated(UInt32(position), isUnder) }
            relink(from: old ?? state.chunks[position], to: record, slot: position)
            state.chunks[position] = record
        case let (position?, nil):
            if wasUnder { state.underReplicated.remove(UInt32(position), from: 0) }
            link(state.chunks[position], slot: position, sign: -1)
            // The last entry moves into the hole (storage order is never observable): re-point its
            // nodes' indexes and its under-replicated mark at the new slot.
            let last = state.chunks.count - 1
            if position != last {
                let moved = state.chunks[last]
                link(moved, slot: last, sign: -1)
                if state.underReplicated.remove(UInt32(last), from: 0) { state.underReplicated.insert(UInt32(position), into: 0) }
                state.chunks.remove(at: position)
                link(moved, slot: position, sign: 1)
            } else {
                state.chunks.remove(at: position)
            }
        case let (nil, record?):
            let slot = state.chunks.append(hash, record)
            if isUnder { state.underReplicated.insert(UInt32(slot), into: 0) }
            link(record, slot: slot, sign: 1)
        case (nil, nil):
            break
        }
    }

    private mutating func markUnderReplicated(_ slot: UInt32, _ isUnder: Bool) {
        if isUnder { state.underReplicated.insert(slot, into: 0) } else { state.underReplicated.remove(slot, from: 0) }
    }

    /// Adds (`sign` 1) or removes (`sign` -1) a chunk's live replicas from its nodes' loads and indexes.
    private mutating func link(_ record: ChunkRecord, slot: Int, sign: Int) {
        for replica in record.replicas where !replica.isLost {
            changeLive(node: replica.node, slot: slot, size: record.sizeBytes, sign: sign)
        }
    }

    /// Updates loads and indexes for a rewrite of the chunk at `slot`, touching only the nodes whose
    /// replica changed liveness (a replica update usually changes one node out of three).
    private mutating func relink(from old: ChunkRecord, to new: ChunkRecord, slot: Int) {
        guard old.sizeBytes == new.sizeBytes else {
            link(old, slot: slot, sign: -1)
            link(new, slot: slot, sign: 1)
            return
        }
        for replica in old.replicas where !replica.isLost {
            guard !new.replicas.contains(where: { $0.node == replica.node && !$0.isLost }) else { continue }
            changeLive(node: replica.node, slot: slot, size: new.sizeBytes, sign: -1)
        }
        for replica in new.replicas where !replica.isLost {
            guard !old.replicas.contains(where: { $0.node == replica.node && !$0.isLost }) else { continue }
            changeLive(node: replica.node, slot: slot, size: new.sizeBytes, sign: 1)
        }
    }

    /// A node's replica of the chunk in `slot` became live (`sign` 1) or stopped being live (-1).
    @inline(__always)
    private mutating func changeLive(node symbol: UInt32, slot: Int, size: UInt64, sign: Int) {
        let node = Int(symbol)
        if sign > 0 {
            state.loads[node].storedBytes &+= size
            state.loads[node].liveReplicas &+= 1
            state.nodeChunks.insert(UInt32(slot), into: node)
        } else {
            state.loads[node].storedBytes &-= size
            state.loads[node].liveReplicas &-= 1
            state.nodeChunks.remove(UInt32(slot), from: node)
        }
    }

    private mutating func markReplicasLost(onNode symbol: UInt32) {
        // Visiting order is the set's, which is safe: each visit rewrites a different chunk in place, so
        // the updates commute and no slot moves. The set holds exactly the chunks with a live replica here.
        for slot in state.nodeChunks.members(of: Int(symbol)) {
            let position = Int(slot)
            guard let entry = state.chunks[position].replicas.firstIndex(ofNode: symbol) else {
                preconditionFailure("node index lists chunk \(state.chunks.hash(at: position)) without a replica")
            }
            updateChunk(at: position, live: LiveChange(node: symbol, sign: -1)) { $0.replicas[entry].isLost = true }
        }
    }

    private func status(ofNode symbol: UInt32) -> NodeStatus? {
        // Through the buffer: reading a field must not copy the record (its strings would be retained).
        state.nodes.withUnsafeBufferPointer { $0[Int(symbol)]?.status }
    }

    /// A node whose replica of a chunk became live (`sign` 1) or stopped being live (-1).
    private struct LiveChange: Equatable {
        var node: UInt32
        var sign: Int8
    }

    /// Rewrites the chunk in `slot` in place; the journal keeps the one copy of the old record. The
    /// caller says whose replica changed liveness (at most one node per event), so loads and indexes are
    /// updated directly; debug builds check that claim against the records.
    private mutating func updateChunk(at slot: Int, live: LiveChange?, _ change: (inout ChunkRecord) -> Void) {
        let old = state.chunks[slot]
        if journaling { journal.append(.chunk(state.chunks.hash(at: slot), old)) }
        change(&state.chunks[slot])
        assert(Self.liveChange(from: old, to: state.chunks[slot]) == live, "live change misstated")
        if let live { changeLive(node: live.node, slot: slot, size: old.sizeBytes, sign: Int(live.sign)) }
        let isUnder = state.chunks[slot].isUnderReplicated
        if old.isUnderReplicated != isUnder { markUnderReplicated(UInt32(slot), isUnder) }
    }

    private static func liveChange(from old: ChunkRecord, to new: ChunkRecord) -> LiveChange? {
        func liveNodes(_ record: ChunkRecord) -> Set<UInt32> { Set(record.replicas.filter { !$0.isLost }.map(\.node)) }
        let before = liveNodes(old)
        let after = liveNodes(new)
        let gained = after.subtracting(before)
        let lost = before.subtracting(after)
        switch (gained.count, lost.count) {
        case (0, 0): return nil
        case (1, 0): return LiveChange(node: gained.first ?? 0, sign: 1)
        case (0, 1): return LiveChange(node: lost.first ?? 0, sign: -1)
        default: return LiveChange(node: .max, sign: 0)
        }
    }
}

/// Field validation with the prototype's wording.
public enum Validation {
    /// An identifier (node id, zone, uploader, publisher): 1 to 128 bytes of printable ASCII without
    /// whitespace. ASCII-only keeps ids byte-comparable: Swift's `String` equality would otherwise merge
    /// canonically-equivalent Unicode spellings that encode to different bytes.
    public static func identifier(_ value: String, field: String) throws(ApplyError) {
        let utf8 = value.utf8
        guard !utf8.isEmpty else { throw ApplyError(.invalidField, "\(field) is empty") }
        if utf8.allSatisfy({ $0 == 0x20 || (0x09...0x0D).contains($0) }) {
            throw ApplyError(.invalidField, "\(field) is whitespace-only")
        }
        guard utf8.count <= Limits.maxIdentifierBytes else {
            throw ApplyError(.invalidField, "\(field) is longer than \(Limits.maxIdentifierBytes) bytes")
        }
        guard utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ApplyError(.invalidField, "\(field) must be printable ASCII without whitespace: \(value.debugDescription)")
        }
    }

    /// A `host:port` address of at most 255 bytes, split at the last colon: a non-empty printable-ASCII
    /// host and a decimal port in 0...65535.
    public static func address(_ value: String) throws(ApplyError) {
        let utf8 = Array(value.utf8)
        guard utf8.count <= Limits.maxAddressBytes else {
            throw ApplyError(.invalidField, "addr is longer than \(Limits.maxAddressBytes) bytes")
        }
        guard let colon = utf8.lastIndex(of: UInt8(ascii: ":")) else {
            throw ApplyError(.invalidField, "addr \(value.debugDescription) must be host:port")
        }
        let host = utf8[..<colon]
        let port = utf8[(colon + 1)...]
        guard !host.isEmpty else {
            throw ApplyError(.invalidField, "addr \(value.debugDescription) has an empty host (expected host:port)")
        }
        guard host.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ApplyError(.invalidField, "addr \(value.debugDescription) host must be printable ASCII (expected host:port)")
        }
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ (0x30...0x39).contains($0) }),
            let number = Int(String(decoding: port, as: UTF8.self)), number <= 65535
        else {
            throw ApplyError(.invalidField, "addr \(value.debugDescription) has an invalid port (expected host:port with port 0-65535)")
        }
    }
}
