import DSDNCelestia
import DSDNCore
import DSDNDA
import DSDNTestSupport
import Foundation
import Testing

/// Our share commitments against an independent implementation: the PyPI client pycelestia (pinned in
/// scripts/pycelestia/requirements.txt), whose Rust extension computes them with celestia-types, over
/// seeded-random blobs from 1 byte to 2 MiB. `scripts/dev.sh test` installs it into `.venv-test`.
@Suite struct PycelestiaCommitmentTests {
    static let python = repositoryRoot.appendingPathComponent(".venv-test/bin/python3").path
    static let script = repositoryRoot.appendingPathComponent("scripts/pycelestia/commitments.py").path
    static let maxBlob = 2 * 1024 * 1024

    /// One blob of the batch: what it is, for a failure message, and what we computed.
    struct Case {
        var label: String
        var namespace: DANamespace
        var signer: [UInt8]?
        var length: Int
        var ours: [UInt8]
    }

    /// The largest data length that fits `shares` shares (share version 0).
    static func capacity(shares: Int) -> Int {
        ShareCommitment.firstShareCapacity + ShareCommitment.continuationShareCapacity * (shares - 1)
    }

    /// The sizes, about 1,100 blobs:
    /// - both sides of every share-count boundary where the shape changes: the last byte of `s` shares
    ///   and the first of `s + 1` for s = 1…9, around each power of two (the mountain range's trees)
    ///   and at 64·2^k (the subtree width doubles: 64/65, 128/129, …, 4096/4097 shares), plus one byte
    ///   less for the small ones; 1 byte; the 2 MiB cap (4,351 shares) and one byte less; 4,350/4,351;
    /// - 400 uniform in 1…2,048 bytes (one to five shares, densely);
    /// - 520 log-uniform in 1 byte…256 KiB (every scale equally) and 30 uniform in 256 KiB…2 MiB, which
    ///   keeps the batch file near 85 MB and the whole test to a few seconds;
    /// - 60 share version 1 blobs with a signer, around its 458-byte first share and log-uniform.
    static func lengths(_ random: inout SeededGenerator) -> [(length: Int, withSigner: Bool)] {
        var lengths: [(Int, Bool)] = []
        var boundaries = Array(1...9)
        for power in 2...12 {
            let value = 1 << power
            boundaries += [value - 1, value, value + 1]
        }
        for shares in Set(boundaries).sorted() {
            let last = capacity(shares: shares)
            lengths += [(last, false), (last + 1, false)]
            if shares < 64 { lengths.append((last - 1, false)) }
        }
        lengths += [
            (1, false), (maxBlob - 1, false), (maxBlob, false), (capacity(shares: 4350), false), (capacity(shares: 4350) + 1, false),
        ]
        for _ in 0..<400 { lengths.append((1 + Int(random.below(2048)), false)) }
        for _ in 0..<520 { lengths.append((logUniform(&random, upTo: 256 * 1024), false)) }
        for _ in 0..<30 { lengths.append((256 * 1024 + Int(random.below(UInt64(maxBlob - 256 * 1024))) + 1, false)) }
        let firstWithSigner = ShareCommitment.firstShareCapacityWithSigner
        lengths += [
            (1, true), (firstWithSigner, true), (firstWithSigner + 1, true),
            (firstWithSigner + 482, true), (firstWithSigner + 483, true),
        ]
        for _ in 0..<55 { lengths.append((logUniform(&random, upTo: 1 << 16), true)) }
        return lengths.filter { $0.0 >= 1 && $0.0 <= maxBlob }
    }

    /// A length whose base-2 logarithm is uniform in [0, log2(upper)].
    static func logUniform(_ random: inout SeededGenerator, upTo upper: Int) -> Int {
        let bits = Int.bitWidth - 1 - upper.leadingZeroBitCount  // floor(log2(upper))
        let scale = Int(random.below(UInt64(bits) + 1))  // 2^scale ≤ length < 2^(scale+1)
        let low = 1 << scale
        let high = min(upper, (low << 1) - 1)
        return low + Int(random.below(UInt64(high - low + 1)))
    }

