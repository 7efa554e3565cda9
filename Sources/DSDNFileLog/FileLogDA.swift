import DSDNCore
import DSDNDA
import Synchronization

/// The embedded, crash-safe file-log DA backend: an append-only log of checksummed records in a
/// directory of segment files (`docs/file-log.md` gives the byte layout, the recovery rules, the locking
/// and what fsync guarantees).
///
/// - ``init(directory:options:)`` opens the **writer**: it takes the exclusive `flock` on `LOCK`,
///   verifies every record, truncates a torn tail (reported in ``recovery``) and refuses to open on
///   corruption anywhere else. ``submit(_:to:)`` and ``submit(batch:)`` return only after `fsync`.
/// - ``openReadOnly(directory:options:)`` opens a **follower** that takes no lock, never writes, and
///   picks up what a writer (in this or another process) appended whenever ``head()``, a read of a
///   height beyond the known head, ``health()`` or a ``newHeights()`` poll asks for it.
/// - ``openShared(directory:options:)`` opens a **shared writer**: one of several instances (in any
///   processes) that take turns appending to the same directory. Between appends it holds no lock and
///   follows the log like a follower. Each ``submit(_:to:)`` / ``submit(batch:)`` takes the exclusive
///   `flock` on `LOCK` (waiting up to ``Options/lockWaitTimeout``), catches up with what the others
///   committed, cuts a torn tail a crashed writer left (reported in ``recoveries``), appends the batch as
///   the next height with one `fsync`, and releases the lock.
///
/// Every `submit` creates a new height holding its blob at index 0, like ``MemoryDA``; a batch is one
/// height whose blobs are indexed per namespace in submission order. Commitments are SHA-256 of the
/// data.
///
/// **Why a `final class` with two mutexes and not an actor.** All I/O here is blocking system calls
/// (`pwrite`, `fsync`, `pread`); an actor would run them on its executor just the same, but it would
/// also queue every read behind a batch's `fsync`. Here reads take the index mutex only for a lookup
/// and then `pread` outside any lock, on bytes that were fsynced before they were published, so readers
/// run in parallel with each other and with a writer's `fsync`. The writer mutex serializes appends (and
/// a follower's re-scans); lock order is always writer → index (a shared writer takes the `LOCK` flock
/// before both, waiting for it suspended and holding neither). The class also lets ``newHeights()``,
/// ``close()`` and ``recovery`` be synchronous. The cost: a submit blocks its thread for the
/// duration of `write` + `fsync` (as it would in an actor), and a second concurrent submitter blocks
/// on the mutex instead of suspending; the coordinator has one publisher task, so this does not arise.
public final class FileLogDA: DALayer, Sendable {
    /// Tunables of a file log.
    public struct Options: Sendable, Hashable {
        /// The default segment size: 64 MiB.
        public static let defaultSegmentSize: Int64 = 64 * 1024 * 1024
        /// The default cap on a blob: 2 MiB, the memory backend's.
        public static let defaultMaxBlobSize = 2 * 1024 * 1024

        /// A new segment is started before a batch that would take the current one past this size
        /// (a batch is never split, so a single batch larger than this makes a larger segment).
        public var segmentSize: Int64
        /// The largest blob a submit accepts (at most ``FileLogFormat/maxPayloadLength``).
        public var maxBlobSize: Int
        /// How often a follower's (or a shared writer's) ``FileLogDA/newHeights()`` stream checks the
        /// segment's size.
        public var pollInterval: Duration
        /// How long a shared writer's submit waits for the `LOCK` file's `flock` before it gives up with
        /// `.unavailable` (default 10 s; `.zero` tries once). Only ``FileLogDA/openShared(directory:options:)``
        /// instances wait: the exclusive writer's open waits ``openLockWait``.
        public var lockWaitTimeout: Duration
        /// How long the exclusive writer's open waits for a held lock before it refuses (default 2 s;
        /// `.zero` tries once). A writer closed a moment ago can still hold the lock for a short while:
        /// `flock` belongs to the open file, and a child process that this process forked while the log
        /// was open keeps a copy of the descriptor until it reaches `exec` (close-on-exec closes it then).
        public var openLockWait: Duration

        /// Creates options; `segmentSize` must be positive, `maxBlobSize` within the format's limit,
        /// `pollInterval` positive and `lockWaitTimeout` not negative.
        public init(
            segmentSize: Int64 = Options.defaultSegmentSize, maxBlobSize: Int = Options.defaultMaxBlobSize,
            pollInterval: Duration = .milliseconds(200), lockWaitTimeout: Duration = .seconds(10),
            openLockWait: Duration = .seconds(2)
        ) {
            precondition(segmentSize > 0, "segmentSize must be positive")
            precondition(
                maxBlobSize >= 0 && maxBlobSize <= FileLogFormat.maxPayloadLength,
                "maxBlobSize must be within 0...\(FileLogFormat.maxPayloadLength)")
            precondition(pollInterval > .zero, "pollInterval must be positive")
            precondition(lockWaitTimeout >= .zero, "lockWaitTimeout must not be negative")
            precondition(openLockWait >= .zero, "openLockWait must not be negative")
            self.openLockWait = openLockWait
            self.segmentSize = segmentSize
            self.maxBlobSize = maxBlobSize
            self.pollInterval = pollInterval
            self.lockWaitTimeout = lockWaitTimeout
        }
    }

