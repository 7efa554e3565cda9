import DSDNCore
import DSDNExperiment
import DSDNPolicyPack
import DSDNScheduler
import Foundation

/// The experiment scenario: a preset history simulated with seed 1 and placed by the pack's
/// `weighted-score`, kept in memory height by height, then an `Experiment` of two pack policies over all
/// of its heights. Baseline: replaying the same heights into a fresh state machine. Each phase's line is
/// printed (and flushed) as it ends, so a slow run shows where its time goes.
func experimentRun(preset name: String) throws {
    guard let preset = Simulation.Preset.all.first(where: { $0.name == name }) else {
        throw BenchFailure(
            "--experiment-preset must be one of \(Simulation.Preset.all.map(\.name).joined(separator: ", ")), got \(name)")
    }
    let placing = "weighted-score"
    let armNames = ["weighted-score", "zone-spread"]
    let engine = "dsdn-bench; \(Scheduler.luaRelease)"
    func packPolicy(_ name: String) throws -> Policy {
        guard let source = PolicyPack.source(named: name) else { throw BenchFailure("the pack has no policy \(name)") }
        return try Policy.load(source: source, fileName: "\(name).lua")
    }

    // 1. The history, one array of events per height.
    var simulation = Simulation(preset: preset, seed: 1, release: try packPolicy(placing).release, engine: engine)
    var heights: [[Event]] = []
    let simulateTime = try seconds {
        while let events = try simulation.nextHeight() { heights.append(events) }
    }
    let eventCount = heights.reduce(0) { $0 + $1.count }
    let placed = simulation.decisionCounts
    say(
        "experiment  \(preset.name) preset: \(preset.nodes) nodes, \(preset.zones) zones, \(eventCount) events in \(heights.count) heights (simulated in \(String(format: "%.1f", simulateTime)) s, \(placing) placing, \(placed.decisions) decisions)"
    )
    fflush(nil)

    // 2. Baseline: the same heights replayed, nothing decided.
    let replayTime = try seconds {
        var machine = StateMachine()
        for events in heights { try machine.apply(events: events) }
    }
    say("  replay only          \(String(format: "%.2f", replayTime)) s   (baseline)")
    fflush(nil)

    // 3. The experiment over every height.
    let policies = try armNames.map { ExperimentPolicy(origin: "pack \($0)", resolved: ResolvedPolicy(defaultsOf: try packPolicy($0))) }
    let last = UInt64(heights.count)
    let experiment = try Experiment(
        policies: policies, whatIfs: [], from: 1, to: last, seed: 1, source: "simulated \(preset.name) preset", engine: engine)
    var timings: ExperimentTimings?
    var report: ExperimentReport?
    let experimentTime = try seconds {
        for (offset, events) in heights.enumerated() { try experiment.feed(height: UInt64(offset + 1), events: events) }
        let finished = try experiment.finish()
        report = finished.report
        timings = finished.timings
    }
    guard let report, let timings else { throw BenchFailure("the experiment returned no report") }
    say(
        "  experiment           \(String(format: "%.2f", experimentTime)) s   ratio to baseline \(String(format: "%.1f", experimentTime / max(1e-9, replayTime))), \(policies.count) policies + random reference"
    )
    let width = max(18, (timings.arms.map(\.label.count).max() ?? 0) + 2)
    for arm in timings.arms {
        say(
            "    \(arm.label.padding(toLength: width, withPad: " ", startingAt: 0))\(arm.decisions) decisions, \(Int(arm.decisionsPerSecond)) decisions/s, p50 \(String(format: "%.3f", arm.p50Ms)) ms, p99 \(String(format: "%.3f", arm.p99Ms)) ms, prepare \(String(format: "%.2f", arm.prepareSeconds)) s"
        )
        benchReport.record(["experiment", "arms", arm.label, "decisions"], Double(arm.decisions))
        benchReport.record(["experiment", "arms", arm.label, "decisions_per_second"], arm.decisionsPerSecond)
        benchReport.record(["experiment", "arms", arm.label, "p50_ms"], arm.p50Ms)
        benchReport.record(["experiment", "arms", arm.label, "p99_ms"], arm.p99Ms)
        benchReport.record(["experiment", "arms", arm.label, "prepare_seconds"], arm.prepareSeconds)
    }
    // `finish()` throws unless every height up to the last was fed.
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let complete = report.history.to == last && report.history.events == UInt64(eventCount)
    say(
        "  finished on \(cores) cores: \(complete ? "yes" : "no (the report covers \(report.history.events) events to height \(report.history.to))")"
    )
    let peak = peakResidentBytes()
    say("  peak resident memory  \(peak / 1_048_576) MiB")
    benchReport.record(["experiment", "events"], Double(eventCount))
    benchReport.record(["experiment", "heights"], Double(heights.count))
    benchReport.record(["experiment", "simulate_seconds"], simulateTime)
    benchReport.record(["experiment", "baseline_replay_seconds"], replayTime)
    benchReport.record(["experiment", "seconds"], experimentTime)
    benchReport.record(["experiment", "peak_resident_bytes"], Double(peak))
}

/// The process's peak resident memory in bytes, from VmHWM in /proc/self/status (0 where there is none).
func peakResidentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    let fields = line.split(separator: " ", omittingEmptySubsequences: true)
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * 1_024 : 0
}
