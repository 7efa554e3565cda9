import DSDNDA

/// The on-disk record format of the file log (format version 1). `docs/file-log.md` describes it byte by
/// byte; this type is the single place in code that knows it.
///
/// A record is a 64-byte header followed by the payload (the blob's bytes):
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 4 | magic `"DSLG"` (0x44 0x53 0x4C 0x47) |
/// | 4 | 1 | format version, 1 |
/// | 5 | 1 | flags: bit 0 = commit (last record of its height); other bits 0 |
/// | 6 | 2 | reserved, 0 |
/// | 8 | 4 | payload length, u32 little-endian, at most ``maxPayloadLength`` |
/// | 12 | 8 | height, u64 little-endian, ≥ 1 |
/// | 20 | 29 | namespace (a valid ``DANamespace``) |
/// | 49 | 3 | reserved, 0 |
/// | 52 | 4 | index of the blob among its namespace's blobs at this height, u32 little-endian |
/// | 56 | 4 | header checksum: CRC-32C of bytes 0..<56, little-endian |
/// | 60 | 4 | record checksum: CRC-32C of bytes 0..<60 followed by the payload, little-endian |
/// | 64 | n | payload |
public enum FileLogFormat {
    /// The record magic, `"DSLG"`.
    public static let magic: [UInt8] = [0x44, 0x53, 0x4C, 0x47]
    /// The format version this code writes and reads.
    public static let version: UInt8 = 1
    /// The header's size in bytes.
    public static let headerSize = 64
    /// The largest payload a record may declare (1 GiB). A valid header declaring more is corruption.
    public static let maxPayloadLength = 1 << 30
    /// Flag bit 0: this record is the last of its height; the height is complete (committed) with it.
    public static let commitFlag: UInt8 = 0x01

    /// The bytes of one record, exactly as the writer appends it (for tools and tests that build or
    /// inspect logs; `payload` must not exceed ``maxPayloadLength``).
    public static func encodeRecord(
        height: UInt64, namespace: DANamespace, index: UInt32, commits: Bool, payload: [UInt8]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + payload.count)
        RecordCodec.append(
            to: &out, height: height, namespace: namespace, index: index, commits: commits, payload: payload)
        return out
    }

    /// The file name of segment `number` (1-based): `log-` + the number in at least 8 decimal digits +
    /// `.dsdnlog`, e.g. `log-00000001.dsdnlog`.
    public static func segmentName(_ number: Int) -> String {
        let digits = String(number)
        return "log-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".dsdnlog"
    }

    /// The segment number of a file name in canonical form (as ``segmentName(_:)`` writes it), or `nil`.
    public static func segmentNumber(ofFileName name: String) -> Int? {
        guard name.hasPrefix("log-"), name.hasSuffix(".dsdnlog") else { return nil }
        let digits = name.dropFirst(4).dropLast(8)
        guard digits.count >= 8, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let number = Int(digits), number >= 1, segmentName(number) == name
        else { return nil }
        return number
    }
}

/// A decoded, header-checksum-verified record header.
struct RecordHeader: Hashable, Sendable {
    var flags: UInt8
    var payloadLength: Int
    var height: UInt64
    var namespaceBytes: ArraySlice<UInt8>
    var index: UInt32
    var recordChecksum: UInt32

    var commits: Bool { flags & FileLogFormat.commitFlag != 0 }
    var recordSize: Int64 { Int64(FileLogFormat.headerSize + payloadLength) }
}

/// Why a header could not be used.
enum HeaderProblem: Error, Hashable, Sendable {
    /// Not recognizable as a header at all (bad magic, version or header checksum). A torn write or
    /// garbage: its length cannot be trusted.
    case unrecognizable(String)
    /// The header checksum is right, so these bytes were written as a header, but a field is invalid.
    /// Never the result of a torn write: always corruption.
    case invalid(String)
}

enum RecordCodec {
    /// Encodes one record into `out`.
    static func append(
        to out: inout [UInt8], height: UInt64, namespace: DANamespace, index: UInt32, commits: Bool,
        payload: [UInt8]
    ) {
        precondition(payload.count <= FileLogFormat.maxPayloadLength, "payload exceeds the format limit")
        let start = out.count
        out.append(contentsOf: FileLogFormat.magic)
        out.append(FileLogFormat.version)
        out.append(commits ? FileLogFormat.commitFlag : 0)
        out.append(contentsOf: [0, 0])
        appendLE(&out, UInt32(payload.count))
        appendLE(&out, height)
        out.append(contentsOf: namespace.bytes)
        out.append(contentsOf: [0, 0, 0])
        appendLE(&out, index)
        let headerChecksum = CRC32C.checksum(out[start..<(start + 56)])
        appendLE(&out, headerChecksum)
        var record = CRC32C()
        record.update(out[start..<(start + 60)])
        record.update(payload)
        appendLE(&out, record.value)
        out.append(contentsOf: payload)
    }

    /// Decodes and checks the 64 header bytes in `bytes`.
    static func decodeHeader(_ bytes: ArraySlice<UInt8>) -> Result<RecordHeader, HeaderProblem> {
        precondition(bytes.count == FileLogFormat.headerSize)
        let b = bytes.startIndex
        guard bytes[b..<(b + 4)].elementsEqual(FileLogFormat.magic) else {
            return .failure(.unrecognizable("bad magic"))
        }
        guard bytes[b + 4] == FileLogFormat.version else {
            return .failure(.unrecognizable("unknown format version \(bytes[b + 4])"))
        }
        let storedHeaderChecksum = UInt32(readLE(bytes, b + 56, 4))
        guard CRC32C.checksum(bytes[b..<(b + 56)]) == storedHeaderChecksum else {
            return .failure(.unrecognizable("header checksum mismatch"))
        }
        let flags = bytes[b + 5]
        guard flags & ~FileLogFormat.commitFlag == 0 else {
            return .failure(.invalid("unknown flags 0x\(String(flags, radix: 16))"))
        }
        guard bytes[b + 6] == 0, bytes[b + 7] == 0, bytes[b + 49] == 0, bytes[b + 50] == 0, bytes[b + 51] == 0
        else {
            return .failure(.invalid("reserved header bytes are not zero"))
        }
        let length = Int(readLE(bytes, b + 8, 4))
        guard length <= FileLogFormat.maxPayloadLength else {
            return .failure(.invalid("impossible payload length \(length)"))
        }
        let height = readLE(bytes, b + 12, 8)
        guard height >= 1 else { return .failure(.invalid("height 0")) }
        // The namespace bytes are validated by the caller (`DANamespace(bytes:)`), which caches the
        // namespace of the previous record so a run of records in one namespace allocates once.
        let namespaceBytes = bytes[(b + 20)..<(b + 49)]
        return .success(
            RecordHeader(
                flags: flags, payloadLength: length, height: height, namespaceBytes: namespaceBytes,
                index: UInt32(readLE(bytes, b + 52, 4)), recordChecksum: UInt32(readLE(bytes, b + 60, 4))))
    }

    /// Whether the record checksum matches: CRC-32C over header bytes 0..<60 and the payload.
    static func recordChecksumMatches(header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>, expected: UInt32)
        -> Bool
    {
        var crc = CRC32C()
        crc.update(header.prefix(60))
        crc.update(payload)
        return crc.value == expected
    }

    private static func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }

    private static func readLE(_ bytes: ArraySlice<UInt8>, _ at: Int, _ count: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in stride(from: count - 1, through: 0, by: -1) { value = value << 8 | UInt64(bytes[at + i]) }
        return value
    }
}