    /// What a writer cut off the end of the log: the exclusive writer when it opened, or a shared writer,
    /// under the lock, before one of its appends.
    public struct Recovery: Sendable, Hashable, CustomStringConvertible {
        /// The segment file that was truncated (full path).
        public var file: String
        /// The byte offset it was truncated to: the start of the first record removed.
        public var offset: Int64
        /// How many bytes were removed.
        public var bytes: Int64
        /// How many complete, valid records were removed with it: those of an unfinished batch (their
        /// height had no commit record, so the batch was never acknowledged).
        public var completeRecordsDropped: Int
        /// Why, in one line.
        public var reason: String

        /// One line for an operator.
        public var description: String {
            "truncated \(file) to byte offset \(offset), removing \(bytes) bytes: \(reason)"
        }
    }

    /// The log directory, as given.
    public let directory: String
    /// The options the log was opened with.
    public let options: Options
    /// Whether this instance is a read-only follower.
    public let isReadOnly: Bool
    /// Whether this instance is a shared writer (``openShared(directory:options:)``).
    public let isShared: Bool
    /// What the exclusive writer truncated when it opened, or `nil` when the log ended cleanly (always
    /// `nil` for a follower, which never writes, and for a shared writer, which cuts only under the lock
    /// before an append: see ``recoveries``).
    public let recovery: Recovery?

    /// Every truncation this instance made, oldest first: for the exclusive writer at most one, the same
    /// as ``recovery``; for a shared writer one per torn or unfinished tail (left by a writer that crashed
    /// mid-append) that it cut under the lock before appending; always empty for a follower.
    public var recoveries: [Recovery] { tail.withLock { $0.recoveries } }

    /// Calls `observer` with every later truncation (a shared writer cutting a crashed writer's tail),
    /// on the appending thread, right after it; a coordinator logs them. Replaces an earlier observer.
    public func observeRecoveries(_ observer: @escaping @Sendable (Recovery) -> Void) {
        recoveryObserver.withLock { $0 = observer }
    }

    private let recoveryObserver = Mutex<(@Sendable (Recovery) -> Void)?>(nil)

    private enum Mode { case writer, follower, shared }
    private let mode: Mode
    /// Whether this instance follows appends made by others (a follower or a shared writer).
    private var follows: Bool { mode != .writer }

    private let index: Mutex<IndexState>
    private let tail: Mutex<TailState>
    private let broadcaster = HeightBroadcaster()

    /// Test seam: when set, a shared append calls it while it holds the `LOCK` flock, after catching up
    /// and cutting any torn tail, right before it writes its batch.
    let sharedAppendProbe = Mutex<(@Sendable () -> Void)?>(nil)

    // MARK: - Opening

    /// Opens (creating it if needed) the log in `directory` as its single, exclusive writer, holding the
    /// `LOCK` flock until ``close()`` (see ``openShared(directory:options:)`` for writers that take turns).
    ///
    /// Throws `.unavailable` when another writer holds the lock or the directory cannot be used, and
    /// `.corrupted` (naming the file and byte offset) when a record before the torn tail is damaged.
    public convenience init(directory: String, options: Options = Options()) throws(DAError) {
        try FS.makeDirectory(directory)
        let lock = try WriterLock.acquire(directory: directory, waitingUpTo: options.openLockWait)
        let loaded: Loaded
        do throws(DAError) {
            loaded = try FileLogDA.load(directory: directory, mode: .writer)
        } catch {
            lock.release()
            throw FileLogDA.refusal(directory, error)
        }
        self.init(directory: directory, options: options, mode: .writer, lock: lock, loaded: loaded)
    }

    /// Opens the log in `directory` read-only, to follow it while another instance or process writes.
    /// Takes no lock and changes nothing: a torn tail is left to the writer and simply not shown.
    ///
    /// Throws `.unavailable` when the directory does not exist and `.corrupted` like the writer.
    public static func openReadOnly(directory: String, options: Options = Options()) throws(DAError) -> FileLogDA {
        guard FS.isDirectory(directory) else {
            throw DAError(.unavailable, "file log directory \(directory) does not exist")
        }
        let loaded: Loaded
        do throws(DAError) {
            loaded = try load(directory: directory, mode: .follower)
        } catch {
            throw refusal(directory, error)
        }
        return FileLogDA(directory: directory, options: options, mode: .follower, lock: nil, loaded: loaded)
    }

