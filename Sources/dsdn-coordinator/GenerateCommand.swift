import ArgumentParser
import DSDNCore
import DSDNInterchange
import DSDNScheduler
import DSDNSimulation

/// `dsdn-coordinator generate`: write a synthetic, valid event history as JSON Lines.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a synthetic event history (JSON Lines) to standard output.",
        discussion: """
            The history is a pure function of the options: the same options give the same bytes on every
            machine. Nodes join, report stats, change status, move zones and leave; chunks are declared,
            replicated, lost, repaired and removed.

            With --policy, the history starts with that policy published and activated for placement \
            (PolicyPublished, PolicyActivated), as a coordinator's first start does.

            Example:
              dsdn-coordinator generate --seed 7 --events 10000 --nodes 60 --zones 6 > history.jsonl
              dsdn-coordinator generate --seed 7 --events 10000 --policy zone-spread > history.jsonl
            """
    )

    @Option(help: "The PRNG seed.")
    var seed: UInt64 = 1

    @Option(help: "How many events to write.")
    var events: Int = 1_000

    @Option(help: "How many storage nodes join at the start.")
    var nodes: Int = 50

    @Option(help: "How many zones the nodes are spread over.")
    var zones: Int = 5

    @Option(help: "Start with this policy published and activated: a pack name or a Lua file.")
    var policy: String?

    func validate() throws {
        guard (0...100_000_000).contains(events) else { throw ValidationError("--events must be from 0 to 100000000, got \(events)") }
        guard (1...1_000_000).contains(nodes) else { throw ValidationError("--nodes must be from 1 to 1000000, got \(nodes)") }
        guard (1...10_000).contains(zones) else { throw ValidationError("--zones must be from 1 to 10000, got \(zones)") }
    }

    func run() throws {
        var history = SyntheticHistory.events(.init(seed: seed, eventCount: events, nodeCount: nodes, zoneCount: zones))
        if let policy {
            let loaded = try loadPolicy(nameOrPath: policy)
            history.insert(
                contentsOf: [
                    .policyPublished(loaded.release), .policyActivated(name: loaded.name, version: loaded.version, role: .placement),
                ], at: 0)
        }
        var buffer = ""
        for event in history {
            buffer += EventJSON.encode(event)
            buffer += "\n"
            if buffer.utf8.count > 1 << 16 {
                print(buffer, terminator: "")
                buffer = ""
            }
        }
        print(buffer, terminator: "")
    }
}
