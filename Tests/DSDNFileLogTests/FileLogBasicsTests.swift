import DSDNCore
import DSDNDA
import DSDNFileLog
import DSDNTestSupport
import Foundation
import Testing

@Suite struct FormatTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // 32 zero bytes: the iSCSI test vector (RFC 3720 B.4).
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func crc32cIsTheSameFedInPiecesOfAnySize() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 3, 7, 8, 9, 500, 999, 1000] {
            var crc = CRC32C()
            crc.update(bytes[..<split])
            crc.update(bytes[split...])
            #expect(crc.value == whole, "split at \(split)")
        }
    }

    @Test func segmentNamesAreCanonical() {
        #expect(FileLogFormat.segmentName(1) == "log-00000001.dsdnlog")
        #expect(FileLogFormat.segmentName(123_456_789) == "log-123456789.dsdnlog")
        #expect(FileLogFormat.segmentNumber(ofFileName: "log-00000042.dsdnlog") == 42)
        #expect(FileLogFormat.segmentNumber(ofFileName: "log-42.dsdnlog") == nil)
        #expect(FileLogFormat.segmentNumber(ofFileName: "log-000000042.dsdnlog") == nil)
        #expect(FileLogFormat.segmentNumber(ofFileName: "log-00000000.dsdnlog") == nil)
        #expect(FileLogFormat.segmentNumber(ofFileName: "LOCK") == nil)
    }

    /// The example record of docs/file-log.md §3, computed independently (Python's struct and a bitwise
    /// CRC-32C), pins the format: any change to it is a format change.
    @Test func theDocumentedExampleRecordIsByteExact() {
        let expected: [UInt8] = [
            0x44, 0x53, 0x4c, 0x47, 0x01, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8e, 0xd3, 0xf6, 0xad, 0x68, 0x5b, 0x95, 0x9e, 0xad,
            0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0xe3, 0x5b, 0x56, 0x9a, 0xd2, 0xd6, 0x53,
            0x68, 0x69,
        ]
        #expect(forge([(height: 1, namespace: alpha, index: 0, commits: true, payload: Array("hi".utf8))]) == expected)
    }

    @Test func recordLayoutIsAsDocumented() throws {
        let bytes = forge([(height: 0x0102_0304_0506_0708, namespace: alpha, index: 5, commits: true, payload: [9, 8, 7])])
        #expect(bytes.count == 64 + 3)
        #expect(Array(bytes[0..<4]) == Array("DSLG".utf8))
        #expect(bytes[4] == 1)  // version
        #expect(bytes[5] == 1)  // commit flag
        #expect(bytes[6] == 0 && bytes[7] == 0)
        #expect(Array(bytes[8..<12]) == [3, 0, 0, 0])  // length, little-endian
        #expect(Array(bytes[12..<20]) == [8, 7, 6, 5, 4, 3, 2, 1])  // height, little-endian
        #expect(Array(bytes[20..<49]) == alpha.bytes)
        #expect(Array(bytes[49..<52]) == [0, 0, 0])
        #expect(Array(bytes[52..<56]) == [5, 0, 0, 0])
        let headerCRC = CRC32C.checksum(bytes[0..<56])
        #expect(Array(bytes[56..<60]) == withUnsafeBytes(of: headerCRC.littleEndian, Array.init))
        let recordCRC = CRC32C.checksum(Array(bytes[0..<60]) + [9, 8, 7])
        #expect(Array(bytes[60..<64]) == withUnsafeBytes(of: recordCRC.littleEndian, Array.init))
        #expect(Array(bytes[64...]) == [9, 8, 7])
    }
}

@Suite struct FileLogBasicsTests {
    @Test func anEmptyDirectoryIsAnEmptyLog() async throws {
        let dir = TempDir()
        let path = dir.file("log")  // does not exist yet: the writer creates it
        let da = try FileLogDA(directory: path)
        #expect(try await da.head() == 0)
        #expect(da.recovery == nil)
        #expect(await daError { try await da.blobs(of: alpha, at: 1) }?.code == .heightFromFuture)
        #expect(await daError { try await da.blobs(of: alpha, at: 0) }?.code == .invalidRequest)
        let health = await da.health()
        #expect(health.isReady)
        #expect(health.head == 0)
        #expect(health.detail.contains(path))
        da.close()

        let reopened = try FileLogDA(directory: path)
        #expect(try await reopened.head() == 0)
        let follower = try FileLogDA.openReadOnly(directory: path)
        #expect(try await follower.head() == 0)
    }

