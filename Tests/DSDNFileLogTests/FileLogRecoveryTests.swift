import DSDNCore
import DSDNDA
import DSDNFileLog
import DSDNTestSupport
import Foundation
import Testing

/// Writes `count` single-blob heights (payload(i) to alpha) and closes the log.
private func writeLog(_ dir: TempDir, count: Int, options: FileLogDA.Options = .init()) async throws {
    let da = try FileLogDA(directory: dir.path, options: options)
    for i in 0..<count { _ = try await da.submit(payload(i), to: alpha) }
    da.close()
}

/// The byte offset of the record of height `height` in a single-segment log written by `writeLog`.
private func offsetOfHeight(_ height: Int) -> Int64 {
    (0..<(height - 1)).reduce(0) { $0 + recordSize(payload($1)) }
}

/// Checks heights 1...count hold payload(i - 1).
private func expectIntact(_ da: FileLogDA, through count: Int) async throws {
    for i in 0..<count {
        #expect(try await onlyBlob(da, alpha, at: UInt64(i + 1)) == payload(i), "height \(i + 1)")
    }
}

@Suite struct TornTailTests {
    @Test func everyTruncationInsideTheLastRecordIsCutOnOpen() async throws {
        let n = 4
        let original = TempDir()
        try await writeLog(original, count: n)
        let fullSize = fileSize(original.segment(1))
        let lastStart = offsetOfHeight(n)
        #expect(fullSize == lastStart + recordSize(payload(n - 1)))

        for cut in lastStart..<fullSize {
            let dir = copySegments(of: original)
            truncateFile(dir.segment(1), to: cut)
            let da = try FileLogDA(directory: dir.path)
            #expect(try await da.head() == UInt64(n - 1), "cut at \(cut)")
            try await expectIntact(da, through: n - 1)
            #expect(await daError { try await da.blobs(of: alpha, at: UInt64(n)) }?.code == .heightFromFuture)
            if cut == lastStart {
                #expect(da.recovery == nil, "a log that ends on a record boundary needs no recovery")
            } else {
                let recovery = try #require(da.recovery, "cut at \(cut)")
                #expect(recovery.file == dir.segment(1))
                #expect(recovery.offset == lastStart)
                #expect(recovery.bytes == cut - lastStart)
                #expect(recovery.completeRecordsDropped == 0)
                #expect(recovery.description.contains("log-00000001.dsdnlog"))
            }
            #expect(fileSize(dir.segment(1)) == lastStart)
            // Appending works afterwards and survives a restart.
            let reference = try await da.submit([0xC0, 0xDE], to: beta)
            #expect(reference.height == UInt64(n))
            da.close()
            let reopened = try FileLogDA(directory: dir.path)
            #expect(reopened.recovery == nil)
            #expect(try await reopened.head() == UInt64(n))
            try await expectIntact(reopened, through: n - 1)
            #expect(try await onlyBlob(reopened, beta, at: UInt64(n)) == [0xC0, 0xDE])
        }
    }

