import DSDNCore
import DSDNScheduler
import Foundation
import LuaSandbox

/// Placement decisions per second and per-decision latency (p50, p99) at several cluster sizes, for
/// pack policies, replication factor 3. Two baselines in the same run: the policy written natively in
/// Swift (weighted-score), and the system's bare `lua5.4` interpreter running the same policy file on
/// the same node tables, timing only its decision loop (policies that need only the standard library).
func placementThroughput(nodeCounts: [Int], policies: [String], decisions requested: Int, policyDirectory: String) throws {
    let repetitions = 3
    let warmUp = 2
    say("placement   decisions with replication factor 3 on clusters of \(nodeCounts.map(String.init).joined(separator: ", ")) nodes")
    for count in nodeCounts {
        let state = try cluster(nodes: count)
        let inputs = DecisionInputs(state: state)
        let decisions = requested > 0 ? requested : max(10, min(400, 200_000 / count))
        var random = SeededGenerator(seed: UInt64(count))
        let chunks = (0..<decisions + 2).map { _ in
            ChunkRequest(
                hash: Hash256(w0: random.next(), w1: random.next(), w2: random.next(), w3: random.next()),
                sizeBytes: 1 + random.next() % (64 << 20), replicationFactor: 3)
        }
        say("  \(count) nodes, \(decisions) decisions each, \(repetitions) repetitions (the first \(warmUp) decisions warm up)")
        for name in policies {
            let path = "\(policyDirectory)/\(name).lua"
            let policy = try Policy.load(source: String(contentsOfFile: path, encoding: .utf8), fileName: path)
            let pad = "".padding(toLength: 15, withPad: " ", startingAt: 0)
            var latencies: [Double] = []
            var preparedHooks = 0.0
            if policy.apiLevel >= 2 {
                // One warm sandbox for the snapshot: prepared once, then every decision against it. Each
                // repetition prepares its own.
                let (prepares, hooks, warmLatencies, failure) = PolicySandbox.withLargeStack {
                    () -> ([Double], [Double], [Double], String?) in
                    var prepares: [Double] = []
                    var hooks: [Double] = []
                    var latencies: [Double] = []
                    for repetition in 0..<repetitions {
                        let start = ContinuousClock.now
                        let warm = WarmPlacement(policy: policy, parameters: policy.parameters, inputs: inputs)
                        prepares.append((ContinuousClock.now - start).seconds)
                        hooks.append(warm.prepareHookSeconds)
                        for (index, chunk) in chunks.enumerated() {
                            let start = ContinuousClock.now
                            if case let .failure(error) = warm.decide(chunk, explain: false) { return ([], [], [], error.description) }
                            if index >= warmUp || repetition > 0 { latencies.append((ContinuousClock.now - start).seconds) }
                        }
                    }
                    return (prepares, hooks, latencies, nil)
                }
                if let failure { throw BenchFailure("\(name): \(failure)") }
                latencies = warmLatencies
                let prepare = prepares.sorted()[prepares.count / 2]
                preparedHooks = hooks.sorted()[hooks.count / 2]
                say("    \(name.padding(toLength: 15, withPad: " ", startingAt: 0)) sandbox  \(Latencies(latencies).text)   (api 2)")
                say(
                    "    \(pad) prepare  \(String(format: "%7.2f ms", prepare * 1_000)) once per snapshot (filter and score on every node; median of \(repetitions))"
                )
                say(
                    "    \(pad) hooks    \(String(format: "%7.2f ms", preparedHooks * 1_000)) of it in filter, score and the ranking, under the budget"
                )
                benchReport.record(["placement", "\(count)", name, "prepare_ms"], prepare * 1_000)
                benchReport.record(["placement", "\(count)", name, "prepare_hooks_ms"], preparedHooks * 1_000)
            } else {
                for repetition in 0..<repetitions {
                    for (index, chunk) in chunks.enumerated() {
                        let start = ContinuousClock.now
                        _ = try Scheduler.place(chunk, inputs: inputs, policy: policy)
                        if index >= warmUp || repetition > 0 { latencies.append((ContinuousClock.now - start).seconds) }
                    }
                }
                say("    \(name.padding(toLength: 15, withPad: " ", startingAt: 0)) sandbox  \(Latencies(latencies).text)   (api 1)")
            }
            let measured = Latencies(latencies)
            benchReport.record(["placement", "\(count)", name, "decisions_per_second"], measured.mean > 0 ? 1 / measured.mean : 0)
            benchReport.record(["placement", "\(count)", name, "p50_ms"], measured.percentile(0.5) * 1_000)
            benchReport.record(["placement", "\(count)", name, "p99_ms"], measured.percentile(0.99) * 1_000)
            benchReport.record(["placement", "\(count)", name, "api"], Double(policy.apiLevel))
            if name == "weighted-score" {
                let native = NativeWeightedScore(state: state)
                var nativeLatencies: [Double] = []
                for (index, chunk) in chunks.enumerated() {
                    let start = ContinuousClock.now
                    let chosen =
                        policy.apiLevel >= 2
                        ? native.placeRanked(size: chunk.sizeBytes, want: 3) : native.place(size: chunk.sizeBytes, want: 3)
                    precondition(chosen.count <= 3)
                    if index >= 2 { nativeLatencies.append((ContinuousClock.now - start).seconds) }
                }
                let ratio = Latencies(latencies).mean / max(Latencies(nativeLatencies).mean, 1e-9)
                benchReport.record(["placement", "\(count)", name, "ratio_to_native"], ratio)
                say(
                    "    \("".padding(toLength: 15, withPad: " ", startingAt: 0)) native   \(Latencies(nativeLatencies).text)   sandbox/native \(String(format: "%.0f", ratio))×"
                )
            }
            if name != "rendezvous" {
                if let (bare, prepare) = try bareLua(policyPath: path, state: state, chunks: Array(chunks.dropFirst(2))) {
                    let ratio = Latencies(latencies).mean / max(Latencies(bare).mean, 1e-9)
                    benchReport.record(["placement", "\(count)", name, "ratio_to_lua"], ratio)
                    if let prepare {
                        benchReport.record(["placement", "\(count)", name, "lua_prepare_ms"], prepare * 1_000)
                        benchReport.record(
                            ["placement", "\(count)", name, "prepare_hooks_ratio_to_lua"], preparedHooks / max(prepare, 1e-9))
                    }
                    say(
                        "    \("".padding(toLength: 15, withPad: " ", startingAt: 0)) lua5.4   \(Latencies(bare).text)   sandbox/lua5.4 \(String(format: "%.1f", ratio))×"
                    )
                    if let prepare {
                        say(
                            "    \(pad) lua5.4 prepare \(String(format: "%7.2f ms", prepare * 1_000))   sandbox hooks/lua5.4 \(String(format: "%.1f", preparedHooks / max(prepare, 1e-9)))×"
                        )
                    }
                } else {
                    say("    \("".padding(toLength: 15, withPad: " ", startingAt: 0)) lua5.4   not run (no lua5.4 on PATH)")
                }
            }
        }
        say("    (rendezvous has no lua5.4 baseline: it needs the host's hash64, a SHA-256)")
    }
    say("  target at 5000 nodes: 1000 decisions/s, p99 under 5 ms")
}