    @Test func roundTripAcrossRestartsAndNamespaces() async throws {
        let dir = TempDir()
        var expected: [(UInt64, DANamespace, [UInt8])] = []
        do {
            let da = try FileLogDA(directory: dir.path)
            for i in 0..<6 {
                let namespace = i % 3 == 0 ? beta : alpha
                let reference = try await da.submit(payload(i), to: namespace)
                #expect(reference.height == UInt64(i + 1))
                #expect(reference.index == 0)
                #expect(reference.commitment == sha256(payload(i)).bytes)
                expected.append((reference.height, namespace, payload(i)))
            }
            #expect(try await da.head() == 6)
            da.close()
        }

        for round in 0..<2 {
            let da = try FileLogDA(directory: dir.path)
            #expect(da.recovery == nil)
            #expect(try await da.head() == UInt64(6 + round))
            for (height, namespace, data) in expected {
                let blobs = try await da.blobs(of: namespace, at: height)
                #expect(blobs.map(\.data) == [data])
                #expect(blobs.first?.reference == BlobReference(height: height, index: 0, commitment: sha256(data).bytes))
                let other = namespace == alpha ? beta : alpha
                #expect(try await da.blobs(of: other, at: height).isEmpty)
            }
            #expect(try await da.blobs(of: DANamespace(name: "never used"), at: 1).isEmpty)
            #expect(await daError { try await da.blobs(of: alpha, at: UInt64(7 + round)) }?.code == .heightFromFuture)
            // Appending after a restart continues the height sequence.
            let reference = try await da.submit(payload(100 + round), to: alpha)
            #expect(reference.height == UInt64(7 + round))
            expected.append((reference.height, alpha, payload(100 + round)))
            da.close()
        }
        #expect(dir.segmentNames() == ["log-00000001.dsdnlog"])
    }

    @Test func segmentsRollOverAtTheConfiguredSize() async throws {
        let dir = TempDir()
        let options = FileLogDA.Options(segmentSize: 200)
        var written: [[UInt8]] = []
        do {
            let da = try FileLogDA(directory: dir.path, options: options)
            for i in 0..<20 {
                written.append(payload(i))
                #expect(try await da.submit(payload(i), to: i % 2 == 0 ? alpha : beta).height == UInt64(i + 1))
            }
            // Readable straight away, across segments.
            for (i, data) in written.enumerated() {
                #expect(try await onlyBlob(da, i % 2 == 0 ? alpha : beta, at: UInt64(i + 1)) == data)
            }
            da.close()
        }
        let names = dir.segmentNames()
        #expect(names.count > 5)
        #expect(names == (1...names.count).map(FileLogFormat.segmentName))
        for name in names {
            // No segment is empty, and each holds whole records within the limit (every record is < 200).
            let size = fileSize(dir.file(name))
            #expect(size > 0 && size <= 200, "\(name) is \(size) bytes")
        }
        // Reopen with the default segment size: everything is still there, and appends go to the last one.
        let da = try FileLogDA(directory: dir.path)
        #expect(try await da.head() == 20)
        for (i, data) in written.enumerated() {
            #expect(try await onlyBlob(da, i % 2 == 0 ? alpha : beta, at: UInt64(i + 1)) == data)
        }
        #expect(try await da.submit([1, 2, 3], to: alpha).height == 21)
        #expect(dir.segmentNames().count == names.count)
    }

    @Test func aBatchIsOneHeightWithPerNamespaceIndicesAndOneCommitRecord() async throws {
        let dir = TempDir()
        let da = try FileLogDA(directory: dir.path)
        #expect(try await da.submit([0xAA], to: alpha).height == 1)
        let batch: [(namespace: DANamespace, data: [UInt8])] = [
            (alpha, [1]), (beta, [2, 2]), (alpha, [3, 3, 3]), (alpha, []), (beta, [5]),
        ]
        let references = try await da.submit(batch: batch)
        #expect(references.map(\.height) == [2, 2, 2, 2, 2])
        #expect(references.map(\.index) == [0, 0, 1, 2, 1])
        #expect(references.map(\.commitment) == batch.map { sha256($0.data).bytes })
        #expect(try await da.submit(batch: []) == [])
        #expect(try await da.head() == 2)
        let sameNamespace = try await da.submit(batch: [[7], [8]], to: beta)
        #expect(sameNamespace.map(\.height) == [3, 3])
        #expect(sameNamespace.map(\.index) == [0, 1])
        #expect(try await da.submit([9], to: alpha).height == 4)
        da.close()

        // Only the last record of each height carries the commit flag (byte 5 of its header).
        let bytes = readFile(dir.segment(1))
        var offset = 0
        var flags: [UInt8] = []
        while offset < bytes.count {
            flags.append(bytes[offset + 5])
            let length = Int(bytes[offset + 8]) | Int(bytes[offset + 9]) << 8
            offset += 64 + length
        }
        #expect(offset == bytes.count)
        #expect(flags == [1, 0, 0, 0, 0, 1, 0, 1, 1])

        let reopened = try FileLogDA(directory: dir.path)
        #expect(try await reopened.head() == 4)
        let alphaBlobs = try await reopened.blobs(of: alpha, at: 2)
        #expect(alphaBlobs.map(\.data) == [[1], [3, 3, 3], []])
        #expect(alphaBlobs.map(\.reference.index) == [0, 1, 2])
        #expect(try await reopened.blobs(of: beta, at: 2).map(\.data) == [[2, 2], [5]])
        #expect(try await reopened.blobs(of: beta, at: 3).map(\.data) == [[7], [8]])
        #expect(try await reopened.blobs(of: alpha, at: 3).isEmpty)
        #expect(try await onlyBlob(reopened, alpha, at: 4) == [9])
    }

