/// A decoded PNG image (8-bit gray, gray+alpha, RGB or RGBA; non-interlaced), for checking the pixels of
/// screenshots in tests. Decoding is self-contained (its own zlib inflater) and bounds-checked: a
/// truncated or corrupt file throws a `DecodingError`, never traps.
public struct PNGImage: Sendable {
    /// Why a file could not be decoded.
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        /// What is wrong, with the byte offset where useful.
        public let message: String
        public var description: String { "PNG: \(message)" }
    }

    public let width: Int, height: Int
    /// Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    private let channels: Int
    /// Unfiltered samples, row by row.
    private let samples: [UInt8]

    /// Decodes a whole PNG file.
    public init(data: [UInt8]) throws {
        let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        guard data.count >= 8, Array(data[0..<8]) == signature else { throw DecodingError(message: "not a PNG file (bad signature)") }
        var offset = 8
        var header: (width: Int, height: Int, channels: Int)?
        var compressed: [UInt8] = []
        var sawEnd = false
        while !sawEnd {
            guard data.count - offset >= 12 else { throw DecodingError(message: "truncated: chunk header expected at byte \(offset)") }
            let length = Int(bigEndian32(data, offset))
            let type = String(decoding: data[offset + 4..<offset + 8], as: UTF8.self)
            guard length <= data.count - offset - 12 else {
                throw DecodingError(message: "truncated: chunk \(type) at byte \(offset) declares \(length) bytes, file ends before")
            }
            let body = offset + 8..<offset + 8 + length
            let crc = bigEndian32(data, body.upperBound)
            guard crc32(data[offset + 4..<body.upperBound]) == crc else {
                throw DecodingError(message: "bad CRC of chunk \(type) at byte \(offset)")
            }
            if header == nil && type != "IHDR" { throw DecodingError(message: "first chunk is \(type), not IHDR") }
            switch type {
            case "IHDR":
                guard header == nil else { throw DecodingError(message: "second IHDR at byte \(offset)") }
                header = try Self.parseHeader(data[body])
            case "IDAT": compressed += data[body]
            case "IEND": sawEnd = true
            default:
                // Ancillary chunks (lowercase first letter) and a suggested palette are ignorable.
                guard type == "PLTE" || data[offset + 4] & 0x20 != 0 else {
                    throw DecodingError(message: "unsupported critical chunk \(type) at byte \(offset)")
                }
            }
            offset = body.upperBound + 4
        }
        guard let header else { throw DecodingError(message: "no IHDR chunk") }
        guard !compressed.isEmpty else { throw DecodingError(message: "no IDAT chunk") }
        let stride = header.width * header.channels
        let filtered = try Inflater.zlibDecompress(compressed, limit: header.height * (stride + 1))
        guard filtered.count == header.height * (stride + 1) else {
            throw DecodingError(message: "image data is \(filtered.count) bytes, expected \(header.height * (stride + 1))")
        }
        (width, height, channels) = header
        samples = try Self.unfilter(filtered, height: height, stride: stride, bytesPerPixel: channels)
    }

    /// The pixel at column `x`, row `y` (from the top left) as RGBA; gray is spread to all three colours,
    /// and images without alpha are opaque.
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) is outside the \(width)×\(height) image")
        let i = (y * width + x) * channels
        switch channels {
        case 1: return (samples[i], samples[i], samples[i], 255)
        case 2: return (samples[i], samples[i], samples[i], samples[i + 1])
        case 3: return (samples[i], samples[i + 1], samples[i + 2], 255)
        default: return (samples[i], samples[i + 1], samples[i + 2], samples[i + 3])
        }
    }

    /// Width, height and samples per pixel from IHDR's 13 bytes; refuses what this decoder does not support.
    private static func parseHeader(_ body: ArraySlice<UInt8>) throws -> (width: Int, height: Int, channels: Int) {
        guard body.count == 13 else { throw DecodingError(message: "IHDR is \(body.count) bytes, expected 13") }
        let base = body.startIndex
        let width = Int(bigEndian32(body, base))
        let height = Int(bigEndian32(body, base + 4))
        let (depth, colour, compression, filter, interlace) = (
            body[base + 8], body[base + 9], body[base + 10], body[base + 11], body[base + 12]
        )
        // 2^24 pixels a side is far beyond any screenshot and keeps the size arithmetic far from overflow.
        guard (1...(1 << 24)).contains(width), (1...(1 << 24)).contains(height) else {
            throw DecodingError(message: "unsupported image size \(width)×\(height)")
        }
        guard depth == 8 else { throw DecodingError(message: "unsupported bit depth \(depth) (only 8)") }
        let channels: Int
        switch colour {
        case 0: channels = 1
        case 2: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        default: throw DecodingError(message: "unsupported colour type \(colour) (only 0, 2, 4, 6)")
        }
        guard compression == 0, filter == 0 else {
            throw DecodingError(message: "unknown compression \(compression) or filter method \(filter)")
        }
        guard interlace == 0 else { throw DecodingError(message: "interlaced (Adam7) images are not supported") }
        guard width * height * channels <= 1 << 30 else { throw DecodingError(message: "image \(width)×\(height) is too large") }
        return (width, height, channels)
    }

    /// Undoes the per-row filters (None, Sub, Up, Average, Paeth) of `data`, rows of `stride` + 1 bytes.
    private static func unfilter(_ data: [UInt8], height: Int, stride: Int, bytesPerPixel bpp: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = data[y * (stride + 1)]
            let input = y * (stride + 1) + 1
            let row = y * stride
            let previous = row - stride
            for i in 0..<stride {
                let raw = data[input + i]
                let a = i >= bpp ? out[row + i - bpp] : 0
                let b = y > 0 ? out[previous + i] : 0
                let c = i >= bpp && y > 0 ? out[previous + i - bpp] : 0
                let predicted: UInt8
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = UInt8((Int(a) + Int(b)) / 2)
                case 4: predicted = paeth(a, b, c)
                default: throw DecodingError(message: "unknown filter type \(filter) on row \(y) (byte \(input - 1) of the image data)")
                }
                out[row + i] = raw &+ predicted
            }
        }
        return out
    }

    private static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let (pa, pb, pc) = (abs(p - Int(a)), abs(p - Int(b)), abs(p - Int(c)))
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
    }
}

