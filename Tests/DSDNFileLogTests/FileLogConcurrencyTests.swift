import DSDNCore
import DSDNDA
import DSDNFileLog
import DSDNTestSupport
import Foundation
import Testing

@Suite struct WriterLockTests {
    @Test func aSecondWriterFailsFastUntilTheFirstCloses() async throws {
        let dir = TempDir()
        let first = try FileLogDA(directory: dir.path)
        _ = try await first.submit([1], to: alpha)

        let error = await daError { try FileLogDA(directory: dir.path, options: refuseAtOnce) }
        #expect(error?.code == .unavailable)
        let message = error?.message ?? ""
        #expect(message.contains(dir.path))
        #expect(message.contains("another coordinator"))
        #expect(message.contains("pid \(ProcessInfo.processInfo.processIdentifier)"))
        #expect(!message.contains("\n"))

        // Followers take no lock.
        let follower = try FileLogDA.openReadOnly(directory: dir.path)
        #expect(try await follower.head() == 1)

        // The failed attempt changed nothing: the first writer still works.
        #expect(try await first.submit([2], to: alpha).height == 2)
        first.close()

        let second = try FileLogDA(directory: dir.path)
        #expect(try await second.head() == 2)
        #expect(try await second.submit([3], to: alpha).height == 3)
        #expect(await daError { try FileLogDA(directory: dir.path, options: refuseAtOnce) }?.code == .unavailable)
    }

    /// A lock still held for a moment after its writer closed (a child process forked while the log
    /// was open keeps the lock's descriptor until its exec) is waited out by the next open, not refused.
    @Test func anOpenWaitsOutALockThatIsReleasedSoon() async throws {
        let dir = TempDir()
        do {
            let writer = try FileLogDA(directory: dir.path)
            _ = try await writer.submit([1], to: alpha)
            writer.close()
        }
        // Another open file description of LOCK holds the lock, as a forked child's copy would.
        let fd = open(dir.file("LOCK"), O_RDWR | O_CLOEXEC)
        #expect(fd >= 0)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { close(fd) }
        // Generous, so a loaded machine that runs the release late still passes.
        let reopened = try FileLogDA(directory: dir.path, options: FileLogDA.Options(openLockWait: .seconds(60)))
        #expect(try await reopened.head() == 1)
        reopened.close()
    }

    @Test func droppingTheWriterReleasesTheLock() async throws {
        let dir = TempDir()
        do {
            let writer = try FileLogDA(directory: dir.path)
            _ = try await writer.submit([1], to: alpha)
        }
        let again = try FileLogDA(directory: dir.path)
        #expect(try await again.head() == 1)
    }
}