    @Test func tenThousandSmallBlobsInBatchesOfOneHundred() async throws {
        let dir = TempDir()
        let da = try FileLogDA(directory: dir.path)
        let clock = ContinuousClock()
        let start = clock.now
        for batch in 0..<100 {
            let blobs = (0..<100).map { Array("event \(batch * 100 + $0)".utf8) }
            let references = try await da.submit(batch: blobs, to: alpha)
            #expect(references.count == 100 && references.allSatisfy { $0.height == UInt64(batch + 1) })
        }
        let elapsed = clock.now - start
        print("file log: 10,000 blobs in 100 fsynced batches took \(elapsed)")  // informational only
        da.close()
        let reopened = try FileLogDA(directory: dir.path)
        #expect(try await reopened.head() == 100)
        let last = try await reopened.blobs(of: alpha, at: 100)
        #expect(last.count == 100)
        #expect(last.last?.data == Array("event 9999".utf8))
        #expect(try await reopened.blobs(of: alpha, at: 37).map(\.data)[5] == Array("event 3605".utf8))
    }

    @Test func blobsLargerThanTheScanWindowRoundTrip() async throws {
        let dir = TempDir()
        let big = (0..<FileLogDA.Options.defaultMaxBlobSize).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 9) }
        let medium = Array(big[..<1_500_000].reversed())
        do {
            let da = try FileLogDA(directory: dir.path)
            _ = try await da.submit([1], to: alpha)
            _ = try await da.submit(big, to: alpha)
            _ = try await da.submit(batch: [(beta, medium), (beta, [2]), (alpha, big)])
            da.close()
        }
        let da = try FileLogDA(directory: dir.path)
        #expect(da.recovery == nil)
        #expect(try await onlyBlob(da, alpha, at: 2) == big)
        #expect(try await da.blobs(of: beta, at: 3).map(\.data) == [medium, [2]])
        #expect(try await onlyBlob(da, alpha, at: 3) == big)
        da.close()

        // A torn copy of the last (2 MiB) record is cut back to the start of its batch.
        truncateFile(dir.segment(1), to: fileSize(dir.segment(1)) - 1)
        let recovered = try FileLogDA(directory: dir.path)
        #expect(try await recovered.head() == 2)
        #expect(recovered.recovery?.completeRecordsDropped == 2)
        #expect(try await onlyBlob(recovered, alpha, at: 2) == big)
    }

    @Test func limitsAndClosedState() async throws {
        let dir = TempDir()
        let da = try FileLogDA(directory: dir.path, options: .init(maxBlobSize: 10))
        #expect(await daError { try await da.submit([UInt8](repeating: 0, count: 11), to: alpha) }?.code == .blobTooLarge)
        #expect(
            await daError { try await da.submit(batch: [(alpha, [1]), (beta, [UInt8](repeating: 0, count: 11))]) }?
                .code == .blobTooLarge)
        #expect(try await da.head() == 0)  // the rejected batch wrote nothing
        #expect(try await da.submit([UInt8](repeating: 0, count: 10), to: alpha).height == 1)
        da.close()
        da.close()  // idempotent
        #expect(await daError { try await da.submit([1], to: alpha) }?.code == .unavailable)
        #expect(await daError { try await da.head() }?.code == .unavailable)
        #expect(await daError { try await da.blobs(of: alpha, at: 1) }?.code == .unavailable)
        let health = await da.health()
        #expect(!health.isReady)
        #expect(health.detail.contains("closed"))
    }

    @Test func writerStreamYieldsEveryCommittedHeightAndEndsOnClose() async throws {
        let dir = TempDir()
        let da = try FileLogDA(directory: dir.path)
        _ = try await da.submit([0], to: alpha)  // before subscribing: not in the stream
        let stream = da.newHeights()
        _ = try await da.submit([1], to: alpha)
        _ = try await da.submit(batch: [[2], [3]], to: beta)
        _ = try await da.submit([4], to: alpha)
        da.close()
        var seen: [UInt64] = []
        for await height in stream { seen.append(height) }
        #expect(seen == [2, 3, 4])
    }

    @Test func aReadThatFindsADamagedRecordThrowsCorruptedWithFileAndOffset() async throws {
        let dir = TempDir()
        let da = try FileLogDA(directory: dir.path)
        for i in 0..<3 { _ = try await da.submit(payload(i), to: alpha) }
        let second = recordSize(payload(0))
        // Damage the payload of height 2 behind the open log's back.
        flipByte(dir.segment(1), at: second + 64 + 2, mask: 0x01)
        let error = await daError { try await da.blobs(of: alpha, at: 2) }
        #expect(error?.code == .corrupted)
        #expect(error?.message.contains("log-00000001.dsdnlog at byte offset \(second):") == true)
        #expect(try await onlyBlob(da, alpha, at: 1) == payload(0))
        #expect(try await onlyBlob(da, alpha, at: 3) == payload(2))
    }
}