/// Per-decision latencies, summarized.
struct Latencies {
    let sorted: [Double]
    init(_ values: [Double]) { sorted = values.sorted() }
    var mean: Double { sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count) }
    func percentile(_ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
    }
    var text: String {
        String(
            format: "%8.0f decisions/s  p50 %7.2f ms  p99 %7.2f ms", mean > 0 ? 1 / mean : 0, percentile(0.5) * 1_000,
            percentile(0.99) * 1_000)
    }
}

/// A cluster of `nodes` active nodes in 10 zones with seeded stats and capacities.
func cluster(nodes count: Int) throws -> DerivedState {
    var machine = StateMachine()
    try machine.apply(events: clusterEvents(nodes: count))
    return machine.state
}

/// weighted-score with its default parameters, in Swift: the same filter (free space), score and
/// ranking (score descending, then id bytewise) as the Lua policy and the host's driver.
struct NativeWeightedScore {
    struct Node {
        var id: String
        var free: UInt64
        var score: Double
    }
    let nodes: [Node]
    let ranked: [Node]

    init(state: DerivedState) {
        nodes = state.allNodes().filter { $0.status == .active }.map { node in
            let stats = node.stats
            let cpu = Double(stats?.cpuFreeMilli ?? 0) / 1000
            let ram = Double(stats?.ramFreeMB ?? 0)
            let gpu = Double(stats?.gpuFreeMilli ?? 0) / 1000
            let latency = Double(stats?.latencyMicros ?? 0) / 1000
            let io = Double(stats?.ioPressureMilli ?? 0) / 1000
            let inverseLatency = latency > 0 ? 1 / latency : 1
            let score = 1.0 * cpu + 0.001 * ram + 2.0 * gpu + 50.0 * inverseLatency - 1.5 * io
            return Node(id: node.id, free: node.capacityBytes - min(node.storedBytes, node.capacityBytes), score: score)
        }
        ranked = nodes.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
    }

    /// API level 2's algorithm: the ranking is made once; a decision walks it until `want` fit.
    func placeRanked(size: UInt64, want: Int) -> [String] {
        var chosen: [String] = []
        for node in ranked where node.free >= size {
            chosen.append(node.id)
            if chosen.count == want { break }
        }
        return chosen
    }

