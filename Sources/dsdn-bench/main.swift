import DSDNCore
import DSDNDA
import DSDNFileLog
import DSDNRuntime
import DSDNSimulation
import Foundation

// Benchmarks with ratios against baselines measured in the same run (docs/architecture.md §3).
// Build in release: swift run -c release dsdn-bench [--events N] [--chunks N] [--blobs N] [--health-nodes N]
// [--health-chunks N] [--policy FILE] [--experiment-preset small|medium|large]
// [--only memory,replay,publish,sandbox,jsonl,placement,audit,repair,health,experiment]; run from the repository root (the health scenario loads --policy).

struct Options {
    var events = 1_000_000
    var chunks = 1_000_000
    var blobs = 2_000
    var healthNodes = 8_000
    var healthChunks = 4_096
    var policy = "policies/weighted-score.lua"
    var placementNodes = [100, 1_000, 5_000, 10_000]
    var placementPolicies = ["weighted-score", "zone-spread", "rendezvous"]
    /// Decisions per policy and cluster size (0: about 200,000 node visits' worth, 10 to 400).
    var placementDecisions = 0
    /// Print the figures as one JSON document on standard output (text goes to standard error).
    var json = false
    /// Run every scenario at a small size, to check that they run (figures mean nothing).
    var smoke = false
    /// Events in the audit scenario's history.
    var auditEvents = 200_000
    /// The simulated preset the experiment scenario runs (small, medium or large).
    var experimentPreset = "large"
    /// The scenarios to run (all when empty): memory, replay, publish, sandbox, jsonl, placement, audit, repair, health,
    /// experiment.
    var only: Set<String> = []

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--events": events = iterator.next().flatMap(Int.init) ?? events
            case "--chunks": chunks = iterator.next().flatMap(Int.init) ?? chunks
            case "--blobs": blobs = iterator.next().flatMap(Int.init) ?? blobs
            case "--health-nodes": healthNodes = iterator.next().flatMap(Int.init) ?? healthNodes
            case "--health-chunks": healthChunks = iterator.next().flatMap(Int.init) ?? healthChunks
            case "--policy": policy = iterator.next() ?? policy
            case "--placement-nodes": placementNodes = (iterator.next() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--placement-policies": placementPolicies = (iterator.next() ?? "").split(separator: ",").map(String.init)
            case "--placement-decisions": placementDecisions = iterator.next().flatMap(Int.init) ?? placementDecisions
            case "--only": only = Set((iterator.next() ?? "").split(separator: ",").map(String.init))
            case "--json": json = true
            case "--audit-events": auditEvents = iterator.next().flatMap(Int.init) ?? auditEvents
            case "--experiment-preset": experimentPreset = iterator.next() ?? experimentPreset
            case "--smoke":
                smoke = true
                events = 20_000
                chunks = 20_000
                blobs = 100
                healthNodes = 300
                healthChunks = 8
                placementNodes = [100, 1_000]
                placementDecisions = 20
                auditEvents = 20_000
                experimentPreset = "small"
            default:
                FileHandle.standardError.write(
                    Data(
                        "error: unknown argument \(argument) (use --events N, --chunks N, --blobs N, --health-nodes N, --health-chunks N, --policy FILE, --placement-nodes N,N, --placement-policies A,B, --placement-decisions N, --audit-events N, --experiment-preset small|medium|large, --json, --smoke, --only memory,replay,publish,sandbox,jsonl,placement,audit,repair,health,experiment)\n"
                            .utf8))
                exit(64)
            }
        }
    }

    func runs(_ scenario: String) -> Bool { only.isEmpty || only.contains(scenario) }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Resident memory in bytes, from /proc/self/statm. The memory phase runs first, in a fresh process,
/// so growth is not hidden by pages an earlier phase freed; it includes allocator slack, a real cost.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

let options = Options(CommandLine.arguments)
benchReport.isJSON = options.json