    /// Opens (creating the directory if needed) the log in `directory` as one of several **shared
    /// writers**, in this or other processes, that take turns appending.
    ///
    /// Opening takes no lock and changes nothing (it reads and verifies the log like a follower, and
    /// leaves a torn tail alone); the first segment is created by the first append. Between appends the
    /// instance follows the others: ``head()``, ``blobs(of:at:)`` and ``newHeights()`` see what any writer
    /// committed. Each submit takes the exclusive `flock` on `LOCK`, waiting up to
    /// ``Options/lockWaitTimeout`` by retrying a non-blocking `flock` with short sleeps (1 ms, doubling to
    /// 20 ms), so a waiting submit suspends and blocks no thread; there is no fairness between waiters.
    /// Under the lock it catches up, cuts a torn or unfinished tail (added to ``recoveries``), appends the
    /// batch as the next height with one `fsync` and releases the lock. A submit that cannot get the lock
    /// in time throws `.unavailable` naming the holder's pid. An exclusive writer
    /// (``init(directory:options:)``) holds the lock for its whole life, so shared submits time out while
    /// it is open, and it cannot open while a shared append is in progress.
    ///
    /// Throws `.unavailable` when the directory cannot be created or read and `.corrupted` like the
    /// writer.
    public static func openShared(directory: String, options: Options = Options()) throws(DAError) -> FileLogDA {
        try FS.makeDirectory(directory)
        let loaded: Loaded
        do throws(DAError) {
            loaded = try load(directory: directory, mode: .shared)
        } catch {
            throw refusal(directory, error)
        }
        return FileLogDA(directory: directory, options: options, mode: .shared, lock: nil, loaded: loaded)
    }

    private init(directory: String, options: Options, mode: Mode, lock: WriterLock?, loaded: Loaded) {
        self.directory = directory
        self.options = options
        self.mode = mode
        self.isReadOnly = mode == .follower
        self.isShared = mode == .shared
        self.recovery = loaded.recovery
        var state = IndexState()
        state.segments = loaded.segments
        state.publish(loaded.records)
        self.index = Mutex(state)
        var tailState = TailState(
            lock: lock, segment: loaded.segments.last, committedSize: loaded.tailCommittedSize,
            observedSize: loaded.tailObservedSize, head: state.head)
        if let recovery = loaded.recovery { tailState.recoveries.append(recovery) }
        self.tail = Mutex(tailState)
    }

    deinit {
        close()
    }

    /// Closes the log: releases the writer lock, ends every ``newHeights()`` stream, and makes every
    /// later call throw `.unavailable`. Idempotent. Reads already in flight finish normally.
    public func close() {
        let lock: WriterLock? = tail.withLock { tail in
            tail.closed = true
            tail.segment = nil
            let lock = tail.lock
            tail.lock = nil
            return lock
        }
        lock?.release()
        index.withLock { $0 = IndexState(closed: true) }
        broadcaster.finishAll()
    }

    // MARK: - DALayer

    /// Appends `blob` to `namespace` at a new height and returns after it is fsynced.
    ///
    /// Throws `.blobTooLarge` above ``Options/maxBlobSize``, `.invalidRequest` on a read-only instance and
    /// `.unavailable` on an I/O failure, after ``close()``, or (a shared writer) when the lock could not
    /// be had within ``Options/lockWaitTimeout``.
    public func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference {
        try await append([(namespace, blob)])[0]
    }

    /// Appends `batch` as **one new height** with one write and one `fsync`, and returns the blobs'
    /// references in the same order. Blobs are indexed per namespace in batch order (the first blob of
    /// each namespace is index 0). All or nothing: a batch whose commit record did not reach the disk is
    /// removed whole when the log is next opened. An empty batch writes nothing and returns `[]`.
    public func submit(batch: [(namespace: DANamespace, data: [UInt8])]) async throws(DAError) -> [BlobReference] {
        try await append(batch)
    }

    /// Appends `blobs`, all to `namespace`, as one new height (indices 0, 1, …) with one `fsync`.
    public func submit(batch blobs: [[UInt8]], to namespace: DANamespace) async throws(DAError) -> [BlobReference] {
        try await append(blobs.map { (namespace, $0) })
    }

