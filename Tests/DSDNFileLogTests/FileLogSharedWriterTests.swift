import DSDNCore
import DSDNDA
import DSDNTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

@testable import DSDNFileLog

/// One blob as a reader sees it.
private struct Entry: Hashable, CustomStringConvertible {
    var height: UInt64
    var namespace: String
    var index: UInt32
    var data: [UInt8]

    var description: String { "h\(height) \(namespace)[\(index)] \(data.count) bytes" }
}

/// Everything in the log at heights 1...head, in (height, namespace, index) order, as `da` reads it.
private func contents(of da: FileLogDA) async throws -> [Entry] {
    var entries: [Entry] = []
    let head = try await da.head()
    guard head > 0 else { return [] }
    for height in 1...head {
        for (name, namespace) in [("alpha", alpha), ("beta", beta)] {
            for blob in try await da.blobs(of: namespace, at: height) {
                #expect(blob.reference.height == height)
                #expect(blob.reference.commitment == sha256(blob.data).bytes)
                entries.append(Entry(height: height, namespace: name, index: blob.reference.index, data: blob.data))
            }
        }
    }
    return entries
}

/// Every instance, a fresh follower and a fresh exclusive writer read exactly `expected`; the exclusive
/// writer finds nothing to cut.
private func expectEveryoneReads(_ expected: [Entry], _ instances: [FileLogDA], in dir: TempDir) async throws {
    for (position, da) in instances.enumerated() {
        #expect(try await contents(of: da) == expected, "instance \(position)")
    }
    let follower = try FileLogDA.openReadOnly(directory: dir.path)
    #expect(try await contents(of: follower) == expected, "a fresh follower")
    let writer = try FileLogDA(directory: dir.path)
    #expect(writer.recovery == nil, "the shared writers left a clean log")
    #expect(try await contents(of: writer) == expected, "a fresh exclusive writer")
    writer.close()
}

/// A short wait, so the exclusion tests fail fast; the assertions are about the outcome, not the time.
private let shortWait = FileLogDA.Options(lockWaitTimeout: .milliseconds(20))

@Suite struct SharedWriterTests {
    @Test func twoSharedWritersTakingTurnsAppendOneGaplessSequence() async throws {
        let dir = TempDir()
        let a = try FileLogDA.openShared(directory: dir.path)
        let b = try FileLogDA.openShared(directory: dir.path)
        #expect(a.isShared && !a.isReadOnly)
        #expect(try await a.head() == 0)

        var expected: [Entry] = []
        for i in 0..<12 {
            let (writer, name) = i % 2 == 0 ? (a, "a") : (b, "b")
            let height = UInt64(expected.last?.height ?? 0) + 1
            if i % 3 == 2 {
                // A batch: one height, indices per namespace.
                let batch: [(namespace: DANamespace, data: [UInt8])] = [
                    (alpha, payload(i)), (beta, [UInt8(i)]), (alpha, payload(i + 100)),
                ]
                let references = try await writer.submit(batch: batch)
                #expect(references.map(\.height) == [height, height, height], "\(name) batch \(i)")
                #expect(references.map(\.index) == [0, 0, 1])
                expected += [
                    Entry(height: height, namespace: "alpha", index: 0, data: payload(i)),
                    Entry(height: height, namespace: "alpha", index: 1, data: payload(i + 100)),
                    Entry(height: height, namespace: "beta", index: 0, data: [UInt8(i)]),
                ]
            } else {
                let reference = try await writer.submit(payload(i), to: alpha)
                #expect(reference.height == height, "\(name) submit \(i) must land right after the other's")
                #expect(reference.index == 0)
                expected.append(Entry(height: height, namespace: "alpha", index: 0, data: payload(i)))
            }
        }
        #expect(try await a.head() == 12)
        #expect(try await b.head() == 12)
        #expect(a.recoveries.isEmpty && b.recoveries.isEmpty)
        let health = await b.health()
        #expect(health.isReady && health.head == 12)
        #expect(health.detail.contains("shared writer"))
        try await expectEveryoneReads(expected, [a, b], in: dir)
    }