    @Test func everyTruncationInsideALastBatchRemovesTheWholeBatch() async throws {
        let original = TempDir()
        try await writeLog(original, count: 2)
        let batchStart = fileSize(original.segment(1))
        do {
            let da = try FileLogDA(directory: original.path)
            _ = try await da.submit(batch: [(alpha, [1, 1]), (beta, [2]), (alpha, [3, 3, 3])])
            da.close()
        }
        let fullSize = fileSize(original.segment(1))
        let recordEnds = [batchStart + 66, batchStart + 66 + 65]  // boundaries inside the batch

        for cut in batchStart..<fullSize {
            let dir = copySegments(of: original)
            truncateFile(dir.segment(1), to: cut)
            let da = try FileLogDA(directory: dir.path)
            #expect(try await da.head() == 2, "cut at \(cut)")
            try await expectIntact(da, through: 2)
            if cut == batchStart {
                #expect(da.recovery == nil)
            } else {
                let recovery = try #require(da.recovery)
                #expect(recovery.offset == batchStart)
                #expect(recovery.bytes == cut - batchStart)
                let complete = recordEnds.filter { $0 <= cut }.count
                #expect(recovery.completeRecordsDropped == complete, "cut at \(cut)")
                if complete > 0 { #expect(recovery.reason.contains("unfinished height 3")) }
            }
            #expect(fileSize(dir.segment(1)) == batchStart)
            #expect(try await da.submit([9], to: alpha).height == 3)
        }
    }

    @Test func aDamagedLastRecordIsTreatedAsTorn() async throws {
        let n = 5
        let original = TempDir()
        try await writeLog(original, count: n)
        let lastStart = offsetOfHeight(n)
        let fullSize = fileSize(original.segment(1))
        // Payload byte, header field, magic, header checksum, record checksum of the last record.
        for (where_, offset) in [
            ("payload", fullSize - 1), ("height", lastStart + 12), ("magic", lastStart),
            ("header checksum", lastStart + 57), ("record checksum", lastStart + 61),
        ] {
            let dir = copySegments(of: original)
            flipByte(dir.segment(1), at: offset, mask: 0x10)
            let da = try FileLogDA(directory: dir.path)
            #expect(try await da.head() == UInt64(n - 1), "\(where_)")
            let recovery = try #require(da.recovery, "\(where_)")
            #expect(recovery.offset == lastStart)
            #expect(recovery.bytes == fullSize - lastStart)
            try await expectIntact(da, through: n - 1)
        }
    }

    @Test func aZeroFilledTailIsCut() async throws {
        let dir = TempDir()
        try await writeLog(dir, count: 3)
        let size = fileSize(dir.segment(1))
        let handle = FileHandle(forWritingAtPath: dir.segment(1))!
        handle.seekToEndOfFile()
        handle.write(Data(count: 300))
        try handle.close()
        let da = try FileLogDA(directory: dir.path)
        #expect(try await da.head() == 3)
        #expect(da.recovery?.offset == size)
        #expect(da.recovery?.bytes == 300)
        #expect(fileSize(dir.segment(1)) == size)
    }

    @Test func anEmptyLastSegmentIsReused() async throws {
        let dir = TempDir()
        try await writeLog(dir, count: 3, options: .init(segmentSize: 100))
        let segments = dir.segmentNames().count
        // A crash right after creating the next segment leaves it empty.
        writeFile(dir.segment(segments + 1), [])
        let da = try FileLogDA(directory: dir.path, options: .init(segmentSize: 100))
        #expect(da.recovery == nil)
        #expect(try await da.head() == 3)
        #expect(try await da.submit([7], to: alpha).height == 4)
        #expect(dir.segmentNames().count == segments + 1)
        #expect(fileSize(dir.segment(segments + 1)) == 65)
        try await expectIntact(da, through: 3)
    }

    @Test func aFollowerHidesATornTailAndLeavesItToTheWriter() async throws {
        let dir = TempDir()
        try await writeLog(dir, count: 3)
        let cut = offsetOfHeight(3) + 70
        truncateFile(dir.segment(1), to: cut)
        let follower = try FileLogDA.openReadOnly(directory: dir.path)
        #expect(follower.recovery == nil)
        #expect(try await follower.head() == 2)
        #expect(await follower.health().isReady)
        #expect(fileSize(dir.segment(1)) == cut, "a follower never truncates")
        let writer = try FileLogDA(directory: dir.path)
        #expect(writer.recovery?.offset == offsetOfHeight(3))
        #expect(try await writer.submit([3], to: beta).height == 3)
        #expect(try await follower.head() == 3)
        #expect(try await onlyBlob(follower, beta, at: 3) == [3])
    }
}

@Suite struct CorruptionTests {
    /// Opens `dir` as writer and as follower; both must refuse with `.corrupted` naming `file` and `offset`.
    private func expectRefusal(_ dir: TempDir, file: String, offset: Int64, _ comment: String) async {
        for open in [
            { try FileLogDA(directory: dir.path) }, { try FileLogDA.openReadOnly(directory: dir.path) },
        ] as [() throws -> FileLogDA] {
            let error = await daError { try open() }
            #expect(error?.code == .corrupted, "\(comment)")
            let message = error?.message ?? ""
            #expect(message.contains("\(dir.path)/\(file) at byte offset \(offset):"), "\(comment): \(message)")
            #expect(!message.contains("\n"))
        }
    }

    @Test func aFlippedByteInAnEarlierRecordRefusesToOpen() async throws {
        let n = 6
        let original = TempDir()
        try await writeLog(original, count: n)
        let fullSize = fileSize(original.segment(1))
        for height in 1..<n {  // every record but the last
            let start = offsetOfHeight(height)
            let size = recordSize(payload(height - 1))
            for (where_, at) in [
                ("magic", start + 1), ("version", start + 4), ("flags", start + 5), ("length", start + 9),
                ("height", start + 12), ("namespace", start + 40), ("index", start + 52),
                ("header checksum", start + 56), ("record checksum", start + 63), ("first payload byte", start + 64),
                ("last payload byte", start + size - 1),
            ] {
                let dir = copySegments(of: original)
                flipByte(dir.segment(1), at: at, mask: 0x04)
                await expectRefusal(dir, file: "log-00000001.dsdnlog", offset: start, "height \(height), \(where_)")
                #expect(fileSize(dir.segment(1)) == fullSize, "a refused log is left untouched")
            }
        }
    }