    /// The blobs of `namespace` at `height` in index order, each read from disk with `pread` and
    /// verified against its checksums. Throws `.invalidRequest` for height 0, `.heightFromFuture` beyond
    /// the head and `.corrupted` (file and byte offset) when the stored record no longer checks out.
    public func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        guard height > 0 else { throw DAError(.invalidRequest, "height 0 does not exist; heights start at 1") }
        if follows, height > (try index.withLock { (state) throws(DAError) -> UInt64 in try state.openHead() }) {
            _ = try refresh()
        }
        let located = try index.withLock { (state) throws(DAError) -> [(SegmentFile, RecordLocation)] in
            try state.locate(namespace, at: height)
        }
        var result: [DABlob] = []
        result.reserveCapacity(located.count)
        for (segment, location) in located {
            result.append(try Self.readRecord(segment, location, height: height, namespace: namespace))
        }
        return result
    }

    /// The newest committed height (0 when the log is empty). A follower or shared writer re-scans first.
    public func head() async throws(DAError) -> UInt64 {
        if follows { return try refresh() }
        return try index.withLock { (state) throws(DAError) -> UInt64 in try state.openHead() }
    }

    /// New heights as they are committed. For the exclusive writer, every height it commits after the
    /// call, in order. For a follower or a shared writer, a task re-scans every ``Options/pollInterval``
    /// (only when a segment's size changed) and yields the heights it found (a shared writer's own appends
    /// included, at the next poll). Either way a **wake-up signal only**: keep a cursor and
    /// read from it. The stream ends at ``close()``, and a follower's also when a re-scan finds
    /// corruption (which its next ``head()`` or read then throws).
    public func newHeights() -> AsyncStream<UInt64> {
        guard follows else { return broadcaster.subscribe() }
        let (stream, continuation) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .unbounded)
        let start = index.withLock { $0.head }
        let interval = options.pollInterval
        let task = Task { [weak self] in
            var cursor = start
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { break }
                guard let self else { break }
                let head: UInt64
                do throws(DAError) {
                    head = try self.refresh()
                } catch  where error.code == .corrupted || self.isClosed {
                    break  // The consumer's next head() or read reports the corruption.
                } catch {
                    continue  // Transient (e.g. an I/O error): try again at the next tick.
                }
                while cursor < head {
                    cursor += 1
                    continuation.yield(cursor)
                }
            }
            continuation.finish()
        }
        // Registered so close() finishes it. Should close() slip in before onTermination is set, the
        // poller still stops at its next tick: refresh() then throws and `isClosed` is true.
        guard let id = broadcaster.register(continuation) else {
            task.cancel()
            return stream
        }
        let broadcaster = self.broadcaster
        continuation.onTermination = { _ in
            task.cancel()
            broadcaster.remove(id)
        }
        return stream
    }

    /// SHA-256 of the data.
    public var commitmentScheme: CommitmentScheme { .sha256 }

    /// Ready with the head when open and usable; not ready after ``close()``, after an `fsync`
    /// failure (the writer must be reopened), or when a follower's or shared writer's re-scan fails.
    public func health() async -> DAHealth {
        let (closed, failure, head) = tail.withLock { ($0.closed, $0.failure, $0.head) }
        if closed { return DAHealth(isReady: false, head: nil, detail: "file log \(directory) is closed") }
        if isReadOnly {
            do throws(DAError) {
                let head = try refresh()
                let segments = index.withLock { $0.segments.count }
                return DAHealth(
                    isReady: true, head: head,
                    detail: "file log \(directory) followed read-only at height \(head) in \(segments) segment(s)")
            } catch {
                return DAHealth(isReady: false, head: head, detail: "file log \(directory): \(error.message)")
            }
        }
        if let failure {
            return DAHealth(
                isReady: false, head: head,
                detail: "file log \(directory): writer stopped after \(failure); restart to reopen the log")
        }
        if isShared {
            do throws(DAError) {
                let head = try refresh()
                let segments = index.withLock { $0.segments.count }
                let recoveries = self.recoveries
                var detail = "file log \(directory): shared writer at height \(head) in \(segments) segment(s)"
                if let last = recoveries.last {
                    detail += "; cut \(recoveries.count) torn tail(s) before appending, the last: \(last)"
                }
                return DAHealth(isReady: true, head: head, detail: detail)
            } catch {
                return DAHealth(isReady: false, head: head, detail: "file log \(directory): \(error.message)")
            }
        }
        let segments = index.withLock { $0.segments.count }
        var detail = "file log \(directory): writer at height \(head) in \(segments) segment(s)"
        if let recovery { detail += "; on open \(recovery)" }
        return DAHealth(isReady: true, head: head, detail: detail)
    }

    /// How many `newHeights()` streams are registered.
    public var subscriberCount: Int { broadcaster.subscriberCount }

    // MARK: - Writing

    private var isClosed: Bool { tail.withLock { $0.closed } }

    private func append(_ items: [(namespace: DANamespace, data: [UInt8])]) async throws(DAError) -> [BlobReference] {
        guard !isReadOnly else {
            throw DAError(.invalidRequest, "file log \(directory) is open read-only; only a writer can submit")
        }
        for item in items where item.data.count > options.maxBlobSize {
            throw DAError(
                .blobTooLarge, "blob of \(item.data.count) bytes exceeds the \(options.maxBlobSize)-byte limit")
        }
        guard !items.isEmpty else { return [] }
        guard isShared else {
            return try tail.withLock { (tail) throws(DAError) -> [BlobReference] in
                try checkWritable(tail)
                return try write(items, &tail)
            }
        }
        // Shared: fail fast when closed or stopped, then wait (suspended, holding no mutex) for the flock.
        try tail.withLock { (tail) throws(DAError) in try checkWritable(tail) }
        let lock = try await WriterLock.acquire(directory: directory, waitingUpTo: options.lockWaitTimeout) {
            [self] in isClosed
        }
        defer { lock.release() }
        return try tail.withLock { (tail) throws(DAError) -> [BlobReference] in
            try checkWritable(tail)
            // Under the lock nobody else appends: what the re-scan finds after the last commit record is
            // a torn or unfinished batch of a writer that crashed, and it is safe to cut.
            let found = try catchUp(&tail)
            try cutUncommittedTail(&tail, found)
            if let probe = sharedAppendProbe.withLock({ $0 }) { probe() }
            return try write(items, &tail)
        }
    }

    private func checkWritable(_ tail: TailState) throws(DAError) {
        guard !tail.closed else { throw DAError(.unavailable, "file log \(directory) is closed") }
        if let failure = tail.failure {
            throw DAError(.unavailable, "file log \(directory): writer stopped after \(failure); restart to reopen the log")
        }
    }

    /// Encodes `items` as the next height, writes them at the end of the last segment (starting a new one
    /// when it is full) with one `fsync`, and publishes the height. The caller holds the tail mutex and,
    /// for a shared writer, the `LOCK` flock, and has caught up with the log.
    private func write(_ items: [(namespace: DANamespace, data: [UInt8])], _ tail: inout TailState) throws(DAError)
        -> [BlobReference]
    {
        let height = tail.head + 1
        var bytes: [UInt8] = []
        bytes.reserveCapacity(items.reduce(0) { $0 + FileLogFormat.headerSize + $1.data.count })
        var references: [BlobReference] = []
        references.reserveCapacity(items.count)
        var scanned: [ScannedRecord] = []
        scanned.reserveCapacity(items.count)
        var counts: [DANamespace: UInt32] = [:]  // lookup only; never iterated
        var recordOffsets: [Int64] = []
        for (position, item) in items.enumerated() {
            let blobIndex = counts[item.namespace, default: 0]
            counts[item.namespace] = blobIndex + 1
            recordOffsets.append(Int64(bytes.count))
            RecordCodec.append(
                to: &bytes, height: height, namespace: item.namespace, index: blobIndex,
                commits: position == items.count - 1, payload: item.data)
            references.append(
                BlobReference(height: height, index: blobIndex, commitment: sha256(item.data).bytes))
            scanned.append(
                ScannedRecord(
                    height: height, namespace: item.namespace, index: blobIndex, segment: 0, offset: 0,
                    payloadLength: item.data.count))
        }

        let segment = try segmentForAppend(&tail, bytes: Int64(bytes.count))
        let start = tail.committedSize
        do throws(DAError) {
            try FS.write(segment.descriptor, path: segment.path, at: start, bytes)
        } catch {
            // Take the partial batch back off so the next append starts at a record boundary.
            do throws(DAError) {
                try FS.truncate(segment.descriptor, path: segment.path, to: start)
            } catch {
                tail.failure = "a failed write that could not be undone (\(error.message))"
            }
            throw error
        }
        do throws(DAError) {
            try FS.sync(segment.descriptor, path: segment.path)
        } catch {
            // After a failed fsync the kernel may have dropped the dirty pages: nothing about the
            // file's contents can be assumed until it is re-read, so stop writing.
            tail.failure = "a failed fsync (\(error.message))"
            throw DAError(
                .unavailable,
                "\(error.message); the batch at height \(height) may or may not be durable; restart to reopen the log")
        }
        for i in scanned.indices {
            scanned[i].segment = segment.number
            scanned[i].offset = start + recordOffsets[i]
        }
        tail.committedSize = start + Int64(bytes.count)
        tail.observedSize = tail.committedSize
        tail.head = height
        index.withLock { $0.publish(scanned) }
        // A shared writer's streams poll (they follow the other writers too) and pick this height up.
        if mode == .writer { broadcaster.yield(height) }
        return references
    }

    /// The segment the next batch of `bytes` goes to, starting a new one when the current one is full.
    private func segmentForAppend(_ tail: inout TailState, bytes: Int64) throws(DAError) -> SegmentFile {
        if let current = tail.segment,
            tail.committedSize == 0 || tail.committedSize + bytes <= options.segmentSize
        {
            return current
        }
        let number = (tail.segment?.number ?? 0) + 1
        let path = FS.join(directory, FileLogFormat.segmentName(number))
        guard let descriptor = try FS.open(path, writable: true, create: true, exclusive: true) else {
            throw DAError(.unavailable, "cannot create \(path)")
        }
        let segment = SegmentFile(number: number, path: path, descriptor: descriptor)
        tail.segment = segment
        tail.committedSize = 0
        tail.observedSize = 0
        index.withLock { $0.segments.append(segment) }
        do throws(DAError) {
            try FS.syncDirectory(directory)
        } catch {
            tail.failure = "a failed directory fsync (\(error.message))"
            throw error
        }
        return segment
    }

    // MARK: - Reading

    private static func readRecord(
        _ segment: SegmentFile, _ location: RecordLocation, height: UInt64, namespace: DANamespace
    ) throws(DAError) -> DABlob {
        let size = FileLogFormat.headerSize + Int(location.payloadLength)
        let bytes = try segment.read(at: location.offset, count: size)
        func bad(_ reason: String) -> DAError { SegmentScanner.corrupted(segment.path, location.offset, reason) }
        guard bytes.count == size else {
            throw bad("record cut short (\(bytes.count) of \(size) bytes on disk)")
        }
        let headerBytes = bytes[0..<FileLogFormat.headerSize]
        let header: RecordHeader
        switch RecordCodec.decodeHeader(headerBytes) {
        case .failure(.unrecognizable(let why)), .failure(.invalid(let why)): throw bad(why)
        case .success(let decoded): header = decoded
        }
        guard header.height == height, header.index == location.index,
            header.payloadLength == Int(location.payloadLength),
            header.namespaceBytes.elementsEqual(namespace.bytes)
        else {
            throw bad("record header (height \(header.height), index \(header.index)) does not match the index")
        }
        let payload = bytes[FileLogFormat.headerSize...]
        guard
            RecordCodec.recordChecksumMatches(header: headerBytes, payload: payload, expected: header.recordChecksum)
        else {
            throw bad("record checksum mismatch (height \(height))")
        }
        let data = Array(payload)
        return DABlob(
            reference: BlobReference(height: height, index: location.index, commitment: sha256(data).bytes),
            data: data)
    }

    // MARK: - Following

    /// A follower's (or shared writer's) re-scan: reads what the writers committed since the last scan
    /// (only when a segment's size changed or a new segment appeared), publishes it, and returns the head.
    @discardableResult
    private func refresh() throws(DAError) -> UInt64 {
        try tail.withLock { (tail) throws(DAError) -> UInt64 in
            guard !tail.closed else { throw DAError(.unavailable, "file log \(directory) is closed") }
            _ = try catchUp(&tail)
            return tail.head
        }
    }

    /// The last segment's size and what a re-scan found in it, as ``catchUp(_:)`` left them.
    private struct TailScan {
        var size: Int64
        var scan: SegmentScan
    }

    /// Reads and publishes what was committed after `tail` (the follower re-scan), moving on to every
    /// newer segment. Returns the last segment's scan when it was scanned; `nil` means it was not, because
    /// it did not change since the last scan ended exactly after a commit record (or no segment exists).
    /// A shared writer opens segments read-write, so the last one can be appended to under the lock.
    private func catchUp(_ tail: inout TailState) throws(DAError) -> TailScan? {
        let writable = mode == .shared
        var found: TailScan?
        while true {
            if tail.segment == nil {
                let path = FS.join(directory, FileLogFormat.segmentName(1))
                guard let descriptor = try FS.open(path, writable: writable, missingIsNil: true) else {
                    return nil
                }
                let first = SegmentFile(number: 1, path: path, descriptor: descriptor)
                index.withLock { $0.segments.append(first) }
                tail.segment = first
                tail.committedSize = 0
                tail.observedSize = 0
            }
            guard let segment = tail.segment else { return nil }
            // Look for the next segment before measuring this one: once it exists, this one is final.
            let nextPath = FS.join(directory, FileLogFormat.segmentName(segment.number + 1))
            let next = try FS.open(nextPath, writable: writable, missingIsNil: true).map {
                SegmentFile(number: segment.number + 1, path: nextPath, descriptor: $0)
            }
            let size = try segment.size()
            if size < tail.committedSize {
                throw DAError(
                    .corrupted,
                    "\(segment.path) shrank to \(size) bytes, below the \(tail.committedSize) bytes of committed records already read")
            }
            // Re-scan when the size changed, when the last scan ended in an uncommitted tail (a
            // restarted writer may have cut it and written the same number of bytes back), or when
            // the segment was just sealed.
            if size != tail.observedSize || tail.observedSize != tail.committedSize || next != nil {
                var scanner = SegmentScanner(segment: segment, size: size)
                let scan = try scanner.scan(from: tail.committedSize, head: tail.head)
                if !scan.committed.isEmpty {
                    index.withLock { $0.publish(scan.committed) }
                    tail.head = scan.head
                    tail.committedSize = scan.committedEnd
                }
                tail.observedSize = size
                if next != nil {
                    try Self.checkSealed(segment, size: size, scan: scan)
                }
                found = TailScan(size: size, scan: scan)
            }
            guard let next else { return found }
            index.withLock { $0.segments.append(next) }
            tail.segment = next
            tail.committedSize = 0
            tail.observedSize = 0
            found = nil
        }
    }

    /// A shared writer, holding the lock and just caught up: cuts the last segment back to its last commit
    /// record when the re-scan found a torn record or an unfinished batch after it (a writer crashed
    /// mid-append; with the lock held nobody is still writing it), `fsync`s the cut and records it.
    private func cutUncommittedTail(_ tail: inout TailState, _ found: TailScan?) throws(DAError) {
        guard let found, !found.scan.isClean, let segment = tail.segment else { return }
        let cutAt = tail.committedSize
        try FS.truncate(segment.descriptor, path: segment.path, to: cutAt)
        do throws(DAError) {
            try FS.sync(segment.descriptor, path: segment.path)
        } catch {
            tail.failure = "a failed fsync of a tail cut (\(error.message))"
            throw error
        }
        tail.observedSize = cutAt
        let recovery = Self.makeRecovery(path: segment.path, size: found.size, scan: found.scan)
        tail.recoveries.append(recovery)
        recoveryObserver.withLock { $0 }?(recovery)
    }

    // MARK: - Loading

    private struct Loaded {
        var segments: [SegmentFile] = []
        var records: [ScannedRecord] = []
        var recovery: FileLogDA.Recovery?
        var tailCommittedSize: Int64 = 0
        var tailObservedSize: Int64 = 0
    }

    /// A segment followed by another must end exactly after a commit record and must not be empty.
    private static func checkSealed(_ segment: SegmentFile, size: Int64, scan: SegmentScan) throws(DAError) {
        if let torn = scan.torn {
            throw SegmentScanner.corrupted(
                segment.path, torn.offset, "\(torn.reason), in a segment that is followed by another")
        }
        if let first = scan.pending.first {
            throw SegmentScanner.corrupted(
                segment.path, first.offset,
                "height \(first.height) has no commit record, in a segment that is followed by another")
        }
        if size == 0 {
            throw DAError(.corrupted, "\(segment.path) is empty but a later segment follows it")
        }
    }

    private static func refusal(_ directory: String, _ error: DAError) -> DAError {
        guard error.code == .corrupted else { return error }
        return DAError(.corrupted, "file log \(directory) refuses to open: \(error.message)", cause: error)
    }

    /// What cutting `scan`'s torn or unfinished tail off a segment of `size` bytes at `path` removes.
    private static func makeRecovery(path: String, size: Int64, scan: SegmentScan) -> Recovery {
        var reasons: [String] = []
        if let first = scan.pending.first {
            reasons.append(
                "\(scan.pending.count) complete record(s) of unfinished height \(first.height) (no commit record)")
        }
        if let torn = scan.torn {
            reasons.append("torn record at byte offset \(torn.offset): \(torn.reason)")
        }
        return Recovery(
            file: path, offset: scan.committedEnd, bytes: size - scan.committedEnd,
            completeRecordsDropped: scan.pending.count, reason: reasons.joined(separator: "; "))
    }

    /// Lists, opens and verifies every segment; as the exclusive writer, truncates a torn tail of the last
    /// one. A shared writer opens the last segment read-write but leaves its tail to its next append.
    private static func load(directory: String, mode: Mode) throws(DAError) -> Loaded {
        let numbers = try segmentNumbers(in: directory)
        var loaded = Loaded()
        var head: UInt64 = 0
        for (position, number) in numbers.enumerated() {
            let isLast = position == numbers.count - 1
            let path = FS.join(directory, FileLogFormat.segmentName(number))
            guard let descriptor = try FS.open(path, writable: mode != .follower && isLast, missingIsNil: true)
            else {
                throw DAError(.unavailable, "\(path) disappeared while the log was being opened")
            }
            let segment = SegmentFile(number: number, path: path, descriptor: descriptor)
            loaded.segments.append(segment)
            let size = try segment.size()
            var scanner = SegmentScanner(segment: segment, size: size)
            let scan = try scanner.scan(from: 0, head: head)
            loaded.records.append(contentsOf: scan.committed)
            head = scan.head
            guard isLast else {
                try checkSealed(segment, size: size, scan: scan)
                continue
            }
            loaded.tailCommittedSize = scan.committedEnd
            loaded.tailObservedSize = size
            guard mode == .writer, !scan.isClean else { continue }
            try FS.truncate(descriptor, path: path, to: scan.committedEnd)
            try FS.sync(descriptor, path: path)
            loaded.tailObservedSize = scan.committedEnd
            loaded.recovery = makeRecovery(path: path, size: size, scan: scan)
        }
        return loaded
    }

    /// The segment numbers in `directory`, sorted; they must be exactly 1...n.
    private static func segmentNumbers(in directory: String) throws(DAError) -> [Int] {
        var numbers: [Int] = []
        for name in try FS.entries(of: directory) where name.hasPrefix("log-") && name.hasSuffix(".dsdnlog") {
            guard let number = FileLogFormat.segmentNumber(ofFileName: name) else {
                throw DAError(
                    .corrupted,
                    "\(FS.join(directory, name)) looks like a segment but its name is not canonical (log-NNNNNNNN.dsdnlog)"
                )
            }
            numbers.append(number)
        }
        numbers.sort()
        for (position, number) in numbers.enumerated() where number != position + 1 {
            throw DAError(
                .corrupted,
                "\(FS.join(directory, FileLogFormat.segmentName(position + 1))) is missing (segments must be numbered from 1 without gaps)"
            )
        }
        return numbers
    }
}