    @Test(.timeLimit(.minutes(2)), arguments: [2, 3])
    func sharedWritersSubmittingConcurrentlyLandEveryBlobExactlyOnce(writers: Int) async throws {
        let dir = TempDir()
        let instances = try (0..<writers).map { _ in try FileLogDA.openShared(directory: dir.path) }
        let tasksPerWriter = 2
        let submitsPerTask = 15

        // Each task submits its own blobs; every fifth submit is a batch of two.
        struct Submitted: Sendable {
            var writer: Int
            var heights: [UInt64]
            var blobs: [(height: UInt64, index: UInt32, data: [UInt8])]
        }
        let results = try await withThrowingTaskGroup(of: Submitted.self) { group in
            for writer in 0..<writers {
                for task in 0..<tasksPerWriter {
                    let da = instances[writer]
                    group.addTask {
                        var submitted = Submitted(writer: writer, heights: [], blobs: [])
                        for i in 0..<submitsPerTask {
                            let data = Array("w\(writer) t\(task) s\(i)".utf8)
                            if i % 5 == 4 {
                                let second = data + [0xBB]
                                let references = try await da.submit(batch: [data, second], to: alpha)
                                submitted.heights.append(references[0].height)
                                submitted.blobs += [
                                    (references[0].height, references[0].index, data),
                                    (references[1].height, references[1].index, second),
                                ]
                            } else {
                                let reference = try await da.submit(data, to: alpha)
                                submitted.heights.append(reference.height)
                                submitted.blobs.append((reference.height, reference.index, data))
                            }
                        }
                        return submitted
                    }
                }
            }
            var all: [Submitted] = []
            for try await result in group { all.append(result) }
            return all
        }

        let totalHeights = writers * tasksPerWriter * submitsPerTask
        // Every submit made its own height, the heights are exactly 1...total, and each task saw its own
        // heights strictly increase.
        let heights = results.flatMap(\.heights).sorted()
        #expect(heights == Array(1...UInt64(totalHeights)))
        for result in results {
            #expect(result.heights == result.heights.sorted() && Set(result.heights).count == result.heights.count)
        }
        // Every blob is in the log exactly once, where its reference says.
        var expected = results.flatMap(\.blobs).map {
            Entry(height: $0.height, namespace: "alpha", index: $0.index, data: $0.data)
        }
        expected.sort { ($0.height, $0.index) < ($1.height, $1.index) }
        #expect(Set(expected.map(\.data)).count == expected.count, "test data is distinct")
        try await expectEveryoneReads(expected, instances, in: dir)
        for da in instances { #expect(da.recoveries.isEmpty) }
    }

    @Test func aFreshDirectoryIsCreatedAndTheFirstSegmentByTheFirstAppend() async throws {
        let parent = TempDir()
        let path = parent.file("da")
        let a = try FileLogDA.openShared(directory: path)
        let b = try FileLogDA.openShared(directory: path)  // both open before any segment exists
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try await a.head() == 0)
        #expect(try await b.submit([1], to: alpha).height == 1)
        #expect(try await a.submit([2], to: beta).height == 2)
        #expect(try await b.submit([3], to: alpha).height == 3)
        #expect(try await onlyBlob(b, beta, at: 2) == [2])
        #expect(try await onlyBlob(a, alpha, at: 3) == [3])
        #expect(FileManager.default.fileExists(atPath: path + "/" + FileLogFormat.segmentName(1)))
    }

