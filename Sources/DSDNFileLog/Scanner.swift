import DSDNDA

/// A record found by a scan, with its position.
struct ScannedRecord: Hashable, Sendable {
    var height: UInt64
    var namespace: DANamespace
    var index: UInt32
    var segment: Int
    /// Byte offset of the record's header in its segment.
    var offset: Int64
    var payloadLength: Int
}

/// What a scan of one segment (from a record boundary to a given size) found.
struct SegmentScan: Sendable {
    /// Records of complete (committed) heights, in log order.
    var committed: [ScannedRecord] = []
    /// The newest committed height after the scan.
    var head: UInt64
    /// The offset just past the last commit record (or the start offset if there was none): the end of
    /// the durable, acknowledged part of the segment.
    var committedEnd: Int64
    /// Valid records after `committedEnd` whose height has no commit record yet (an unfinished batch).
    var pending: [ScannedRecord] = []
    /// Where and why the scan stopped before the end of the data, when the last record is torn: it is
    /// incomplete or fails a check and nothing recognizable follows it.
    var torn: (offset: Int64, reason: String)?

    /// Whether the segment ends exactly after a commit record.
    var isClean: Bool { torn == nil && pending.isEmpty }
}

/// Walks the records of one segment and applies the recovery rules of `docs/file-log.md` §4:
///
/// - a failing record is **torn** (the scan stops and reports it) when nothing recognizable follows it:
///   its header or payload is cut short by the end of the data, its header is unrecognizable (bad magic,
///   version or header checksum) and no valid header starts anywhere after it, or its header is valid,
///   its record checksum fails and it ends exactly at the end of the data;
/// - every other failure is **corruption** and throws `DAError(.corrupted, ...)` naming the file and the
///   byte offset of the failing record: a record checksum mismatch with data after the record, an
///   unrecognizable header followed by a valid one, a header that checks out but holds an invalid field
///   (flags, reserved bytes, length, height 0, namespace), or a height or index out of sequence.
///
/// Whether a torn record may be truncated (only in the last segment, only by the writer) is the
/// caller's decision.
struct SegmentScanner {
    let segment: SegmentFile
    let size: Int64
    private var window: [UInt8] = []
    private var windowStart: Int64 = 0

    private static let windowSize = 1 << 20

    init(segment: SegmentFile, size: Int64) {
        self.segment = segment
        self.size = size
    }

    static func corrupted(_ path: String, _ offset: Int64, _ reason: String) -> DAError {
        DAError(.corrupted, "corrupted record in \(path) at byte offset \(offset): \(reason)")
    }

    /// Scans from `start` (a record boundary) to `size`, continuing the height sequence after `head`.
    mutating func scan(from start: Int64, head startHead: UInt64) throws(DAError) -> SegmentScan {
        var result = SegmentScan(head: startHead, committedEnd: start)
        var offset = start
        var counts: [(namespace: DANamespace, count: UInt32)] = []
        var lastNamespace: DANamespace?
        let path = segment.path

        while offset < size {
            let available = size - offset
            if available < Int64(FileLogFormat.headerSize) {
                result.torn = (offset, "short header (\(available) of \(FileLogFormat.headerSize) bytes)")
                break
            }
            let at = try load(offset, FileLogFormat.headerSize)
            let headerBytes = window[at..<(at + FileLogFormat.headerSize)]
            let header: RecordHeader
            switch RecordCodec.decodeHeader(headerBytes) {
            case .failure(.unrecognizable(let why)):
                if let next = try findHeader(after: offset) {
                    throw Self.corrupted(path, offset, "\(why), and a valid record header follows at byte offset \(next)")
                }
                result.torn = (offset, "\(why) in the last record")
                return result
            case .failure(.invalid(let why)):
                throw Self.corrupted(path, offset, why)
            case .success(let decoded):
                header = decoded
            }
            let recordEnd = offset + header.recordSize
            if recordEnd > size {
                result.torn = (
                    offset,
                    "short payload (\(available - Int64(FileLogFormat.headerSize)) of \(header.payloadLength) bytes)"
                )
                break
            }
            let payloadAt = try load(offset + Int64(FileLogFormat.headerSize), header.payloadLength)
            // `load` may replace the window; `headerBytes` keeps the storage it slices alive.
            let payload = window[payloadAt..<(payloadAt + header.payloadLength)]
            guard
                RecordCodec.recordChecksumMatches(
                    header: headerBytes, payload: payload, expected: header.recordChecksum)
            else {
                if recordEnd == size {
                    result.torn = (offset, "record checksum mismatch in the last record")
                    break
                }
                throw Self.corrupted(path, offset, "record checksum mismatch (height \(header.height))")
            }
            let expectedHeight = result.head + 1
            guard header.height == expectedHeight else {
                throw Self.corrupted(
                    path, offset, "height \(header.height) out of sequence (expected \(expectedHeight))")
            }
            let namespace: DANamespace
            if let lastNamespace, lastNamespace.bytes.elementsEqual(header.namespaceBytes) {
                namespace = lastNamespace
            } else {
                do throws(DAError) {
                    namespace = try DANamespace(bytes: Array(header.namespaceBytes))
                } catch {
                    throw Self.corrupted(path, offset, "invalid namespace: \(error.message)")
                }
                lastNamespace = namespace
            }
            let slot = counts.firstIndex { $0.namespace == namespace }
            let expectedIndex = slot.map { counts[$0].count } ?? 0
            guard header.index == expectedIndex else {
                throw Self.corrupted(
                    path, offset,
                    "blob index \(header.index) out of sequence at height \(header.height) (expected \(expectedIndex))")
            }
            if let slot { counts[slot].count += 1 } else { counts.append((namespace, 1)) }
            result.pending.append(
                ScannedRecord(
                    height: header.height, namespace: namespace, index: header.index, segment: segment.number,
                    offset: offset, payloadLength: header.payloadLength))
            offset = recordEnd
            if header.commits {
                result.committed.append(contentsOf: result.pending)
                result.pending.removeAll(keepingCapacity: true)
                counts.removeAll(keepingCapacity: true)
                result.head = header.height
                result.committedEnd = offset
            }
        }
        return result
    }

    /// The offset of the first recognizable record header (magic, version and header checksum right)
    /// that starts after `offset` and fits before the end, if any.
    private mutating func findHeader(after offset: Int64) throws(DAError) -> Int64? {
        var candidate = offset + 1
        let last = size - Int64(FileLogFormat.headerSize)
        let magic = FileLogFormat.magic
        while candidate <= last {
            let at = try load(candidate, FileLogFormat.headerSize)
            if window[at] == magic[0] && window[at + 1] == magic[1] && window[at + 2] == magic[2]
                && window[at + 3] == magic[3],
                case .success = RecordCodec.decodeHeader(window[at..<(at + FileLogFormat.headerSize)])
            {
                return candidate
            }
            candidate += 1
        }
        return nil
    }

    /// Makes bytes `offset ..< offset + count` (all before `size`) available in the window and returns
    /// the index of `offset` in it.
    private mutating func load(_ offset: Int64, _ count: Int) throws(DAError) -> Int {
        if offset >= windowStart && offset + Int64(count) <= windowStart + Int64(window.count) {
            return Int(offset - windowStart)
        }
        let want = Int(min(Int64(max(count, Self.windowSize)), size - offset))
        window = try segment.read(at: offset, count: want)
        windowStart = offset
        guard window.count >= count else {
            throw DAError(
                .unavailable,
                "\(segment.path) shrank while being read: \(window.count) of \(count) bytes at byte offset \(offset)")
        }
        return 0
    }
}
