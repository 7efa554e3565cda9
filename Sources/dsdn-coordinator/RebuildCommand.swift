import ArgumentParser
import DSDNCore
import DSDNJSON
import DSDNRuntime

/// `dsdn-coordinator rebuild`: replay the DA's history into a fresh state and verify it.
struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild the state from the DA's history and print its summary and checksum.",
        discussion: """
            Reads heights FROM…TO (default: 1 to the head) in canonical order, checks every blob against the \
            DA's commitment, applies it, and prints the state. With --expect, a different checksum is an \
            error. Pruned history, an unavailable DA or damaged data stop with one line; nothing is skipped. \
            When standard error is a terminal, a progress bar is drawn there while heights are read.

            Examples:
              dsdn-coordinator rebuild --da file:.dsdn/da
              dsdn-coordinator rebuild --da file:.dsdn/da --to 120 --json \\
                  --expect <64-hex checksum>
            """
    )

    @OptionGroup var da: DAOptions

    @Option(help: "The first height to read.")
    var from: UInt64 = 1

    @Option(help: "The last height to read (default: the head).")
    var to: UInt64?

    @Option(help: "The checksum the rebuilt state must have (64 hex characters).")
    var expect: String?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if let expect, (try? Hash256(hex: expect)) == nil { throw ValidationError("--expect must be 64 hex characters") }
        if let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
        guard from >= 1 else { throw ValidationError("--from must be at least 1 (heights start at 1)") }
    }

    func run() async throws {
        let log = try da.open(readOnly: true)
        defer { log.close() }
        let expected = try expect.map { try Hash256(hex: $0) }
        let rebuilder = StateRebuilder(da: log, namespace: da.daNamespace)
        let result: (machine: StateMachine, report: RebuildReport)
        do {
            result = try await rebuilder.rebuild(
                from: from, to: to, expectedChecksum: expected, progress: ProgressBar.rebuildCallback(label: "rebuild"))
            ProgressBar.clear()
        } catch {
            ProgressBar.clear()
            throw CommandFailure("\(da.address): \(error)", cause: error)
        }
        let summary = result.machine.state.summary()
        let counts = result.report.counts
        if json {
            printJSON([
                "from": JSONValue(result.report.fromHeight), "to": JSONValue(result.report.toHeight),
                "heights": JSONValue(result.report.heightsRead), "blobs_applied": JSONValue(counts.blobsApplied),
                "blobs_duplicate": JSONValue(counts.blobsDuplicate), "blobs_rejected": JSONValue(counts.blobsRejected),
                "events_applied": JSONValue(counts.eventsApplied), "nodes": JSONValue(summary.nodes), "zones": JSONValue(summary.zones),
                "chunks": JSONValue(summary.chunks), "live_replicas": JSONValue(summary.liveReplicas),
                "lost_replicas": JSONValue(summary.lostReplicas), "under_replicated": JSONValue(summary.underReplicatedChunks),
                "checksum": JSONValue(summary.checksum.hex), "cursor_digest": JSONValue(result.report.cursorDigest.hex),
            ])
            return
        }
        print("da        \(da.address) namespace \(da.namespace)")
        print("heights   \(result.report.fromHeight)…\(result.report.toHeight) (\(result.report.heightsRead) read)")
        print("blobs     \(counts.blobsApplied) applied, \(counts.blobsDuplicate) duplicate, \(counts.blobsRejected) rejected")
        print("nodes     \(summary.nodes) in \(summary.zones) zones")
        print("chunks    \(summary.chunks) (\(summary.underReplicatedChunks) under-replicated)")
        print("replicas  \(summary.liveReplicas) live, \(summary.lostReplicas) lost")
        print("checksum  \(summary.checksum.hex)\(expected == nil ? "" : "  (as expected)")")
    }
}