    @Test func segmentsRollOverWhileTwoSharedWritersAlternate() async throws {
        let dir = TempDir()
        let options = FileLogDA.Options(segmentSize: 300)
        let a = try FileLogDA.openShared(directory: dir.path, options: options)
        let b = try FileLogDA.openShared(directory: dir.path, options: options)
        var expected: [Entry] = []
        for i in 0..<25 {
            let writer = i % 2 == 0 ? a : b
            let reference = try await writer.submit(payload(i), to: alpha)
            #expect(reference.height == UInt64(i + 1))
            expected.append(Entry(height: UInt64(i + 1), namespace: "alpha", index: 0, data: payload(i)))
        }
        let names = dir.segmentNames()
        #expect(names.count >= 6, "25 records of 72...78 bytes in 300-byte segments: \(names)")
        #expect(names == (1...names.count).map { FileLogFormat.segmentName($0) })
        for name in names.dropLast() {
            let size = fileSize(dir.file(name))
            #expect(size > 0 && size <= 300, "\(name) is \(size) bytes")
        }
        try await expectEveryoneReads(expected, [a, b], in: dir)
    }

    /// A crashed writer leaves the start of its batch after the last commit record. The next shared
    /// submit, holding the lock, cuts it, and everything before it is intact.
    @Test(arguments: [1, 30, 63, 64, 65, 70, 77, -1, -2])
    func aTornTailIsCutByTheNextSharedSubmit(cut: Int) async throws {
        let dir = TempDir()
        let a = try FileLogDA.openShared(directory: dir.path)
        var expected: [Entry] = []
        for i in 0..<3 {
            _ = try await a.submit(payload(i), to: alpha)
            expected.append(Entry(height: UInt64(i + 1), namespace: "alpha", index: 0, data: payload(i)))
        }
        let clean = fileSize(dir.segment(1))

        // What the crashed writer got onto the disk of height 4. A positive `cut` keeps that many bytes
        // of a single record (78 bytes); -1 is a whole non-commit record (an unfinished batch) and -2 the
        // same followed by 10 bytes of the batch's commit record.
        let crashed: [UInt8]
        var completeRecords = 0
        switch cut {
        case -1:
            crashed = forge([(4, alpha, 0, false, payload(40))])
            completeRecords = 1
        case -2:
            crashed = Array(
                forge([(4, alpha, 0, false, payload(40)), (4, alpha, 1, true, payload(41))]).prefix(
                    Int(recordSize(payload(40))) + 10))
            completeRecords = 1
        default:
            let record = forge([(4, alpha, 0, true, [UInt8](repeating: 0x5A, count: 14))])
            #expect(cut < record.count)
            crashed = Array(record.prefix(cut))
        }
        appendBytes(dir.segment(1), crashed)
        #expect(fileSize(dir.segment(1)) == clean + Int64(crashed.count))

        // Another shared writer opened after the crash; neither it nor `a` shows the torn tail.
        let b = try FileLogDA.openShared(directory: dir.path)
        #expect(try await b.head() == 3)
        #expect(try await a.head() == 3)
        #expect(b.recoveries.isEmpty, "opening a shared writer cuts nothing (it holds no lock)")
        let observed = Mutex<[FileLogDA.Recovery]>([])
        b.observeRecoveries { recovery in observed.withLock { $0.append(recovery) } }
        #expect(fileSize(dir.segment(1)) == clean + Int64(crashed.count))

        let reference = try await b.submit([0xC0, 0xDE], to: beta)
        #expect(reference.height == 4)
        expected.append(Entry(height: 4, namespace: "beta", index: 0, data: [0xC0, 0xDE]))
        #expect(fileSize(dir.segment(1)) == clean + recordSize([0xC0, 0xDE]))

        let recovery = try #require(b.recoveries.first)
        #expect(b.recoveries.count == 1)
        #expect(observed.withLock { $0 } == [recovery], "the observer (serve's log) hears of every cut")
        #expect(b.recovery == nil)
        #expect(recovery.file == dir.segment(1))
        #expect(recovery.offset == clean)
        #expect(recovery.bytes == Int64(crashed.count))
        #expect(recovery.completeRecordsDropped == completeRecords)
        #expect(await b.health().detail.contains("cut 1 torn tail(s)"))
        #expect(a.recoveries.isEmpty)

        // `a` appends after it without cutting anything more.
        #expect(try await a.submit([0xEE], to: alpha).height == 5)
        expected.append(Entry(height: 5, namespace: "alpha", index: 0, data: [0xEE]))
        #expect(a.recoveries.isEmpty)
        try await expectEveryoneReads(expected, [a, b], in: dir)
    }