    static func randomNamespace(_ random: inout SeededGenerator) -> DANamespace {
        while true {
            var bytes = [UInt8](repeating: 0, count: 19)
            for _ in 0..<10 { bytes.append(UInt8(truncatingIfNeeded: random.next())) }
            // Only the reserved range (first 9 user bytes zero, 1 in 2^72) is refused: draw again.
            if let namespace = try? DANamespace(bytes: bytes) { return namespace }
        }
    }

    static func randomBytes(_ random: inout SeededGenerator, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < count {
                var word = random.next()
                let take = min(8, count - offset)
                withUnsafeBytes(of: &word) { source in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + take)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<take]))
                }
                offset += take
            }
        }
        return bytes
    }

    @Test func matchesPycelestiaOnSeededRandomBlobs() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python),
            "\(Self.python) is missing: run scripts/dev.sh test, which creates .venv-test with pycelestia")

        var random = SeededGenerator(seed: 0x5eed_c0de)
        let fixed = [
            try DANamespace(base64: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE="),
            try DANamespace(bytes: [UInt8](repeating: 0, count: 19) + [UInt8](repeating: 0xFF, count: 10)),
            DANamespace(name: "dsdn"),
        ]
        let directory = try TemporaryDirectory()
        let batchPath = directory.path("blobs.bin")
        #expect(FileManager.default.createFile(atPath: batchPath, contents: nil))
        let batch = try FileHandle(forWritingTo: URL(fileURLWithPath: batchPath))
        var cases: [Case] = []
        for (index, entry) in Self.lengths(&random).enumerated() {
            let namespace = index % 4 == 0 ? fixed[index / 4 % fixed.count] : Self.randomNamespace(&random)
            // Mostly random bytes; every 16th blob uniform (zeros, then 0xFF) to vary the padding's neighbours.
            let data: [UInt8] =
                switch index % 32 {
                case 5: [UInt8](repeating: 0, count: entry.length)
                case 21: [UInt8](repeating: 0xFF, count: entry.length)
                default: Self.randomBytes(&random, count: entry.length)
                }
            var record: [UInt8] = [entry.withSigner ? 1 : 0] + namespace.bytes
            let signer = entry.withSigner ? Self.randomBytes(&random, count: ShareCommitment.signerSize) : nil
            let ours: [UInt8]
            if let signer {
                record += signer
                ours = ShareCommitment.compute(namespace: namespace, data: data, signer: signer)
            } else {
                ours = ShareCommitment.compute(namespace: namespace, data: data)
            }
            let length = UInt32(entry.length)
            record += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            try batch.write(contentsOf: record)
            try batch.write(contentsOf: data)
            cases.append(
                Case(
                    label:
                        "blob \(index): \(entry.length) bytes, \(ShareCommitment.shareCount(dataLength: entry.length, shareVersion: signer == nil ? 0 : 1)) shares, v\(signer == nil ? 0 : 1), namespace \(namespace.base64)",
                    namespace: namespace, signer: signer, length: entry.length, ours: ours))
        }
        try batch.close()
        #expect(cases.count >= 1_000)
        #expect(cases.contains { $0.length == 1 } && cases.contains { $0.length == Self.maxBlob })

        // The script runs on a Dispatch thread, never blocking Swift's cooperative pool.
        let theirs = try await offThePool { try Self.runScript(batchPath: batchPath, directory: directory) }
        try #require(theirs.count == cases.count, "pycelestia printed \(theirs.count) commitments for \(cases.count) blobs")
        var mismatches = 0
        for (blob, their) in zip(cases, theirs) {
            let ours = Data(blob.ours).base64EncodedString()
            if ours != their {
                mismatches += 1
                if mismatches <= 10 { Issue.record("\(blob.label): ours \(ours), pycelestia \(their)") }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) commitments differ from pycelestia's")
    }

    /// Runs commitments.py once over the batch file and returns its lines.
    static func runScript(batchPath: String, directory: TemporaryDirectory) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, batchPath]
        let stdout = Pipe()
        let stderrPath = directory.path("stderr.txt")
        try #require(FileManager.default.createFile(atPath: stderrPath, contents: nil), "cannot create \(stderrPath)")
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read to the end before waiting, so a full pipe never blocks the script.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 0, "commitments.py exited with \(process.terminationStatus): \(errors)")
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
