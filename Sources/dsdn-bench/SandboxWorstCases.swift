import Foundation
import LuaSandbox

/// The worst input of each charged operation (docs/policies.md §7.2), run to exhaustion at the largest
/// budget a policy may declare, in a fresh sandbox each. Baseline: a plain counting loop at the same
/// budget, which is what an instruction costs when nothing else happens in it.
func sandboxWorstCases() {
    let budget = SandboxBudget(instructions: SandboxBudget.maxInstructions, memory: SandboxBudget.maxMemory)
    let cases: [(name: String, body: String)] = [
        ("plain loop", "local n = 0 while true do n = n + 1 end"),
        ("== of 16 KB strings", "local a, b = ('x'):rep(16000), ('x'):rep(15999) .. 'x' while true do local x = a == b end"),
        ("< of 16 KB strings", "local a, b = ('x'):rep(15999) .. 'a', ('x'):rep(15999) .. 'b' while true do local x = a < b end"),
        ("< of NUL strings", "local a, b = ('\\0'):rep(16000) .. 'a', ('\\0'):rep(16000) .. 'b' while true do local x = a < b end"),
        (
            "table.sort of NUL strings",
            "local t = {} for i = 1, 64 do t[i] = ('\\0'):rep(16000) .. string.char(65 + i % 26) end while true do table.sort(t) end"
        ),
        (
            "spairs of a sparse table",
            "local t = {} for i = 1, 200000 do t['k' .. i] = i end for i = 2, 200000 do t['k' .. i] = nil end "
                + "local n = 0 while true do for k, v in spairs(t) do n = n + v end end"
        ),
        (
            "string.format, 30 × %.99f",
            "local f = ('%.99f'):rep(30) local v = {} for i = 1, 30 do v[i] = 1e308 end "
                + "while true do local s = string.format(f, table.unpack(v)) end"
        ),
        (
            "string.format, 256 × %s of ''",
            "local f = ('%s'):rep(256) local v = {} for i = 1, 256 do v[i] = '' end "
                + "while true do local s = string.format(f, table.unpack(v)) end"
        ),
        (
            "... of 200,000 values",
            "local function sink(...) return 0 end local function pump(...) while true do sink(...) end end "
                + "local function widen(k, ...) if k == 0 then return pump(...) end "
                + "return widen(k - 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, ...) end "
                + "return widen(10000)"
        ),
        ("tonumber of 16 KB digits", "local s = ('0'):rep(15999) .. '1' local n = 0 while true do n = n + tonumber(s) end"),
        ("string.find, 16 KB plain", "local s, p = ('a'):rep(16000), ('a'):rep(100) .. 'b' while true do local x = s:find(p) end"),
        ("sha256 of 16 KB", "local s = ('a'):rep(16000) while true do local x = sha256(s) end"),
        ("8 KB .. 8 KB", "local s = ('a'):rep(8000) while true do local x = s .. s end"),
        (
            "table.concat of 256 × 60 B",
            "local t = {} for i = 1, 256 do t[i] = ('a'):rep(60) end while true do local x = table.concat(t) end"
        ),
    ]
    say("sandbox     the worst input of each charged operation at the largest budget (\(budget.instructions) instructions, 64 MiB)")
    var baseline = 0.0
    for (name, body) in cases {
        let source = "return { name = 'worst', version = 1, api = 1, score = function(node, ctx) \(body) end }"
        var outcome = SandboxOutcome.ok
        var instructions: UInt64 = 0
        let elapsed = seconds {
            let evaluation = PolicySandbox.withLargeStack { () -> SandboxEvaluation? in
                guard let sandbox = try? PolicySandbox() else { return nil }
                let load = sandbox.load(source: source, chunkName: "worst", budget: budget)
                guard load.outcome == .ok else { return load }
                let node = LuaValue.record([("id", .string("a")), ("eligible", .bool(true)), ("status", .string("active"))])
                let input = LuaValue.record([
                    ("nodes", .array([node])), ("ctx", .record([("want", .integer(1)), ("params", .record([]))])),
                ])
                return sandbox.decide(input: input, seed: 1, budget: budget)
            }
            outcome = evaluation?.outcome ?? .memoryBudget
            instructions = evaluation?.instructions ?? 0
        }
        if baseline == 0 { baseline = elapsed }
        let padded = name.padding(toLength: 30, withPad: " ", startingAt: 0)
        let ratio = name == "plain loop" ? "(baseline)" : "ratio to baseline \(String(format: "%.1f", elapsed / baseline))"
        say("  \(padded) \(String(format: "%6.2f", elapsed)) s  \(outcome.rawValue) after \(instructions)   \(ratio)")
        benchReport.record(["sandbox", name, "seconds"], elapsed)
    }
}
