import DSDNCelestia
import DSDNDA
import Foundation
import Testing

/// Base64 → bytes for literals that are known to be valid.
private func decoded(_ base64: String) throws -> [UInt8] {
    Array(try #require(Data(base64Encoded: base64), "bad base64 literal \(base64)"))
}

private func encoded(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

/// The test pattern of docs/celestia.md §11: `data[i] = i % 251`.
private func pattern(_ length: Int) -> [UInt8] { (0..<length).map { UInt8($0 % 251) } }

private let swiftDA = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE="

/// Share commitments against the vectors of docs/celestia.md §11.
@Suite struct ShareCommitmentTests {
    @Test(arguments: [
        // Published by celestia-node / go-square.
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQIDBAU=", Data("some data to store on blockchain".utf8).base64EncodedString(),
            "m0A4feU6Fqd5Zy9td3M7lntG8A3PKqe6YdugmAsWz28="
        ),
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAADCBNOWAP3dM=", "8fIMqAB+kQo7+LLmHaDya8oH73hxem6lQWX1",
            "D6YGsPWdxR8ju2OcOspnkgPG2abD30pSHxsFdiPqnVk="
        ),
    ])
    func publishedVectors(namespace: String, data: String, commitment: String) throws {
        let ns = try DANamespace(base64: namespace)
        let result = ShareCommitment.compute(namespace: ns, data: try decoded(data))
        #expect(result.count == 32)
        #expect(encoded(result) == commitment)
    }

    @Test(arguments: [
        (1, 1, "lWbDNEao9urqsVhn7KayUPzEnoMok/4piAK4aZhW8kY="),
        (479, 2, "b6Wac/+G0Q9qkd1y84yjL0qHh15OMP3av5pEM0M6Cmk="),
        (30000, 63, "v6Gr8im/wnOKJswvrvJiJi32Lr91Xinqw6zq6OJOSEs="),
        (100000, 208, "hxxs1qpwJNK8ou9v96lxFvD9puGPvN++shys73xy0SY="),
    ])
    func patternVectors(length: Int, shares: Int, commitment: String) throws {
        let ns = try DANamespace(base64: swiftDA)
        #expect(ShareCommitment.shareCount(dataLength: length) == shares)
        #expect(encoded(ShareCommitment.compute(namespace: ns, data: pattern(length))) == commitment)
    }

    /// Share version 1 (with a signer), a value pycelestia 0.1.7 (celestia-types 0.11) gives for
    /// namespace swift-da, data "hello" and signer bytes 0…19.
    @Test func shareVersionOneVector() throws {
        let ns = try DANamespace(base64: swiftDA)
        let signer = (0..<20).map { UInt8($0) }
        let result = ShareCommitment.compute(namespace: ns, data: Array("hello".utf8), signer: signer)
        #expect(encoded(result) == "8EMAx7l7ZsmArlOiSC/Uk051agiMm/uiIBzgXnILmB0=")
        #expect(result != ShareCommitment.compute(namespace: ns, data: Array("hello".utf8)))
    }

    /// No data is zero shares, whose RFC 6962 root is SHA-256(""): what celestia-types gives too.
    @Test func emptyDataIsTheEmptyTreeHash() throws {
        let ns = try DANamespace(base64: swiftDA)
        #expect(ShareCommitment.shareCount(dataLength: 0) == 0)
        #expect(encoded(ShareCommitment.compute(namespace: ns, data: [])) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    }

    @Test func theNamespaceIsPartOfTheCommitment() throws {
        let data = pattern(1000)
        let a = ShareCommitment.compute(namespace: DANamespace(name: "a"), data: data)
        let b = ShareCommitment.compute(namespace: DANamespace(name: "b"), data: data)
        #expect(a != b)
        #expect(a == ShareCommitment.compute(namespace: DANamespace(name: "a"), data: data))
    }

    /// The padding of a partial last share is zeros whatever came before: computing twice, and a
    /// shorter blob after a longer one, must give the same values (the share buffer is reused).
    @Test func lengthsAroundShareBoundariesDiffer() throws {
        let ns = try DANamespace(base64: swiftDA)
        var seen: Set<[UInt8]> = []
        for length in [477, 478, 479, 959, 960, 961, 1442, 1443] {
            let commitment = ShareCommitment.compute(namespace: ns, data: pattern(length))
            #expect(seen.insert(commitment).inserted, "length \(length) collides")
        }
        #expect(ShareCommitment.compute(namespace: ns, data: pattern(479)) == ShareCommitment.compute(namespace: ns, data: pattern(479)))
    }

    @Test(arguments: [
        (0, 0), (1, 1), (478, 1), (479, 2), (960, 2), (961, 3),
        (30000, 63), (100000, 208), (2 * 1024 * 1024, 4351),
    ])
    func shareCounts(length: Int, shares: Int) {
        #expect(ShareCommitment.shareCount(dataLength: length) == shares)
    }

    @Test func shareVersionOneFirstShareHoldsTwentyBytesLess() {
        #expect(ShareCommitment.shareCount(dataLength: 458, shareVersion: 1) == 1)
        #expect(ShareCommitment.shareCount(dataLength: 459, shareVersion: 1) == 2)
        #expect(ShareCommitment.shareCount(dataLength: 940, shareVersion: 1) == 2)
        #expect(ShareCommitment.shareCount(dataLength: 941, shareVersion: 1) == 3)
    }

    @Test(arguments: [
        (0, 1), (1, 1), (63, 1), (64, 1), (65, 2), (128, 2), (129, 4), (208, 4), (256, 4), (257, 8),
        (4096, 64), (4097, 128), (4351, 128),
        // Beyond 4,096 shares the square-root bound is the smaller: ceil(16385/64) = 257 → 512, but
        // ceil(sqrt(16385)) = 129 → 256.
        (16385, 256),
    ])
    func subtreeWidths(shares: Int, width: Int) {
        #expect(ShareCommitment.subtreeWidth(shareCount: shares) == width)
    }

    @Test(arguments: [
        (11, 4, [4, 4, 2, 1]),
        (0, 1, []),
        (1, 1, [1]),
        (7, 8, [4, 2, 1]),
        (8, 8, [8]),
        (9, 8, [8, 1]),
        (63, 1, Array(repeating: 1, count: 63)),
        (208, 4, Array(repeating: 4, count: 52)),
        (4352, 128, Array(repeating: 128, count: 34)),
        (4351, 128, Array(repeating: 128, count: 33) + [64, 32, 16, 8, 4, 2, 1]),
    ])
    func mountainRangeShapes(shares: Int, width: Int, sizes: [Int]) {
        let range = ShareCommitment.mountainRange(shareCount: shares, width: width)
        #expect(range == sizes)
        #expect(range.reduce(0, +) == shares)
    }

    /// Large blobs around the subtree width change at 4,096 → 4,097 shares and the 2 MiB cap, with the
    /// values pycelestia 0.1.7 (celestia-types 0.11) gives for the same pattern and namespace.
    @Test(arguments: [
        (478 + 482 * 4095, 4096, "gyJd2um1hK+sO+luYyqaBBsggbWZH7k6LoLGM+E8XkY="),
        (478 + 482 * 4096, 4097, "mcSTFgzYcmPB0vVdpaJ6xtnd/3fYU9dS1X9dnYgrxZA="),
        (2 * 1024 * 1024, 4351, "qfvD6XwKEgglQqPFcP/HheRE3qbNrtLoTUaM4MQTC3Q="),
    ])
    func largeBlobs(length: Int, shares: Int, commitment: String) throws {
        let ns = try DANamespace(base64: swiftDA)
        #expect(ShareCommitment.shareCount(dataLength: length) == shares)
        #expect(encoded(ShareCommitment.compute(namespace: ns, data: pattern(length))) == commitment)
    }
}
