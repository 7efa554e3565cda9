import ArgumentParser
import DSDNCelestia
import DSDNDA
import DSDNJSON
import Foundation

/// `dsdn-coordinator da …`: Data Availability utilities that need no running DA.
struct DACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "da",
        abstract: "Data Availability utilities (Celestia share commitments).",
        discussion: """
            Example:
              dsdn-coordinator da commitment --namespace dsdn --file blob.bin
            """,
        subcommands: [DACommitmentCommand.self]
    )
}

/// `da commitment --namespace NS --file F`: the Celestia share commitment of a blob, computed locally.
struct DACommitmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commitment",
        abstract: "Print the Celestia share commitment of a blob (base64 and hex), computed locally.",
        discussion: """
            Computes the commitment celestia-node gives the blob (share version 0): the key of blob.Get, \
            so a blob can be looked up, or a timed-out submission checked, without submitting anything.

            NS is 0x<hex> or base64:<base64> of the 29 namespace bytes (or of up to 10 user bytes, \
            left-padded with zeros), or a name whose user bytes are the first 10 bytes of its SHA-256 \
            (as the --namespace of the --da commands). FILE holds exactly the blob's bytes; - reads \
            standard input.

            Examples:
              dsdn-coordinator da commitment --namespace 0x0102030405 --file blob.bin
              cat blob.bin | dsdn-coordinator da commitment --file - --json \\
                  --namespace base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE=
            """
    )

    @Option(help: "The namespace: 0x<hex>, base64:<base64>, or a name.")
    var namespace: String

    @Option(help: "The blob's bytes, or - for standard input.")
    var file: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let parsed: DANamespace
        do {
            parsed = try DANamespace(parsing: namespace)
        } catch {
            throw CommandFailure("--namespace \(namespace): \(error.message)", cause: error)
        }
        let data: [UInt8]
        if file == "-" {
            data = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                throw CommandFailure("cannot read \(file): it is a directory")
            }
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw CommandFailure("cannot read \(file): no such file or not readable")
            }
            data = Array(contents)
        }
        guard !data.isEmpty else {
            let source = file == "-" ? "standard input" : file
            throw CommandFailure("\(source) is empty: Celestia refuses empty blobs, so there is no commitment to look for")
        }
        let commitment = ShareCommitment.compute(namespace: parsed, data: data)
        let base64 = Data(commitment).base64EncodedString()
        let hex = commitment.map { String(format: "%02x", $0) }.joined()
        let shares = ShareCommitment.shareCount(dataLength: data.count)
        if json {
            printJSON([
                "commitment": JSONValue(base64),
                "commitment_hex": JSONValue(hex),
                "namespace": JSONValue(parsed.base64),
                "namespace_hex": JSONValue(parsed.description),
                "share_version": 0,
                "bytes": JSONValue(data.count),
                "shares": JSONValue(shares),
            ])
        } else {
            print("commitment  \(base64)")
            print("hex         \(hex)")
            print("namespace   \(parsed.base64) (0x\(parsed.description))")
            print("blob        \(data.count) bytes in \(shares) share\(shares == 1 ? "" : "s"), share version 0")
        }
    }
}