// 1. Memory per chunk with 3 replicas. Baseline: the 32-byte hash alone (an array of hashes).
if options.runs("memory") {
    let nodeCount = 5_000
    var machine = StateMachine()
    var setup: [Event] = []
    for index in 0..<nodeCount {
        setup.append(
            .nodeRegistered(
                nodeID: "node-\(index)", zone: "zone-\(index % 10)", addr: "10.0.\(index / 256).\(index % 256):7000", capacityBytes: 1 << 44
            ))
    }
    try machine.apply(events: setup)
    var random = SeededGenerator(seed: 9)
    let before = residentBytes()
    try declareChunks(options.chunks, nodes: nodeCount, seed: 9, stride: 7, commitments: true, into: &machine)
    let after = residentBytes()
    let perChunk = Double(after - before) / Double(options.chunks)
    var hashes: [Hash256] = []
    let baselineBefore = residentBytes()
    hashes.reserveCapacity(options.chunks)
    for _ in 0..<options.chunks { hashes.append(Hash256(w0: random.next(), w1: 0, w2: 0, w3: 0)) }
    let baselinePerChunk = Double(residentBytes() - baselineBefore) / Double(options.chunks)
    say("memory      \(machine.state.chunkCount) chunks x 3 replicas on \(nodeCount) nodes")
    say("  hash array           \(String(format: "%.0f", baselinePerChunk)) bytes/chunk   (baseline)")
    say(
        "  derived state        \(String(format: "%.0f", perChunk)) bytes/chunk   ratio to baseline \(String(format: "%.1f", perChunk / max(1, baselinePerChunk)))"
    )
    say("  target 300 bytes     ratio \(String(format: "%.2f", perChunk / 300)) (below 1 meets it)")
    benchReport.record(["memory", "bytes_per_chunk"], perChunk)
    benchReport.record(["memory", "baseline_bytes_per_chunk"], baselinePerChunk)
    withExtendedLifetime(hashes) {}
}

// 2. Replay: decode + apply blobs of 100 events. Baseline: decoding alone (the floor any replay pays)
//    and SHA-256 over the same bytes (the integrity check's share).
if options.runs("replay") {
    let events = SyntheticHistory.events(.init(seed: 1, eventCount: options.events, nodeCount: 5_000, zoneCount: 10))
    let blobs = try events.encodedBlobs(publisher: "bench", batchSize: 100)
    let bytes = blobs.reduce(0) { $0 + $1.count }
    var decoded = 0
    let decodeTime = try seconds {
        for blob in blobs { decoded += try BlobCodec.decode(blob).events.count }
    }
    // Three replays into fresh machines; the median counts (a busy neighbour on a shared machine moves
    // single runs by a quarter).
    var machine = StateMachine()
    var replayTimes: [Double] = []
    for _ in 0..<3 {
        machine = StateMachine()
        replayTimes.append(
            seconds {
                for (offset, blob) in blobs.enumerated() {
                    machine.apply(blob: blob, at: BlobPosition(height: UInt64(offset + 1), index: 0))
                }
            })
    }
    replayTimes.sort()
    let replayTime = replayTimes[1]
    let checksumTime = seconds { _ = machine.state.checksum() }
    precondition(machine.state.cursor.blobsRejected == 0 && decoded == events.count, "benchmark history must apply cleanly")
    let rate = Double(events.count) / replayTime
    say("replay      \(events.count) events in \(blobs.count) blobs (\(bytes / 1_048_576) MiB)")
    say("  decode only          \(Int(Double(events.count) / decodeTime)) events/s   (baseline)")
    say(
        "  decode + apply       \(Int(rate)) events/s   ratio to decode-only \(String(format: "%.2f", decodeTime / replayTime))   (median of 3: \(Int(Double(events.count) / replayTimes[2]))–\(Int(Double(events.count) / replayTimes[0])))"
    )
    say("  target 1,000,000/s   ratio \(String(format: "%.2f", rate / 1_000_000))")
    say("  checksum of final state (\(machine.state.chunkCount) chunks) \(String(format: "%.3f", checksumTime)) s")
    benchReport.record(["replay", "events_per_second"], rate)
    benchReport.record(["replay", "baseline_decode_events_per_second"], Double(events.count) / decodeTime)
    benchReport.record(["replay", "checksum_seconds"], checksumTime)
}