/// Where one record is: 24 bytes per record in memory.
struct RecordLocation: Hashable, Sendable {
    var offset: Int64
    var segment: UInt32
    var namespace: UInt32
    var payloadLength: UInt32
    var index: UInt32
}

/// The published (committed, fsynced) part of the log: height → records, O(1) per lookup.
struct IndexState {
    var closed = false
    /// `segments[n - 1]` is segment `n`.
    var segments: [SegmentFile] = []
    var namespaces: [DANamespace] = []
    var namespaceIDs: [DANamespace: UInt32] = [:]  // lookup only; never iterated
    /// Every committed record, in log order (height, then position in its batch).
    var records: [RecordLocation] = []
    /// `heightStarts[h - 1]` is the position in `records` of the first record of height `h`.
    var heightStarts: [Int] = []

    var head: UInt64 { UInt64(heightStarts.count) }

    func openHead() throws(DAError) -> UInt64 {
        guard !closed else { throw DAError(.unavailable, "file log is closed") }
        return head
    }

    mutating func publish(_ scanned: [ScannedRecord]) {
        records.reserveCapacity(records.count + scanned.count)
        for record in scanned {
            if record.height > head { heightStarts.append(records.count) }
            let namespaceID: UInt32
            if let known = namespaceIDs[record.namespace] {
                namespaceID = known
            } else {
                namespaceID = UInt32(namespaces.count)
                namespaces.append(record.namespace)
                namespaceIDs[record.namespace] = namespaceID
            }
            records.append(
                RecordLocation(
                    offset: record.offset, segment: UInt32(record.segment), namespace: namespaceID,
                    payloadLength: UInt32(record.payloadLength), index: record.index))
        }
    }

