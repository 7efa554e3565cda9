import ArgumentParser

/// The `dsdn-coordinator` command: the composition root of the coordinator.
@main
struct Coordinator: AsyncParsableCommand {
    /// The version printed by `--version`.
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "dsdn-coordinator",
        abstract: "The DSDN coordinator: storage-network state derived from Data Availability events.",
        discussion: """
            All state is derived by replaying events; any two coordinators reading the same history derive
            byte-identical state, proven by the state checksum.

            Example:
              dsdn-coordinator state examples/small-cluster.jsonl
            """,
        version: version,
        subcommands: [
            StateCommand.self, GenerateCommand.self, EventsCommand.self, RebuildCommand.self, PolicyCommand.self, PlaceCommand.self,
            ServeCommand.self, DACommand.self, VerifyCommand.self, NodeCommand.self, ChunkCommand.self, AuditCommand.self,
            SimulateCommand.self, ExperimentCommand.self,
        ]
    )
}

/// A failure the user can act on: printed as one line, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    /// The error this one wraps, when it wraps one.
    var cause: (any Error)?

    init(_ description: String, cause: (any Error)? = nil) {
        self.description = description
        self.cause = cause
    }
}