    @Test func aTornTailAtTheStartOfANewSegmentIsCutAndTheSegmentReused() async throws {
        let dir = TempDir()
        let a = try FileLogDA.openShared(directory: dir.path, options: .init(segmentSize: 100))
        _ = try await a.submit(payload(0), to: alpha)
        // A writer crashed right after creating segment 2, mid-way through its first record.
        writeFile(dir.segment(2), Array(forge([(2, alpha, 0, true, payload(1))]).prefix(40)))
        let b = try FileLogDA.openShared(directory: dir.path, options: .init(segmentSize: 100))
        #expect(try await b.head() == 1)
        #expect(try await a.submit(payload(2), to: alpha).height == 2)
        #expect(a.recoveries.map(\.file) == [dir.segment(2)])
        #expect(a.recoveries.first?.offset == 0 && a.recoveries.first?.bytes == 40)
        #expect(dir.segmentNames().count == 2, "the empty segment is reused, not followed by a third")
        #expect(try await b.submit(payload(3), to: alpha).height == 3)
        #expect(try await onlyBlob(b, alpha, at: 2) == payload(2))
        #expect(try await onlyBlob(a, alpha, at: 3) == payload(3))
    }

    @Test func corruptionBeforeTheTailIsRefusedNotCut() async throws {
        let dir = TempDir()
        let a = try FileLogDA.openShared(directory: dir.path)
        _ = try await a.submit([1], to: alpha)
        // Garbage followed by a valid record: corruption, never a torn tail.
        var damaged = forge([(2, alpha, 0, true, [2, 2]), (3, alpha, 0, true, [3])])
        damaged[64] ^= 0x01
        appendBytes(dir.segment(1), damaged)
        let before = fileSize(dir.segment(1))
        let error = await daError { try await a.submit([9], to: alpha) }
        #expect(error?.code == .corrupted)
        #expect(error?.message.contains("log-00000001.dsdnlog at byte offset 65:") == true)
        #expect(fileSize(dir.segment(1)) == before, "nothing was cut or written")
        #expect(a.recoveries.isEmpty)
        #expect(await daError { try FileLogDA.openShared(directory: dir.path) }?.code == .corrupted)
    }

    @Test(.timeLimit(.minutes(1)))
    func aSharedWritersStreamYieldsHeightsFromEveryWriter() async throws {
        let dir = TempDir()
        let options = FileLogDA.Options(pollInterval: .milliseconds(2))
        let a = try FileLogDA.openShared(directory: dir.path, options: options)
        let b = try FileLogDA.openShared(directory: dir.path, options: options)
        let stream = a.newHeights()
        let appender = Task {
            _ = try await b.submit([1], to: alpha)
            _ = try await a.submit([2], to: alpha)
            _ = try await b.submit(batch: [[3], [4]], to: beta)
        }
        var seen: [UInt64] = []
        for await height in stream {
            seen.append(height)
            if height >= 3 { break }
        }
        try await appender.value
        #expect(seen == [1, 2, 3])
        #expect(try await a.blobs(of: beta, at: 3).map(\.data) == [[3], [4]])
        let ending = a.newHeights()
        a.close()
        var afterClose: [UInt64] = []
        for await height in ending { afterClose.append(height) }
        #expect(afterClose.isEmpty)
        #expect(await daError { try await a.submit([5], to: alpha) }?.code == .unavailable)
    }
}