// 3. The publish path on the embedded log: one blob of 100 events per height, each append a shared
//    writer's full cycle (lock, catch up, write, fsync, unlock). Baseline: the same bytes with a plain
//    pwrite + fsync per blob to a file in the same directory (the floor of any durable append).
// 4. Rebuild from that log (read, verify commitments, decode, apply). Baseline: decode + apply of the
//    same blobs from memory.
if options.runs("publish") {
    let events = SyntheticHistory.events(.init(seed: 2, eventCount: options.blobs * 100, nodeCount: 1_000, zoneCount: 10))
    let blobs = try events.encodedBlobs(publisher: "bench", batchSize: 100)
    let directory = NSTemporaryDirectory() + "dsdn-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let raw = open(directory + "/raw", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var offset: off_t = 0
    let rawTime = seconds {
        for blob in blobs {
            let written = blob.withUnsafeBytes { pwrite(raw, $0.baseAddress, $0.count, offset) }
            offset += off_t(written)
            fsync(raw)
        }
    }
    close(raw)

    let namespace = DANamespace(name: "bench")
    let log = try FileLogDA.openShared(directory: directory + "/da")
    let start = ContinuousClock.now
    for blob in blobs { _ = try await log.submit(blob, to: namespace) }
    let appendElapsed = ContinuousClock.now - start
    let appendTime = Double(appendElapsed.components.seconds) + Double(appendElapsed.components.attoseconds) / 1e18
    log.close()
    say("publish     \(blobs.count) blobs of 100 events, one fsync each (file log, shared writer)")
    say("  pwrite + fsync       \(Int(Double(blobs.count) / rawTime)) blobs/s   (baseline)")
    say(
        "  file-log append      \(Int(Double(blobs.count) / appendTime)) blobs/s   ratio to baseline \(String(format: "%.2f", rawTime / appendTime))"
    )
    say("                       \(Int(Double(events.count) / appendTime)) events/s")
    benchReport.record(["publish", "blobs_per_second"], Double(blobs.count) / appendTime)
    benchReport.record(["publish", "baseline_blobs_per_second"], Double(blobs.count) / rawTime)

    var machine = StateMachine()
    let memoryTime = seconds {
        for (offset, blob) in blobs.enumerated() {
            machine.apply(blob: blob, at: BlobPosition(height: UInt64(offset + 1), index: 0))
        }
    }
    let reader = try FileLogDA.openReadOnly(directory: directory + "/da")
    let rebuildStart = ContinuousClock.now
    let rebuilt = try await StateRebuilder(da: reader, namespace: namespace).rebuild()
    let rebuildElapsed = ContinuousClock.now - rebuildStart
    let rebuildTime = Double(rebuildElapsed.components.seconds) + Double(rebuildElapsed.components.attoseconds) / 1e18
    reader.close()
    precondition(rebuilt.machine.state.checksum() == machine.state.checksum(), "rebuild must equal the in-memory replay")
    say("rebuild     \(events.count) events from the file log")
    say("  decode + apply       \(Int(Double(events.count) / memoryTime)) events/s   (baseline, from memory)")
    say(
        "  file-log rebuild     \(Int(Double(events.count) / rebuildTime)) events/s   ratio to baseline \(String(format: "%.2f", memoryTime / rebuildTime))"
    )
    benchReport.record(["rebuild", "events_per_second"], Double(events.count) / rebuildTime)
    benchReport.record(["rebuild", "baseline_events_per_second"], Double(events.count) / memoryTime)
}

// 5. The sandbox's worst cases: each charged operation's worst input at the largest budget.
if options.runs("sandbox") { sandboxWorstCases() }

// 6. JSON Lines: reading events back from their interchange text. Baseline: writing them.
if options.runs("jsonl") { try jsonLinesReading(events: min(options.events, 300_000)) }

// 7. Placement decisions per second and p50/p99 at several cluster sizes, with a native Swift and a bare
//    lua5.4 baseline.
if options.runs("placement") {
    try placementThroughput(
        nodeCounts: options.placementNodes, policies: options.placementPolicies, decisions: options.placementDecisions,
        policyDirectory: (options.policy as NSString).deletingLastPathComponent)
}

// 8b. Audit: every recorded placement of a history re-executed at its snapshot. Baseline: the replay alone.
if options.runs("audit") {
    try auditReplay(
        events: options.auditEvents, nodes: options.smoke ? 100 : 1_000,
        policyDirectory: (options.policy as NSString).deletingLastPathComponent)
}

// 8. The repair storm: a zone of a 5,000-node cluster fails; every lost replica decided.
if options.runs("repair") {
    try repairStorm(
        nodes: 5_000, chunks: options.chunks, policies: ["weighted-score", "zone-spread"],
        policyDirectory: (options.policy as NSString).deletingLastPathComponent)
}

// 9. /health on a real socket while the scheduler places a burst at 8,000 nodes, previews run and idle
//    and half-sent connections stay open. Baseline: the same probes with nothing else going on.
if options.runs("health") {
    try await healthUnderLoad(nodes: options.healthNodes, chunks: options.healthChunks, policyPath: options.policy)
}

// 10. The experiment: a simulated preset history (seed 1, placed by weighted-score) under two pack policies
//     and the random reference. Baseline: replaying the same heights.
if options.runs("experiment") { try experimentRun(preset: options.experimentPreset) }

if options.json { print(try benchReport.document(arguments: Array(CommandLine.arguments.dropFirst()))) }
