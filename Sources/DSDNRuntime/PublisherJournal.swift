import DSDNCore

/// An event accepted by the publisher, with the publisher-local id that names it in the journal.
public struct JournaledEvent: Hashable, Sendable {
    /// The publisher-local id, strictly increasing across restarts.
    public var id: UInt64
    /// The event.
    public var event: Event

    /// Creates a journaled event.
    public init(id: UInt64, event: Event) {
        self.id = id
        self.event = event
    }
}

/// A blob the publisher sealed (gave a sequence) before a restart, to be resubmitted with the same
/// sequence and the same events, hence the same bytes.
public struct SealedBatch: Hashable, Sendable {
    /// The blob's sequence.
    public var sequence: UInt64
    /// Its events, in order.
    public var events: [JournaledEvent]

    /// Creates a sealed batch.
    public init(sequence: UInt64, events: [JournaledEvent]) {
        self.sequence = sequence
        self.events = events
    }
}

/// What a journal holds that is not yet known to be on the DA, read back after a restart.
public struct JournalBacklog: Hashable, Sendable {
    /// Blobs sealed but not known to be included, by ascending sequence.
    public var sealed: [SealedBatch]
    /// Events accepted but not yet in a sealed blob, by ascending id.
    public var unsealed: [JournaledEvent]
    /// The highest event id ever recorded (0 for a new journal).
    public var lastEventID: UInt64

    /// Creates a backlog.
    public init(sealed: [SealedBatch] = [], unsealed: [JournaledEvent] = [], lastEventID: UInt64 = 0) {
        self.sealed = sealed
        self.unsealed = unsealed
        self.lastEventID = lastEventID
    }

    /// Whether nothing is outstanding.
    public var isEmpty: Bool { sealed.isEmpty && unsealed.isEmpty }

    /// Every outstanding event, sealed blobs first, in publishing order.
    public var events: [Event] { sealed.flatMap { $0.events.map(\.event) } + unsealed.map(\.event) }
}

/// The publisher's durable outbox: an event is acknowledged only after ``recordAccepted(_:)`` returned,
/// and a blob is submitted only after ``recordSealed(sequence:ids:)`` returned. After a crash the journal's
/// ``JournalBacklog`` is handed to ``EventPublisher/restore(_:appliedSequence:)``, which resubmits sealed
/// blobs with their original sequence (a copy that already landed is a duplicate, a no-op) and publishes
/// the rest. Implementations are called from the publisher's actor, one call at a time, and block until
/// the record is durable.
public protocol PublisherJournal: AnyObject, Sendable {
    /// Makes `events` durable.
    func recordAccepted(_ events: [JournaledEvent]) throws(RuntimeError)
    /// Makes durable that the events `ids` form the blob with `sequence`.
    func recordSealed(sequence: UInt64, ids: [UInt64]) throws(RuntimeError)
    /// Notes that the blob with `sequence` is on the DA (or, after a restart, was applied); its events
    /// no longer need the journal. May be lazy: losing this record only causes a harmless resubmission.
    func recordIncluded(sequence: UInt64) throws(RuntimeError)
}
