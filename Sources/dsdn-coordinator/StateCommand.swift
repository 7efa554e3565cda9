import ArgumentParser
import DSDNCore

/// `dsdn-coordinator state FILE`: derive the state of a history and print its summary and checksum.
struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Derive the state of an events file and print its summary and checksum.",
        discussion: """
            FILE holds events as JSON Lines (docs/events.md); `-` reads standard input. The first event the
            state machine refuses stops the command with its line number and a non-zero exit.

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
            print("  \(zone.id): \(zone.nodeIDs.count) nodes, \(formatBytes(zone.capacityBytes)) capacity, \(percent / 10).\(percent % 10)% used")
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
