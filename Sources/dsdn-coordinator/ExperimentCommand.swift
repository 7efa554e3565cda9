import ArgumentParser
import DSDNCore
import DSDNDA
import DSDNExperiment
import DSDNInterchange
import DSDNPolicyPack
import DSDNRuntime
import DSDNScheduler
import Foundation

/// `dsdn-coordinator experiment`: replay a recorded history under several policies and compare them.
struct ExperimentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Replay a recorded history under several policies, each in its own counterfactual state, and compare them.",
        discussion: """
            Node, stats, chunk and policy events replay as recorded; the recorded placements are the \
            baseline. From --from on, each policy (and a seeded random placement, the reference) decides \
            the under-replicated chunks after each height in its own state, up to --round-limit a round as \
            a coordinator does: declarations, and repairs after failures. What-if edits apply to every deciding arm. Prints a table; with --out, \
            writes report.json (the same inputs give the same bytes), report.html (charts, no network \
            needed) and timings.json (decision speed, the only figures that vary). See docs/experiments.md.

            HISTORY is a DA address (file:DIR, celestia://…) or a JSON Lines file; a JSON Lines file has no \
            heights, so every --events-per-height events are one height. A policy is a pack name or a Lua file \
            (deciding with its declared parameter values), or NAME@VERSION published in the history (with \
            the values in force at --to).

            Examples:
              dsdn-coordinator simulate --preset small --out file:sim/da
              dsdn-coordinator experiment --history file:sim/da --policy weighted-score --policy zone-spread --out report/
              dsdn-coordinator experiment --history file:sim/da --policy weighted-score@2 --policy zone-spread \\
                  --fail zone-2@40 --add-nodes 10@60
            """
    )

    @Option(help: "The recorded history: file:DIR, celestia://HOST:PORT?…, or a JSON Lines file.")
    var history: String

    @Option(name: .customLong("policy"), help: "A policy to run (repeat for each): pack name, Lua file, or NAME@VERSION of the history.")
    var policies: [String] = []

    @Option(help: "The first height the policies decide at (earlier heights replay as recorded).")
    var from: UInt64 = 1

    @Option(help: "The last height replayed (default: the end of the history).")
    var to: UInt64?

    @Option(name: .customLong("fail"), help: "What-if: NODE or ZONE (or node:ID, zone:ID) goes down after HEIGHT: NAME@HEIGHT.")
    var failures: [String] = []

    @Option(name: .customLong("add-nodes"), help: "What-if: COUNT new nodes join after HEIGHT: COUNT@HEIGHT (seeded).")
    var additions: [String] = []

    @Option(help: "The seed of the random reference and of added nodes.")
    var seed: UInt64 = 1

    @Option(help: "A directory for report.json, report.html and timings.json.")
    var out: String?

    @Option(help: "How many heights along the history are sampled for the charts.")
    var samples: Int = 40

    @Option(help: "How many disagreements are listed with both explanations.")
    var explain: Int = 10

    @Option(help: "The most chunks one round decides; the rest wait for the next height (serve's round size).")
    var roundLimit: Int = Experiment.defaultRoundLimit

    @Option(help: "JSON Lines only: events per height (default 100).")
    var eventsPerHeight: Int?

    @Option(help: "The namespace of a DA history (a celestia:// address may name its own).")
    var namespace: String = "dsdn"

    @Option(name: .customLong("da-token-file"), help: "With a celestia:// history, a file holding the node's auth token.")
    var daTokenFile: String?

    @Flag(help: "Print report.json instead of the table.")
    var json = false

    func validate() throws {
        guard !policies.isEmpty else { throw ValidationError("name at least one --policy (a pack name, a Lua file or NAME@VERSION)") }
        guard policies.count <= 8 else { throw ValidationError("at most 8 policies, got \(policies.count)") }
        guard from >= 1 else { throw ValidationError("--from must be at least 1 (heights start at 1)") }
        if let to, to < 1 { throw ValidationError("--to must be at least 1 (heights start at 1)") }
        if let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
        guard (1...1_000).contains(samples) else { throw ValidationError("--samples must be from 1 to 1000") }
        guard (0...1_000).contains(explain) else { throw ValidationError("--explain must be from 0 to 1000") }
        if let eventsPerHeight, !(1...1_000_000).contains(eventsPerHeight) {
            throw ValidationError("--events-per-height must be from 1 to 1000000")
        }
        if eventsPerHeight != nil, isDA {
            throw ValidationError("--events-per-height is for a JSON Lines history; a DA has its own heights")
        }
        guard (1...1_000_000).contains(roundLimit) else { throw ValidationError("--round-limit must be from 1 to 1000000") }
    }

    private var isDA: Bool { history.hasPrefix("file:") || history.hasPrefix("celestia://") || history.hasPrefix("memory:") }

    func run() async throws {
        let whatIfs: [WhatIf]
        do {
            whatIfs =
                try failures.map { text throws(ExperimentError) in try WhatIf.parse(fail: text) }
                + additions.map { text throws(ExperimentError) in try WhatIf.parse(addNodes: text) }
        } catch {
            throw CommandFailure(error.message, cause: error)
        }
        let engine = "dsdn-coordinator \(Coordinator.version); \(Scheduler.luaRelease)"
        if isDA {
            try await runOnDA(whatIfs: whatIfs, engine: engine)
        } else {
            try await runOnFile(whatIfs: whatIfs, engine: engine)
        }
    }

    /// The policies, resolving NAME@VERSION against the registry of `registry` (read only when needed).
    private func resolvePolicies(registry: () async throws -> DerivedState) async throws -> [ExperimentPolicy] {
        var state: DerivedState?
        var resolved: [ExperimentPolicy] = []
        for spec in policies {
            if PolicyPack.source(named: spec) == nil, !FileManager.default.fileExists(atPath: spec),
                let (name, version) = try? parseLabel(spec)
            {
                if state == nil { state = try await registry() }
                guard let info = state?.policyVersion(name, version) else {
                    let published = state?.policyVersions().map(\.release.label).joined(separator: ", ") ?? ""
                    throw CommandFailure(
                        "\(spec) is not published in \(history) up to the height replayed (published: \(published.isEmpty ? "none" : published))"
                    )
                }
                let library = PolicyLibrary()
                let result = PlacementSession.onEvaluationThread { Result { () throws(PolicyError) in try library.resolve(info) } }
                switch result {
                case let .success(policy): resolved.append(ExperimentPolicy(origin: "history \(spec)", resolved: policy))
                case let .failure(error): throw CommandFailure("\(spec) cannot decide: \(error)", cause: error)
                }
                continue
            }
            let policy = try loadPolicy(nameOrPath: spec)
            let origin = PolicyPack.source(named: spec) != nil ? "pack \(spec)" : "file \(spec)"
            resolved.append(ExperimentPolicy(origin: origin, resolved: ResolvedPolicy(defaultsOf: policy)))
        }
        return resolved
    }

    private func runOnFile(whatIfs: [WhatIf], engine: String) async throws {
        let input = try HistoryInput(path: history)
        let perHeight = eventsPerHeight ?? 100
        let lastHeight = UInt64((input.events.count + perHeight - 1) / perHeight)
        guard lastHeight > 0 else { throw CommandFailure("\(history) has no events") }
        let end = try checkedEnd(lastHeight)
        let policies = try await resolvePolicies { try input.derive(path: history, count: Int(end) * perHeight).state }
        let experiment = try makeExperiment(policies: policies, whatIfs: whatIfs, end: end, engine: engine)
        do {
            for height in 1...end {
                let start = Int(height - 1) * perHeight
                let slice = input.events[start..<min(input.events.count, start + perHeight)]
                do {
                    try experiment.feed(height: height, events: slice.map(\.event))
                } catch {
                    let lines = "lines \(slice.first?.line ?? 0)–\(slice.last?.line ?? 0)"
                    throw CommandFailure("\(history): \(lines): \(error.message)", cause: error)
                }
                ProgressBar.draw(label: "experiment", done: height, total: end, height: height, events: UInt64(start + slice.count))
            }
            ProgressBar.clear()
        } catch {
            ProgressBar.clear()
            throw error
        }
        try finish(experiment)
    }

    private func runOnDA(whatIfs: [WhatIf], engine: String) async throws {
        var options = DAOptions()
        options.address = history
        options.namespace = namespace
        options.daTokenFile = daTokenFile
        do {
            try options.validate()
        } catch let error as ValidationError {
            throw CommandFailure("--history: \(error.message)")
        }
        let log = try options.open(readOnly: true)
        defer { log.close() }
        let head: UInt64
        do {
            head = try await log.layer.head()
        } catch {
            throw CommandFailure("\(history): \(error)", cause: error)
        }
        let space = options.isCelestia ? "its namespace" : "namespace \(namespace)"
        guard head > 0 else { throw CommandFailure("\(history) has no history (\(space) is empty)") }
        let end = try checkedEnd(head)
        let rebuilder = StateRebuilder(da: log.layer, namespace: options.daNamespace)
        let policies = try await resolvePolicies {
            do {
                return try await rebuilder.rebuild(to: end, progress: ProgressBar.rebuildCallback(label: "registry")).machine.state
            } catch {
                ProgressBar.clear()
                throw CommandFailure("\(history): \(error)", cause: error)
            }
        }
        ProgressBar.clear()
        let experiment = try makeExperiment(policies: policies, whatIfs: whatIfs, end: end, engine: engine)
        var scratch = StateMachine()
        do {
            _ = try await rebuilder.rebuild(into: &scratch, to: end, progress: ProgressBar.rebuildCallback(label: "experiment")) {
                height, blobs, _ in
                var events: [Event] = []
                for (blob, outcome) in blobs {
                    guard case .applied = outcome, let envelope = try? BlobCodec.decode(blob.data) else { continue }
                    events += envelope.events
                }
                try experiment.feed(height: height, events: events)
            }
            ProgressBar.clear()
        } catch {
            ProgressBar.clear()
            if let cause = error.cause as? ExperimentError {
                throw CommandFailure("\(history): height \(error.height.map(String.init) ?? "?"): \(cause)", cause: cause)
            }
            throw CommandFailure("\(history): \(error)", cause: error)
        }
        guard experiment.eventsReplayed > 0 else {
            throw CommandFailure("\(history) has no events in \(space) up to height \(end)")
        }
        try finish(experiment)
    }

    /// The last height replayed: `--to`, or the end; a start or end beyond it is refused.
    private func checkedEnd(_ last: UInt64) throws -> UInt64 {
        if let to, to > last {
            throw CommandFailure("--to \(to) is beyond the end of \(history), height \(last)")
        }
        guard from <= (to ?? last) else {
            throw CommandFailure("--from \(from) is beyond the end of \(history), height \(to ?? last)")
        }
        return to ?? last
    }

    /// The experiment, once the policies are resolved; `--out` is prepared here, before the replay.
    private func makeExperiment(policies: [ExperimentPolicy], whatIfs: [WhatIf], end: UInt64, engine: String) throws -> Experiment {
        if let out { try prepareOutputDirectory(out) }
        do {
            return try Experiment(
                policies: policies, whatIfs: whatIfs, from: from, to: end, seed: seed, source: history, engine: engine, samples: samples,
                explainLimit: explain, roundLimit: roundLimit)
        } catch {
            throw CommandFailure(error.message, cause: error)
        }
    }

    private func finish(_ experiment: Experiment) throws {
        let (report, timings): (ExperimentReport, ExperimentTimings)
        do {
            (report, timings) = try experiment.finish()
        } catch {
            throw CommandFailure("\(history): \(error)", cause: error)
        }
        if let out { try write(report: report, timings: timings, to: out) }
        var text = json ? report.json() : ExperimentRendering.table(report, timings: timings)
        if !json, let out { text += "wrote \(out)/report.json, \(out)/report.html, \(out)/timings.json\n" }
        try OutputSink.write(text, to: nil)
    }

    /// Creates `--out` (and its parents) before anything runs, so a place that cannot be written is
    /// refused at once rather than after the experiment.
    private func prepareOutputDirectory(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandFailure("--out \(directory) is not a directory") }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw CommandFailure("cannot create the directory \(directory) (--out): a parent is not a directory or not writable")
            }
        }
        guard access(directory, W_OK) == 0 else {
            throw CommandFailure("cannot write in \(directory) (--out): \(String(cString: strerror(errno)))")
        }
    }

    private func write(report: ExperimentReport, timings: ExperimentTimings, to directory: String) throws {
        for (name, text) in [
            ("report.json", report.json()), ("report.html", ExperimentRendering.html(report, timings: timings)),
            ("timings.json", timings.json()),
        ] {
            try OutputSink.write(text, to: (directory as NSString).appendingPathComponent(name))
        }
    }
}
