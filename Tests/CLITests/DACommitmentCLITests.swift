import DSDNTestSupport
import Foundation
import Testing

/// `da commitment`, through the executable.
@Suite struct DACommitmentCLITests {
    static let swiftDA = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE="
    /// docs/celestia.md §11: namespace swift-da, `data[i] = i % 251`, 30,000 bytes (63 shares).
    static let data = Data((0..<30_000).map { UInt8($0 % 251) })
    static let commitment = "v6Gr8im/wnOKJswvrvJiJi32Lr91Xinqw6zq6OJOSEs="
    static var commitmentHex: String {
        // The literal is valid base64; an empty result would fail the comparisons below, not trap.
        (Data(base64Encoded: commitment) ?? Data()).map { String(format: "%02x", $0) }.joined()
    }

    @Test func printsBase64AndHexForAFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("blob.bin")
        try Self.data.write(to: URL(fileURLWithPath: path))
        let result = try await CoordinatorProcess.run(["da", "commitment", "--namespace", "base64:" + Self.swiftDA, "--file", path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "commitment  \(Self.commitment)")
        #expect(lines.contains("hex         \(Self.commitmentHex)"))
        #expect(result.stdout.contains("namespace   \(Self.swiftDA)"))
        #expect(result.stdout.contains("30000 bytes in 63 shares"))
    }

    /// Standard input, the hex namespace form (user bytes only) and JSON give the same value.
    @Test func readsStandardInputAndPrintsJSON() async throws {
        let userBytesHex = "0x" + Array("swift-da".utf8).map { String(format: "%02x", $0) }.joined()
        let result = try await CoordinatorProcess.run(
            ["da", "commitment", "--namespace", userBytesHex, "--file", "-", "--json"], input: Self.data)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try parseJSON(result.stdout)
        #expect(report["commitment"]?.string == Self.commitment)
        #expect(report["commitment_hex"]?.string == Self.commitmentHex)
        #expect(report["namespace"]?.string == Self.swiftDA)
        #expect(report["shares"]?.int64 == 63)
        #expect(report["bytes"]?.int64 == 30_000)
        #expect(report["share_version"]?.int64 == 0)
    }

    /// The first vector of docs/celestia.md §11, with its namespace given by its user bytes.
    @Test func thePublishedVector() async throws {
        let result = try await CoordinatorProcess.run(
            ["da", "commitment", "--namespace", "0x0102030405", "--file", "-"],
            input: Data("some data to store on blockchain".utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("commitment  m0A4feU6Fqd5Zy9td3M7lntG8A3PKqe6YdugmAsWz28=\n"))
    }

    @Test func helpShowsAnExample() async throws {
        let result = try await CoordinatorProcess.run(["da", "commitment", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("dsdn-coordinator da commitment --namespace"))
    }

    @Test(arguments: [
        (["--namespace", "0x01", "--file", "-"], "reserved range"),
        (["--namespace", "0x" + String(repeating: "07", count: 12), "--file", "-"], "must be 29 bytes"),
        (["--namespace", "base64:!!", "--file", "-"], "not valid base64"),
        (["--namespace", swiftDA, "--file", "-"], "write base64:"),
        (["--namespace", "dsdn", "--file", "/nonexistent/blob.bin"], "cannot read /nonexistent/blob.bin"),
        (["--namespace", "dsdn", "--file", "/tmp"], "is a directory"),
    ])
    func badArgumentsGiveOneLine(arguments: [String], expected: String) async throws {
        let result = try await CoordinatorProcess.run(["da", "commitment"] + arguments, input: Data("x".utf8))
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        let first = lines.first.map(String.init) ?? ""
        #expect(first.hasPrefix("Error: "), "\(result.stderr)")
        #expect(first.contains(expected), "\(result.stderr)")
    }

    @Test func refusesAnEmptyBlob() async throws {
        let result = try await CoordinatorProcess.run(["da", "commitment", "--namespace", "dsdn", "--file", "-"], input: Data())
        #expect(result.status == 1)
        #expect(result.stderr.contains("standard input is empty: Celestia refuses empty blobs"))
    }
}