    func place(size: UInt64, want: Int) -> [String] {
        var candidates = nodes.filter { $0.free >= size }
        candidates.sort { $0.score != $1.score ? $0.score > $1.score : $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        return candidates.prefix(want).map(\.id)
    }
}

/// Runs the policy file under the system's `lua5.4` on the same node tables and chunk sizes, calling
/// filter, score, the driver's ranking and select the way the host's driver does; returns the latency of
/// each decision as the interpreter measured it (os.clock), and for API level 2 the one preparation, or
/// nil when there is no lua5.4.
func bareLua(policyPath: String, state: DerivedState, chunks: [ChunkRequest]) throws -> ([Double], Double?)? {
    let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
    guard let interpreter = searchPath.map({ "\($0)/lua5.4" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        return nil
    }
    func number(_ value: Double) -> String { value == value.rounded() && abs(value) < 1e15 ? "\(Int(value)).0" : "\(value)" }
    var script = "local nodes = {\n"
    for node in state.allNodes() {
        let stats = node.stats
        let used = min(node.storedBytes, node.capacityBytes)
        script +=
            "{id=\"\(node.id)\",zone=\"\(node.zone ?? "")\",capacity=\(node.capacityBytes),used=\(node.storedBytes),free=\(node.capacityBytes - used),"
            + "status=\"\(node.status.description)\",holds=false,eligible=\(node.status == .active),has_stats=\(stats != nil),"
            + "cpu=\(number(Double(stats?.cpuFreeMilli ?? 0) / 1000)),ram_mb=\(number(Double(stats?.ramFreeMB ?? 0))),"
            + "gpu=\(number(Double(stats?.gpuFreeMilli ?? 0) / 1000)),latency_ms=\(number(Double(stats?.latencyMicros ?? 0) / 1000)),"
            + "io=\(number(Double(stats?.ioPressureMilli ?? 0) / 1000))},\n"
    }
    script += "}\nlocal zones = {\n"
    for zone in state.zones() {
        script +=
            "{id=\"\(zone.id)\",nodes=\(zone.nodeIDs.count),capacity=\(zone.capacityBytes),used=\(zone.storedBytes),utilization=\(number(zone.utilization))},\n"
    }
    script += "}\nlocal sizes = {\(chunks.map { String($0.sizeBytes) }.joined(separator: ","))}\n"
    script += """
        spairs = function(t)
          local keys = {}
          for k in pairs(t) do keys[#keys + 1] = k end
          table.sort(keys, function(a, b) if type(a) == type(b) then return a < b end return type(a) == 'number' end)
          local i = 0
          return function() i = i + 1 local k = keys[i] if k ~= nil then return k, t[k] end end
        end
        local policy = dofile(\(policyPath.debugDescription))
        local params = {}
        for k, v in pairs(policy.params or {}) do params[k] = v end
        local ctx = { chunk = { hash = string.rep('ab', 32), size = 0, replicas = 3, holders = {} }, want = 3,
                      params = params, zones = zones, seed = 1, nodes = nodes }
        local filter, score, select, admit = policy.filter, policy.score, policy.select, policy.admit
        local clock, out = os.clock, {}
        -- filter and score every node the host lets through, then the host's ranking
        local function rank(context, eligible)
          local candidates, scores = {}, {}
          for i = 1, #nodes do
            local node = nodes[i]
            if eligible(node) then
              local ok = true
              if filter then ok = filter(node, context) end
              if ok then candidates[#candidates + 1] = i; scores[i] = score(node, context) end
            end
          end
          table.sort(candidates, function(a, b)
            if scores[a] ~= scores[b] then return scores[a] > scores[b] end
            return nodes[a].id < nodes[b].id
          end)
          return candidates, scores
        end
        if policy.api == 2 then
          local start = clock()
          local candidates = rank({ params = params, zones = zones, nodes = nodes }, function(node) return node.status == 'active' end)
          print('prepare ' .. (clock() - start))
          for d = 1, #sizes do
            local start = clock()
            ctx.chunk.size = sizes[d]
            local status = {}
            local function check(i)
              local s = status[i]
              if s == nil then s = (not admit) or admit(nodes[i], ctx); status[i] = s end
              return s
            end
            if select then
              ctx.candidates = function()
                local r = 0
                return function()
                  while true do
                    r = r + 1
                    local i = candidates[r]
                    if i == nil then return nil end
                    if check(i) then return nodes[i] end
                  end
                end
              end
              select(ctx)
            else
              local chosen, r = 0, 0
              while chosen < ctx.want do
                r = r + 1
                local i = candidates[r]
                if i == nil then break end
                if check(i) then chosen = chosen + 1 end
              end
            end
            out[d] = clock() - start
          end
          for d = 1, #out do print(out[d]) end
          return
        end
        for d = 1, #sizes do
          local start = clock()
          ctx.chunk.size = sizes[d]
          local candidates, scores = rank(ctx, function(node) return node.eligible end)
          local ranked = {}
          for r = 1, #candidates do local node = nodes[candidates[r]]; node.score = scores[candidates[r]]; ranked[r] = node end
          if select then select(ranked, ctx) end
          out[d] = clock() - start
        end
        for d = 1, #out do print(out[d]) end

        """
    let file = NSTemporaryDirectory() + "dsdn-bench-placement-\(getpid()).lua"
    try script.write(toFile: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: file) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: interpreter)
    process.arguments = [file]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchFailure("lua5.4 failed on \(policyPath)") }
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
    let prepare = lines.first { $0.hasPrefix("prepare ") }.flatMap { Double($0.dropFirst(8)) }
    return (lines.compactMap { Double($0) }, prepare)
}
