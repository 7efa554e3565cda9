import ArgumentParser
import DSDNAPI
import DSDNCore

/// `dsdn-coordinator state …`: the state of an events file (`state FILE`, the default) or of a running
/// coordinator (`state show`).
struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Print a state summary and checksum: of an events file, or of a running coordinator.",
        discussion: """
            `state FILE` (the default subcommand, also spelled `state file FILE`) derives the state of a \
            JSON Lines history; `state show` asks a running coordinator (`dsdn-coordinator serve`) for its \
            own. Both print the state checksum, so the two can be compared.

            Examples:
              dsdn-coordinator state examples/small-cluster.jsonl
              dsdn-coordinator state --json examples/small-cluster.jsonl
              dsdn-coordinator state show --api http://127.0.0.1:45831
            """,
        subcommands: [StateFileCommand.self, StateShowCommand.self],
        defaultSubcommand: StateFileCommand.self
    )
}

/// `dsdn-coordinator state FILE`: derive the state of a history and print its summary and checksum.
struct StateFileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file",
        abstract: "Derive the state of an events file and print its summary and checksum (the default).",
        discussion: """
            FILE holds events as JSON Lines (docs/events.md); `-` reads standard input. The first event the \
            state machine refuses stops the command with its line number and a non-zero exit. `state FILE` \
            and `state file FILE` are the same command.

            Examples:
              dsdn-coordinator state examples/small-cluster.jsonl
              dsdn-coordinator state --json examples/small-cluster.jsonl
              dsdn-coordinator generate --events 10000 | dsdn-coordinator state -
            """
    )

    @Argument(help: "The events file (JSON Lines), or - for standard input.")
    var file: String

    @Flag(help: "Print a JSON object instead of the human summary.")
    var json = false

    func run() throws {
        let history = try HistoryInput(path: file)
        let state = try history.derive(path: file).state
        let summary = state.summary()
        if json {
            print(
                """
                {"chunks":\(summary.chunks),"checksum":"\(summary.checksum.hex)","events":\(history.events.count),\
                "live_replicas":\(summary.liveReplicas),"lost_replicas":\(summary.lostReplicas),\
                "nodes":\(summary.nodes),"under_replicated":\(summary.underReplicatedChunks),"zones":\(summary.zones)}
                """)
            return
        }
        print("history   \(file) (\(history.events.count) events)")
        print("nodes     \(summary.nodes) in \(summary.zones) zones")
        for zone in state.zones() {
            let percent = Int((zone.utilization * 1000).rounded())
            print(
                "  \(zone.id): \(zone.nodeIDs.count) nodes, \(formatBytes(zone.capacityBytes)) capacity, \(percent / 10).\(percent % 10)% used"
            )
        }
        print("chunks    \(summary.chunks) (\(summary.underReplicatedChunks) under-replicated)")
        print("replicas  \(summary.liveReplicas) live, \(summary.lostReplicas) lost")
        print("checksum  \(summary.checksum.hex)")
    }
}

/// Bytes in binary units with one decimal, e.g. `1.5 TiB`.
func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}

/// `dsdn-coordinator state show`: the running coordinator's `/v1/state`.
struct StateShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a running coordinator's state: heights, counts, delivery counters and checksum.",
        discussion: """
            Reads GET /v1/state from the coordinator at --api (no token needed). The checksum is that of \
            the state at the applied height; `dsdn-coordinator verify` rebuilds that height from the DA and \
            compares.

            Examples:
              dsdn-coordinator state show
              dsdn-coordinator state show --api http://10.0.0.5:45831 --json
            """
    )

    @OptionGroup var api: APIOptions

    @Flag(help: "Print the API's JSON object instead of the human summary.")
    var json = false

    func run() async throws {
        let state = try await api.client.get("/v1/state", as: StateResponse.self)
        if json {
            printJSON(state)
            return
        }
        let policy = state.policy.map { ", policy \($0)" } ?? ", no policy"
        print("coordinator  \(api.baseURL) (\(state.phase)\(policy))")
        print("heights      applied \(state.appliedHeight), head \(state.head) (lag \(state.lag))")
        print("nodes        \(state.nodes) in \(state.zones) zones")
        print("chunks       \(state.chunks) (\(state.underReplicatedChunks) under-replicated)")
        print("replicas     \(state.liveReplicas) live, \(state.lostReplicas) lost")
        print(
            "blobs        \(state.blobsApplied) applied, \(state.blobsDuplicate) duplicate, "
                + "\(state.blobsRejected) rejected; \(state.eventsApplied) events applied")
        print(
            "publisher    \(state.publisherID) sequence \(state.publisherSequence), backlog \(state.publishBacklog) events, "
                + "outbox \(state.outboxEvents) events")
        print("placements   \(state.placementsPublished) published, \(state.policyErrors) policy errors")
        print("checksum     \(state.checksum)")
    }
}
