import ArgumentParser
import DSDNCore
import DSDNDA
import DSDNExperiment
import DSDNFileLog
import DSDNInterchange
import DSDNScheduler
import Foundation

/// `dsdn-coordinator simulate`: a seeded, realistic recorded history whose placements a pack policy made.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Write a seeded, realistic history (a file-log DA or JSON Lines) placed by a policy.",
        discussion: """
            Nodes across zones with heterogeneous capacity join, report stats, fail and recover, drain and \
            leave, and one whole zone fails for a while; clients upload chunks with heavy-tailed sizes and \
            replication factors of 2, 3 and 5, and remove some. The policy (published and activated at \
            height 1) decides every placement and repair, one round per height, recorded with provenance, \
            so `audit` re-executes them and `experiment` uses them as the baseline. The same options give \
            the same history on every machine.

            Presets: small (50 nodes, 5 zones, 5,000 events, seconds), medium (500 nodes, 10 zones, \
            100,000 events), large (5,000 nodes, 20 zones, 1,000,000 events, minutes).

            Examples:
              dsdn-coordinator simulate --preset small --out file:sim/da
              dsdn-coordinator simulate --preset medium --policy zone-spread --out history.jsonl
            """
    )

    @Option(help: "small, medium or large.")
    var preset: String = "small"

    @Option(help: "The PRNG seed.")
    var seed: UInt64 = 1

    @Option(help: "The policy that places replicas: a pack name or a Lua file.")
    var policy: String = "weighted-score"

    @Option(help: "Override the preset's number of nodes.")
    var nodes: Int?

    @Option(help: "Override the preset's number of zones.")
    var zones: Int?

    @Option(help: "Override the preset's number of events.")
    var events: Int?

    @Option(help: "Where to write: file:DIR (a new file-log DA) or FILE.jsonl (JSON Lines; - for standard output).")
    var out: String

    @Option(help: "The namespace of a file-log DA.")
    var namespace: String = "dsdn"

    func validate() throws {
        guard Simulation.Preset.all.contains(where: { $0.name == preset }) else {
            throw ValidationError("--preset must be one of \(Simulation.Preset.all.map(\.name).joined(separator: ", ")), got \(preset)")
        }
        if let nodes, !(1...100_000).contains(nodes) { throw ValidationError("--nodes must be from 1 to 100000") }
        if let zones, !(1...1_000).contains(zones) { throw ValidationError("--zones must be from 1 to 1000") }
        if let events, !(10...100_000_000).contains(events) { throw ValidationError("--events must be from 10 to 100000000") }
        guard out.hasPrefix("file:") && out.count > 5 || out.hasSuffix(".jsonl") || out == "-" else {
            throw ValidationError("--out must be file:DIR or a .jsonl file (or - for standard output), got \(out.debugDescription)")
        }
    }

    func run() async throws {
        var shape = Simulation.Preset.all.first { $0.name == preset } ?? .small
        if let nodes { shape.nodes = nodes }
        if let zones { shape.zones = zones }
        if let events { shape.events = events }
        let placing = try loadPolicy(nameOrPath: policy)
        var simulation = Simulation(
            preset: shape, seed: seed, release: placing.release, engine: "dsdn-coordinator \(Coordinator.version); \(Scheduler.luaRelease)")
        if out.hasPrefix("file:") {
            try await writeDA(&simulation, directory: String(out.dropFirst(5)))
        } else {
            try writeJSONLines(&simulation)
        }
        ProgressBar.clear()
        let counts = simulation.decisionCounts
        FileHandle.standardError.write(
            Data(
                "simulate: \(simulation.written) events in \(simulation.height) heights to \(out); \(placing.label) made \(counts.decisions) decisions (\(counts.unplaceable) short, \(counts.failed) failed)\n"
                    .utf8))
    }

    private func next(_ simulation: inout Simulation) throws -> [Event]? {
        do {
            let events = try simulation.nextHeight()
            let (written, target) = simulation.progress
            ProgressBar.draw(
                label: "simulate", done: UInt64(written), total: UInt64(target), height: simulation.height, events: UInt64(written))
            return events
        } catch {
            ProgressBar.clear()
            throw CommandFailure("simulate: \(error)", cause: error)
        }
    }

    private func writeDA(_ simulation: inout Simulation, directory: String) async throws {
        let log: FileLogDA
        do {
            log = try FileLogDA.openShared(directory: directory)
        } catch {
            throw CommandFailure("\(out): \(error.message)", cause: error)
        }
        defer { log.close() }
        let space = DANamespace(name: namespace)
        do {
            let head = try await log.head()
            if head > 0 {
                throw CommandFailure("\(out) already holds \(head) heights; simulate writes a new history (choose an empty directory)")
            }
            var sequence: UInt64 = 1
            while let events = try next(&simulation) {
                let blobs = try events.encodedBlobs(publisher: "simulate", batchSize: 1_000, firstSequence: sequence)
                sequence += UInt64(blobs.count)
                _ = try await log.submit(batch: blobs, to: space)
            }
        } catch let error as DAError {
            throw CommandFailure("\(out): \(error)", cause: error)
        } catch let error as CodecError {
            throw CommandFailure("\(out): \(error)", cause: error)
        }
    }

    private func writeJSONLines(_ simulation: inout Simulation) throws {
        let sink = try OutputSink(path: out == "-" ? nil : out, existing: .refuse)
        do {
            while let events = try next(&simulation) {
                for event in events { try sink.write(EventJSON.encode(event) + "\n") }
            }
            try sink.finish()
        } catch {
            sink.abandon()
            throw error
        }
    }
}