@Suite struct SharedWriterLockTests {
    @Test func aSharedSubmitWaitsForTheExclusiveWriterThenFailsNamingItsPid() async throws {
        let dir = TempDir()
        let exclusive = try FileLogDA(directory: dir.path)
        _ = try await exclusive.submit([1], to: alpha)
        let shared = try FileLogDA.openShared(directory: dir.path, options: shortWait)  // opening takes no lock
        #expect(try await shared.head() == 1)

        let error = await daError { try await shared.submit([2], to: alpha) }
        #expect(error?.code == .unavailable)
        let message = error?.message ?? ""
        #expect(message.contains("(pid \(ProcessInfo.processInfo.processIdentifier))"))
        #expect(message.contains(dir.file("LOCK")))
        #expect(message.contains("lock wait timeout"))
        #expect(!message.contains("\n"))

        // Nothing was written; the exclusive writer goes on, and the shared one follows it.
        #expect(try await exclusive.submit([3], to: alpha).height == 2)
        #expect(try await shared.head() == 2)
        exclusive.close()
        #expect(try await shared.submit([4], to: alpha).height == 3)
        #expect(try await onlyBlob(shared, alpha, at: 2) == [3])
    }

    @Test func theExclusiveWriterCannotOpenWhileASharedAppendHoldsTheLock() async throws {
        let dir = TempDir()
        let shared = try FileLogDA.openShared(directory: dir.path)
        _ = try await shared.submit([1], to: alpha)
        // Between appends the lock is free: the exclusive writer opens, and closes again.
        do {
            let exclusive = try FileLogDA(directory: dir.path)
            #expect(try await exclusive.head() == 1)
            exclusive.close()
        }

        let seen = Mutex<[DAError?]>([])
        shared.sharedAppendProbe.withLock {
            $0 = {
                let outcome: DAError?
                do {
                    let intruder = try FileLogDA(directory: dir.path, options: refuseAtOnce)
                    intruder.close()
                    outcome = nil
                } catch let error as DAError {
                    outcome = error
                } catch {
                    outcome = DAError(.invalidRequest, "unexpected \(error)")
                }
                seen.withLock { $0.append(outcome) }
            }
        }
        #expect(try await shared.submit([2], to: alpha).height == 2)
        let outcomes = seen.withLock { $0 }
        #expect(outcomes.count == 1, "the probe runs once per shared append")
        let error = outcomes.first ?? nil
        #expect(error?.code == .unavailable, "the exclusive open must fail while a shared append holds the lock")
        #expect(error?.message.contains("(pid \(ProcessInfo.processInfo.processIdentifier))") == true)

        shared.sharedAppendProbe.withLock { $0 = nil }
        let exclusive = try FileLogDA(directory: dir.path)
        #expect(try await exclusive.head() == 2)
    }

    @Test func aSharedSubmitNamesThePidTheLockFileRecords() async throws {
        let dir = TempDir()
        let shared = try FileLogDA.openShared(directory: dir.path, options: shortWait)
        _ = try await shared.submit([1], to: alpha)

        // Another process (simulated: a separate open file description) holds the lock and says who it is.
        let lockPath = dir.file("LOCK")
        let fd = open(lockPath, O_RDWR | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        #expect(ftruncate(fd, 0) == 0)
        let holder: [UInt8] = Array("4242\n".utf8)
        #expect(pwrite(fd, holder, holder.count, 0) == holder.count)

        let error = await daError { try await shared.submit([2], to: alpha) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("(pid 4242)") == true)
        #expect(await daError { try FileLogDA(directory: dir.path, options: refuseAtOnce) }?.message.contains("(pid 4242)") == true)

        #expect(flock(fd, LOCK_UN) == 0)
        #expect(try await shared.submit([3], to: alpha).height == 2)
        // The shared writer records itself while it holds the lock.
        #expect(String(decoding: readFile(lockPath), as: UTF8.self) == "\(ProcessInfo.processInfo.processIdentifier)\n")
    }
}
