import ArgumentParser
import DSDNCore

/// `dsdn-coordinator chunk …`: publish chunk events through a running coordinator's API.
struct ChunkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk",
        abstract: "Declare and remove chunks through a running coordinator.",
        discussion: """
            Each subcommand builds one event (docs/events.md) and posts it to the coordinator's API \
            (POST /v1/events, with the bearer token). A declared chunk with fewer live replicas than its \
            replication factor is placed by the coordinator's policy.

            Examples:
              HASH=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
              dsdn-coordinator chunk declare $HASH --size 4096 --replication-factor 3 \\
                  --uploader alice --wait
              dsdn-coordinator chunk remove $HASH
            """,
        subcommands: [ChunkDeclareCommand.self, ChunkRemoveCommand.self]
    )
}

/// `chunk declare HASH --size BYTES --replication-factor N --uploader ID [--da-commitment HEX]`.
struct ChunkDeclareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "declare",
        abstract: "Declare a chunk with its size, replication factor and uploader.",
        discussion: """
            Publishes ChunkDeclared. Declaring a chunk again with identical metadata is a no-op; with \
            different metadata it is refused (conflict) until the chunk is removed. --size takes a plain \
            number of bytes or one with a unit (KiB, MiB, GiB, … or KB, MB, GB, …).

            Example:
              dsdn-coordinator chunk declare \\
                  9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 \\
                  --size 4MiB --replication-factor 3 --uploader alice --wait
            """
    )

    @Argument(help: "The chunk hash, 64 hex characters.")
    var hash: String

    @Option(help: ArgumentHelp("The chunk's size (greater than 0).", valueName: "bytes"))
    var size: String

    @Option(help: "How many replicas the chunk should have (1 to \(Limits.maxReplicationFactor)).")
    var replicationFactor: Int

    @Option(help: "The uploader's id.")
    var uploader: String

    @Option(help: ArgumentHelp("The chunk's DA commitment, 64 hex characters.", valueName: "hex"))
    var daCommitment: String?

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        _ = try parseHash(hash, what: "the chunk hash")
        guard try parseBytes(size, option: "--size") > 0 else { throw ValidationError("--size must be greater than 0") }
        guard (1...Int(Limits.maxReplicationFactor)).contains(replicationFactor) else {
            throw ValidationError("--replication-factor must be from 1 to \(Limits.maxReplicationFactor), got \(replicationFactor)")
        }
        try validateIdentifier(uploader, "--uploader")
        if let daCommitment { _ = try parseHash(daCommitment, what: "--da-commitment") }
    }

    func run() async throws {
        let chunk = try parseHash(hash, what: "the chunk hash")
        let bytes = try parseBytes(size, option: "--size")
        let commitment = try daCommitment.map { try parseHash($0, what: "--da-commitment") }
        let event = Event.chunkDeclared(
            hash: chunk, sizeBytes: bytes, replicationFactor: UInt8(clamping: replicationFactor), uploaderID: uploader,
            daCommitment: commitment)
        try await submitSingleEvent(
            event, describing: "ChunkDeclared \(chunk.hex) (\(formatBytes(bytes)), \(replicationFactor) replicas)", api: api,
            options: submit)
    }
}

/// `chunk remove HASH`: a `ChunkRemoved` event.
struct ChunkRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a chunk and all of its replicas.",
        discussion: """
            Publishes ChunkRemoved. An unknown hash is a no-op.

            Example:
              dsdn-coordinator chunk remove --wait \\
                  9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
            """
    )

    @Argument(help: "The chunk hash, 64 hex characters.")
    var hash: String

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        _ = try parseHash(hash, what: "the chunk hash")
    }

    func run() async throws {
        let chunk = try parseHash(hash, what: "the chunk hash")
        try await submitSingleEvent(.chunkRemoved(hash: chunk), describing: "ChunkRemoved \(chunk.hex)", api: api, options: submit)
    }
}

/// A 64-hex-character hash, or a one-line refusal naming `what`.
func parseHash(_ text: String, what: String) throws -> Hash256 {
    guard let hash = try? Hash256(hex: text) else {
        throw ValidationError("\(what) must be 64 hex characters, got \(text.debugDescription)")
    }
    return hash
}