    /// A zeroed 512-byte sector in the middle of a segment (a lost write, a bad block) is corruption, not
    /// a torn tail: the log refuses to open, naming the file and the offset of the first damaged record,
    /// and changes nothing.
    @Test func aZeroedSectorInTheMiddleRefusesToOpen() async throws {
        let original = TempDir()
        try await writeLog(original, count: 200)
        let fullSize = fileSize(original.segment(1))
        let sector: Int64 = 4_096
        #expect(fullSize > sector + 4_096, "the damage is in the middle")
        let damaged = try #require((1...200).last { offsetOfHeight($0) <= sector })
        let dir = copySegments(of: original)
        let handle = try #require(FileHandle(forUpdatingAtPath: dir.segment(1)))
        try handle.seek(toOffset: UInt64(sector))
        try handle.write(contentsOf: Data(count: 512))
        try handle.close()
        await expectRefusal(dir, file: "log-00000001.dsdnlog", offset: offsetOfHeight(damaged), "zeroed sector at \(sector)")
        #expect(fileSize(dir.segment(1)) == fullSize, "a refused log is left untouched")
    }

    @Test func corruptionInASealedSegmentNamesThatSegment() async throws {
        let original = TempDir()
        try await writeLog(original, count: 12, options: .init(segmentSize: 150))
        let names = original.segmentNames()
        try #require(names.count >= 4)
        // The last record of segment 2 (not the last segment): torn there is corruption.
        let second = original.segment(2)
        let size = fileSize(second)
        var dir = copySegments(of: original)
        flipByte(dir.segment(2), at: size - 1)
        let bytes = readFile(second)
        var lastStart: Int64 = 0
        var offset = 0
        while offset < bytes.count {
            lastStart = Int64(offset)
            offset += 64 + (Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8)
        }
        await expectRefusal(dir, file: "log-00000002.dsdnlog", offset: lastStart, "sealed segment payload")

        dir = copySegments(of: original)
        truncateFile(dir.segment(2), to: size - 3)
        await expectRefusal(dir, file: "log-00000002.dsdnlog", offset: lastStart, "sealed segment cut short")

        dir = copySegments(of: original)
        try FileManager.default.removeItem(atPath: dir.segment(3))
        let error = await daError { try FileLogDA(directory: dir.path) }
        #expect(error?.code == .corrupted)
        #expect(error?.message.contains("log-00000003.dsdnlog is missing") == true)

        dir = copySegments(of: original)
        writeFile(dir.file("log-7.dsdnlog"), [])
        #expect(await daError { try FileLogDA(directory: dir.path) }?.code == .corrupted)
    }

    @Test func heightsAndIndicesMustBeInSequence() async throws {
        let cases: [(String, [(height: UInt64, namespace: DANamespace, index: UInt32, commits: Bool, payload: [UInt8])], Int)] = [
            (
                "height goes back",
                [(1, alpha, 0, true, [1]), (2, alpha, 0, true, [2]), (1, alpha, 0, true, [3]), (3, alpha, 0, true, [4])], 2
            ),
            ("height skips", [(1, alpha, 0, true, [1]), (3, alpha, 0, true, [2]), (4, alpha, 0, true, [3])], 1),
            ("log starts at 2", [(2, alpha, 0, true, [1]), (3, alpha, 0, true, [2])], 0),
            ("index skips", [(1, alpha, 0, false, [1]), (1, alpha, 2, true, [2]), (2, alpha, 0, true, [3])], 1),
            (
                "index repeats", [(1, alpha, 0, false, [1]), (1, beta, 0, false, [2]), (1, alpha, 0, true, [3]), (2, alpha, 0, true, [4])],
                2
            ),
            ("batch changes height", [(1, alpha, 0, false, [1]), (2, alpha, 0, true, [2]), (3, alpha, 0, true, [3])], 1),
            // A sequence error is corruption even in the last record: its checksums are fine.
            ("last record out of sequence", [(1, alpha, 0, true, [1]), (5, alpha, 0, true, [2])], 1),
        ]
        for (name, records, bad) in cases {
            let dir = TempDir()
            writeFile(dir.segment(1), forge(records))
            let offset = records[..<bad].reduce(Int64(0)) { $0 + recordSize($1.payload) }
            await expectRefusal(dir, file: "log-00000001.dsdnlog", offset: offset, name)
            let error = await daError { try FileLogDA(directory: dir.path) }
            #expect(error?.message.contains("out of sequence") == true, "\(name)")
        }
    }

    @Test func aValidHeaderWithAnImpossibleFieldIsCorruptionEvenAtTheEnd() async throws {
        var bytes = forge([(1, alpha, 0, true, [1]), (2, alpha, 0, true, [2, 2])])
        // Declare a 2 GiB payload in the second header and fix up its header checksum.
        bytes[65 + 8 + 3] = 0x80
        let crc = CRC32C.checksum(bytes[65..<(65 + 56)])
        bytes.replaceSubrange((65 + 56)..<(65 + 60), with: withUnsafeBytes(of: crc.littleEndian, Array.init))
        let dir = TempDir()
        writeFile(dir.segment(1), bytes)
        await expectRefusal(dir, file: "log-00000001.dsdnlog", offset: 65, "impossible length")
        let error = await daError { try FileLogDA(directory: dir.path) }
        #expect(error?.message.contains("impossible payload length") == true)
    }
}