/// The big-endian 32-bit number at `offset` (the caller has checked the four bytes exist).
private func bigEndian32<C: RandomAccessCollection<UInt8>>(_ bytes: C, _ offset: C.Index) -> UInt32 where C.Index == Int {
    (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(bytes[offset + $1]) }
}

private let crcTable: [UInt32] = (0..<256).map { n in
    (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
}

/// CRC-32 (ISO 3309, as PNG uses it) of `bytes`.
private func crc32<C: Sequence<UInt8>>(_ bytes: C) -> UInt32 {
    ~bytes.reduce(~UInt32(0)) { crcTable[Int(($0 ^ UInt32($1)) & 0xFF)] ^ ($0 >> 8) }
}

/// Adler-32 (RFC 1950) of `bytes`.
private func adler32(_ bytes: [UInt8]) -> UInt32 {
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in bytes {
        a = (a + UInt32(byte)) % 65521
        b = (b + a) % 65521
    }
    return b << 16 | a
}

/// A zlib (RFC 1950) / DEFLATE (RFC 1951) decompressor: stored, fixed and dynamic Huffman blocks.
private enum Inflater {
    /// The decompressed contents of the zlib stream `input`, its Adler-32 verified; throws when the
    /// output would exceed `limit` bytes.
    static func zlibDecompress(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        guard input.count >= 2 else { throw PNGImage.DecodingError(message: "truncated zlib header") }
        let (cmf, flg) = (Int(input[0]), Int(input[1]))
        guard cmf & 0x0F == 8, cmf >> 4 <= 7, (cmf << 8 | flg) % 31 == 0, flg & 0x20 == 0 else {
            throw PNGImage.DecodingError(message: "bad zlib header \(String(cmf, radix: 16)) \(String(flg, radix: 16))")
        }
        var reader = BitReader(bytes: input, position: 2)
        var out: [UInt8] = []
        out.reserveCapacity(min(limit, 1 << 24))
        var last = false
        while !last {
            last = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0: try stored(&reader, &out, limit)
            case 1: try huffman(&reader, &out, limit, Huffman.fixedLengths, Huffman.fixedDistances)
            case 2:
                let (lengths, distances) = try dynamicTables(&reader)
                try huffman(&reader, &out, limit, lengths, distances)
            default: throw reader.error("invalid block type 3")
            }
        }
        reader.alignToByte()
        guard reader.position + 4 <= input.count else { throw reader.error("truncated: Adler-32 checksum missing") }
        guard bigEndian32(input, reader.position) == adler32(out) else { throw reader.error("Adler-32 checksum mismatch") }
        return out
    }

    private static func stored(_ reader: inout BitReader, _ out: inout [UInt8], _ limit: Int) throws {
        reader.alignToByte()
        let bytes = reader.bytes
        let start = reader.position
        guard start + 4 <= bytes.count else { throw reader.error("truncated stored block header") }
        let length = Int(bytes[start]) | Int(bytes[start + 1]) << 8
        guard length ^ 0xFFFF == Int(bytes[start + 2]) | Int(bytes[start + 3]) << 8 else {
            throw reader.error("stored block length does not match its complement")
        }
        guard start + 4 + length <= bytes.count else { throw reader.error("truncated stored block of \(length) bytes") }
        guard out.count + length <= limit else { throw reader.error("more data than the image holds") }
        out += bytes[start + 4..<start + 4 + length]
        reader.position = start + 4 + length
    }

    private static let lengthBase = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
    ]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193,
        12289, 16385, 24577,
    ]
    private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    /// Decodes one Huffman-coded block's literals and length/distance pairs up to its end-of-block code.
    private static func huffman(_ reader: inout BitReader, _ out: inout [UInt8], _ limit: Int, _ lengths: Huffman, _ distances: Huffman)
        throws
    {
        while true {
            let symbol = try lengths.decode(&reader)
            if symbol < 256 {
                guard out.count < limit else { throw reader.error("more data than the image holds") }
                out.append(UInt8(symbol))
                continue
            }
            if symbol == 256 { return }
            guard symbol - 257 < lengthBase.count else { throw reader.error("invalid length code \(symbol)") }
            let length = lengthBase[symbol - 257] + (try reader.bits(lengthExtra[symbol - 257]))
            let code = try distances.decode(&reader)
            guard code < distanceBase.count else { throw reader.error("invalid distance code \(code)") }
            let distance = distanceBase[code] + (try reader.bits(distanceExtra[code]))
            guard distance <= out.count else { throw reader.error("distance \(distance) reaches before the start of the data") }
            guard out.count + length <= limit else { throw reader.error("more data than the image holds") }
            // Byte by byte: a copy may overlap its own output.
            for _ in 0..<length { out.append(out[out.count - distance]) }
        }
    }

    /// Reads a dynamic block's code-length header and builds its literal/length and distance codes.
    private static func dynamicTables(_ reader: inout BitReader) throws -> (Huffman, Huffman) {
        let literalCount = try reader.bits(5) + 257
        let distanceCount = try reader.bits(5) + 1
        let codeLengthCount = try reader.bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw reader.error("too many length or distance codes") }
        var codeLengthLengths = [Int](repeating: 0, count: 19)
        for index in [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15].prefix(codeLengthCount) {
            codeLengthLengths[index] = try reader.bits(3)
        }
        let codeLengths = try Huffman(lengths: codeLengthLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try codeLengths.decode(&reader)
            let (value, repeats): (Int, Int)
            switch symbol {
            case 0...15: (value, repeats) = (symbol, 1)
            case 16:
                guard let previous = lengths.last else { throw reader.error("repeat of a code length with none before") }
                (value, repeats) = (previous, 3 + (try reader.bits(2)))
            case 17: (value, repeats) = (0, 3 + (try reader.bits(3)))
            default: (value, repeats) = (0, 11 + (try reader.bits(7)))
            }
            guard lengths.count + repeats <= literalCount + distanceCount else { throw reader.error("code lengths overrun their count") }
            lengths += repeatElement(value, count: repeats)
        }
        guard lengths[256] != 0 else { throw reader.error("no end-of-block code") }
        return (
            try Huffman(lengths: Array(lengths[..<literalCount])),
            try Huffman(lengths: Array(lengths[literalCount...]))
        )
    }
}