@Suite struct FollowerTests {
    @Test func aFollowerSeesHeightsTheWriterAppendsAfterItOpened() async throws {
        let dir = TempDir()
        let writer = try FileLogDA(directory: dir.path, options: .init(segmentSize: 300))
        _ = try await writer.submit(payload(0), to: alpha)
        _ = try await writer.submit(payload(1), to: beta)

        let follower = try FileLogDA.openReadOnly(directory: dir.path)
        #expect(follower.isReadOnly)
        #expect(try await follower.head() == 2)
        #expect(try await onlyBlob(follower, beta, at: 2) == payload(1))

        for i in 2..<12 { _ = try await writer.submit(payload(i), to: alpha) }  // crosses segments
        _ = try await writer.submit(batch: [(alpha, [1]), (beta, [2])])
        #expect(dir.segmentNames().count > 2)

        // A read beyond the known head re-scans on demand.
        #expect(try await onlyBlob(follower, alpha, at: 11) == payload(10))
        #expect(try await follower.head() == 13)
        for i in 2..<12 { #expect(try await onlyBlob(follower, alpha, at: UInt64(i + 1)) == payload(i)) }
        #expect(try await follower.blobs(of: beta, at: 13).map(\.data) == [[2]])
        #expect(await daError { try await follower.blobs(of: alpha, at: 14) }?.code == .heightFromFuture)

        let refused = await daError { try await follower.submit([1], to: alpha) }
        #expect(refused?.code == .invalidRequest)
        #expect(refused?.message.contains("read-only") == true)
        let health = await follower.health()
        #expect(health.isReady && health.head == 13)
    }

    @Test func aFollowerCanStartBeforeTheFirstSegmentExists() async throws {
        let dir = TempDir()
        let follower = try FileLogDA.openReadOnly(directory: dir.path)
        #expect(try await follower.head() == 0)
        let writer = try FileLogDA(directory: dir.path)
        _ = try await writer.submit([5], to: alpha)
        #expect(try await follower.head() == 1)
        #expect(try await onlyBlob(follower, alpha, at: 1) == [5])
        #expect(await daError { try FileLogDA.openReadOnly(directory: dir.file("missing")) }?.code == .unavailable)
    }

    @Test func aFollowerShowsAHeightOnlyOnceItsCommitRecordIsWritten() async throws {
        // Build a complete log, then replay it into another directory byte range by byte range, as a
        // writer's single pwrite becomes visible to a concurrent reader.
        let source = TempDir()
        do {
            let writer = try FileLogDA(directory: source.path)
            _ = try await writer.submit([1], to: alpha)
            _ = try await writer.submit(batch: [(alpha, [2]), (beta, [3]), (alpha, [4])])
            writer.close()
        }
        let bytes = readFile(source.segment(1))
        #expect(bytes.count == 260)  // four 65-byte records; commit records end at 65 and 260
        let dir = TempDir()
        writeFile(dir.segment(1), [])
        let follower = try FileLogDA.openReadOnly(directory: dir.path)
        var written = 0
        for cut in [10, 64, 65, 75, 129, 130, 140, 194, 195, 205, 259, 260] {
            appendBytes(dir.segment(1), Array(bytes[written..<cut]))
            written = cut
            let expected: UInt64 = (cut >= 65 ? 1 : 0) + (cut >= 260 ? 1 : 0)
            #expect(try await follower.head() == expected, "after \(cut) bytes")
        }
        #expect(try await follower.blobs(of: alpha, at: 2).map(\.data) == [[2], [4]])
    }

    @Test(.timeLimit(.minutes(1)))
    func aFollowersStreamWakesUpForNewHeights() async throws {
        let dir = TempDir()
        let writer = try FileLogDA(directory: dir.path)
        _ = try await writer.submit([0], to: alpha)
        let follower = try FileLogDA.openReadOnly(directory: dir.path, options: .init(pollInterval: .milliseconds(2)))
        let stream = follower.newHeights()
        #expect(follower.subscriberCount == 1)
        let appender = Task {
            _ = try await writer.submit([1], to: alpha)
            _ = try await writer.submit(batch: [[2], [3]], to: beta)
            _ = try await writer.submit([4], to: alpha)
            _ = try await writer.submit([5], to: alpha)
        }
        // Consumed in the test's own task, so the time limit's cancellation ends the loop if it hangs.
        var seen: [UInt64] = []
        for await height in stream {
            seen.append(height)
            if height >= 4 { break }
        }
        try await appender.value
        // Heights committed before the subscription are not announced; every later one is, in order.
        #expect(seen == [2, 3, 4])
        #expect(try await follower.blobs(of: beta, at: 3).map(\.data) == [[2], [3]])

        #expect(try await follower.head() == 5)  // so the next stream's cursor starts at the head
        let ending = follower.newHeights()
        follower.close()
        var afterClose: [UInt64] = []
        for await height in ending { afterClose.append(height) }
        #expect(afterClose.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func aFollowerThatFindsCorruptionInNewBytesEndsItsStreamAndReportsIt() async throws {
        let dir = TempDir()
        do {
            let writer = try FileLogDA(directory: dir.path)
            _ = try await writer.submit([1], to: alpha)
            writer.close()
        }
        let follower = try FileLogDA.openReadOnly(directory: dir.path, options: .init(pollInterval: .milliseconds(2)))
        #expect(try await follower.head() == 1)
        let stream = follower.newHeights()
        var damaged = forge([(2, alpha, 0, true, [2, 2]), (3, alpha, 0, true, [3])])
        damaged[64] ^= 0x01  // payload of height 2, followed by a valid record: corruption, not a torn tail
        appendBytes(dir.segment(1), damaged)
        var seen: [UInt64] = []
        for await height in stream { seen.append(height) }  // ends when the poller finds the corruption
        #expect(seen.isEmpty)
        let error = await daError { try await follower.head() }
        #expect(error?.code == .corrupted)
        #expect(error?.message.contains("log-00000001.dsdnlog at byte offset 65:") == true)
        #expect(await follower.health().isReady == false)
    }

    @Test(.timeLimit(.minutes(1)))
    func aFollowerReadingWhileTheWriterAppendsNeverSeesAPartialHeight() async throws {
        let dir = TempDir()
        let writer = try FileLogDA(directory: dir.path, options: .init(segmentSize: 4096))
        let follower = try FileLogDA.openReadOnly(directory: dir.path)
        let heights: UInt64 = 150
        func blobs(_ height: UInt64) -> [[UInt8]] {
            (0..<(Int(height % 5) + 1)).map { Array("h\(height)-\($0)".utf8) + [UInt8](repeating: 7, count: Int(height) % 40) }
        }
        let appender = Task {
            for height in 1...heights {
                let references = try await writer.submit(batch: blobs(height), to: alpha)
                #expect(references.first?.height == height)
            }
        }
        var cursor: UInt64 = 0
        while cursor < heights {
            try Task.checkCancellation()
            let head = try await follower.head()
            while cursor < head {
                cursor += 1
                let read = try await follower.blobs(of: alpha, at: cursor)
                #expect(read.map(\.data) == blobs(cursor), "height \(cursor)")
            }
            await Task.yield()
        }
        try await appender.value
        #expect(try await follower.head() == heights)
        #expect(dir.segmentNames().count > 3)
    }
}