    func locate(_ namespace: DANamespace, at height: UInt64) throws(DAError) -> [(SegmentFile, RecordLocation)] {
        let head = try openHead()
        guard height <= head else {
            throw DAError(.heightFromFuture, "height \(height) is beyond the head \(head)")
        }
        guard let namespaceID = namespaceIDs[namespace] else { return [] }
        let start = heightStarts[Int(height - 1)]
        let end = height < head ? heightStarts[Int(height)] : records.count
        var found: [(SegmentFile, RecordLocation)] = []
        for location in records[start..<end] where location.namespace == namespaceID {
            found.append((segments[Int(location.segment) - 1], location))
        }
        return found
    }
}

/// The writer's (or a follower's or shared writer's scanning) position at the end of the log.
struct TailState {
    /// The exclusive writer's lock; `nil` for a follower, a shared writer (which holds the lock only
    /// inside an append) and after close.
    var lock: WriterLock?
    /// The last segment; `nil` before the first one exists.
    var segment: SegmentFile?
    /// The end of the last commit record in `segment`: where the writer appends and a follower resumes.
    var committedSize: Int64
    /// The segment size at the last scan (a follower re-scans only when it changes).
    var observedSize: Int64
    /// The newest committed height.
    var head: UInt64
    /// Why the writer stopped accepting appends (after a failed fsync).
    var failure: String?
    var closed = false
    /// Every truncation this instance made (see `FileLogDA.recoveries`).
    var recoveries: [FileLogDA.Recovery] = []

    init(lock: WriterLock?, segment: SegmentFile?, committedSize: Int64, observedSize: Int64, head: UInt64) {
        self.lock = lock
        self.segment = segment
        self.committedSize = committedSize
        self.observedSize = observedSize
        self.head = head
    }
}