/// A canonical Huffman code: how many codes each length has, and the symbols in code order.
private struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int] = []

    static let fixedLengths = try! Huffman(
        lengths: [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112) + [Int](repeating: 7, count: 24)
            + [Int](repeating: 8, count: 8),
    )
    static let fixedDistances = try! Huffman(lengths: [Int](repeating: 5, count: 30))

    /// Builds the code from each symbol's code length (0: unused); refuses an over-subscribed set.
    init(lengths: [Int]) throws {
        for length in lengths { counts[length] += 1 }
        var left = 1
        for length in 1...15 {
            left = left << 1 - counts[length]
            guard left >= 0 else { throw PNGImage.DecodingError(message: "over-subscribed Huffman code in the zlib stream") }
        }
        for length in 1...15 {
            for (symbol, l) in lengths.enumerated() where l == length { symbols.append(symbol) }
        }
    }

    /// Reads one symbol, a bit at a time (RFC 1951 sends Huffman codes most significant bit first).
    func decode(_ reader: inout BitReader) throws -> Int {
        var code = 0
        var first = 0
        var index = 0
        for length in 1...15 {
            code |= try reader.bits(1)
            let count = counts[length]
            if code - first < count { return symbols[index + code - first] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw reader.error("invalid Huffman code")
    }
}

/// Reads a byte array's bits least significant first, throwing at its end.
private struct BitReader {
    let bytes: [UInt8]
    var position: Int
    var bitBuffer = 0, bitCount = 0

    init(bytes: [UInt8], position: Int) {
        self.bytes = bytes
        self.position = position
    }

    mutating func bits(_ count: Int) throws -> Int {
        while bitCount < count {
            guard position < bytes.count else { throw error("truncated compressed data") }
            bitBuffer |= Int(bytes[position]) << bitCount
            position += 1
            bitCount += 8
        }
        let value = bitBuffer & (1 << count - 1)
        bitBuffer >>= count
        bitCount -= count
        return value
    }

    /// Drops the rest of the current byte (before a stored block and the checksum).
    mutating func alignToByte() { (bitBuffer, bitCount) = (0, 0) }

    func error(_ message: String) -> PNGImage.DecodingError {
        PNGImage.DecodingError(message: "\(message) (at byte \(position) of the zlib stream)")
    }
}
