import ArgumentParser
import DSDNCore
import DSDNDA
import DSDNJSON
import DSDNRuntime
import DSDNScheduler

/// `dsdn-coordinator audit`: re-execute every recorded placement with its recorded version.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Re-execute every recorded placement with its recorded policy version, parameters and snapshot.",
        discussion: """
            Replays the DA's history twice. The first pass collects every placement (ReplicaAdded with \
            provenance) in blobs applied at heights FROM…TO; the second re-runs each decision against the \
            state at its recorded snapshot height, with the version, source and parameter values the \
            registry had there, and compares the nodes. A placement naming a version that was not active at \
            its snapshot, other parameters, other inputs or other nodes is a mismatch; any mismatch exits \
            with status 1. Placements recorded before the policy registry (no context) cannot be \
            re-executed and are counted apart. Memory grows with the number of decisions, not with the \
            history. When standard error is a terminal, a progress bar is drawn there.

            Examples:
              dsdn-coordinator audit --da file:.dsdn/da
              dsdn-coordinator audit --da file:.dsdn/da --from 100 --to 200 --json
            """
    )

    @OptionGroup var da: DAOptions

    @Option(help: "The first height whose placements are audited.")
    var from: UInt64 = 1

    @Option(help: "The last height read and audited (default: the head).")
    var to: UInt64?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
        guard from >= 1 else { throw ValidationError("--from must be at least 1 (heights start at 1)") }
    }

    func run() async throws {
        let log = try da.open(readOnly: true)
        defer { log.close() }
        let rebuilder = StateRebuilder(da: log, namespace: da.daNamespace)
        var audit = PlacementAudit(engine: "dsdn-coordinator \(Coordinator.version); \(Scheduler.luaRelease)")
        let first = from
        // Pass 1: the decisions, from the blobs that applied.
        var collecting = StateMachine()
        var last: UInt64 = 0
        do {
            let report = try await rebuilder.rebuild(
                into: &collecting, to: to, progress: ProgressBar.rebuildCallback(label: "audit 1/2")
            ) { height, blobs, _ in
                guard height >= first else { return }
                for (blob, outcome) in blobs {
                    guard case .applied = outcome, let envelope = try? BlobCodec.decode(blob.data) else { continue }
                    audit.collect(envelope.events, at: BlobPosition(height: height, index: blob.reference.index))
                }
            }
            last = report.toHeight
            ProgressBar.clear()
        } catch {
            ProgressBar.clear()
            throw CommandFailure("\(da.address): \(error)", cause: error)
        }
        guard first <= max(last, 1) else {
            throw CommandFailure("\(da.address): future_height: from height \(first) is beyond the DA head \(last)")
        }
        // Pass 2: each decision at its snapshot (an empty history has none).
        let library = PolicyLibrary()
        var replaying = StateMachine()
        if last > 0 {
            do {
                _ = try await rebuilder.rebuild(into: &replaying, to: last, progress: ProgressBar.rebuildCallback(label: "audit 2/2")) {
                    height, _, state in
                    audit.check(height: height, state: state, library: library)
                }
                ProgressBar.clear()
            } catch {
                ProgressBar.clear()
                throw CommandFailure("\(da.address): \(error)", cause: error)
            }
        }
        audit.finish()
        let report = audit.report
        if json {
            printJSON([
                "from": JSONValue(from), "to": JSONValue(last), "decisions_checked": JSONValue(report.decisionsChecked),
                "matching": JSONValue(report.matching), "mismatching": JSONValue(report.mismatchCount),
                "mismatches_with_other_engine": JSONValue(report.mismatchesWithOtherEngine),
                "placements_without_context": JSONValue(report.placementsWithoutContext),
                "replicas_without_provenance": JSONValue(report.replicasWithoutProvenance),
                "first_mismatches": JSONValue.array(report.firstMismatches.map { JSONValue.string($0.description) }),
            ])
        } else {
            print("da          \(da.address) namespace \(da.namespace)")
            print("heights     \(from)…\(last)")
            print("decisions   \(report.decisionsChecked) checked, \(report.matching) matching, \(report.mismatchCount) mismatching")
            print(
                "not audited \(report.placementsWithoutContext) placements without context, \(report.replicasWithoutProvenance) replicas without provenance"
            )
            if report.mismatchesWithOtherEngine > 0 {
                print(
                    "engine      \(report.mismatchesWithOtherEngine) of the mismatches were decided by another engine than \(audit.engine)")
            }
            for mismatch in report.firstMismatches { print("mismatch    \(mismatch)") }
        }
        if report.mismatchCount > 0 {
            throw CommandFailure("audit: \(report.mismatchCount) of \(report.decisionsChecked) decisions do not match their record")
        }
    }
}
