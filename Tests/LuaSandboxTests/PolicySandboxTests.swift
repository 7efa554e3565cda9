import LuaSandbox
import Testing

/// The sandbox's load and decide paths with small, well-behaved policies.
@Suite struct PolicySandboxTests {
    static let simple = """
        return {
          name = "simple", version = 2, api = 1, params = { w = 2.5 },
          filter = function(node, ctx)
            if node.free < ctx.chunk.size then return false, "too small" end
            return true
          end,
          score = function(node, ctx) return ctx.params.w * node.free, { free = node.free } end,
        }
        """

    static func node(_ id: String, free: Int64, eligible: Bool = true) -> LuaValue {
        .record([("id", .string(id)), ("free", .integer(free)), ("eligible", .bool(eligible)), ("status", .string("active"))])
    }

    static func input(_ nodes: [LuaValue], want: Int64 = 2, size: Int64 = 10) -> LuaValue {
        .record([
            ("nodes", .array(nodes)),
            (
                "ctx",
                .record([
                    ("want", .integer(want)), ("params", .record([("w", .number(2.5))])), ("chunk", .record([("size", .integer(size))])),
                ])
            ),
        ])
    }

    @Test func loadsADeclarationAndDecides() throws {
        let evaluation = PolicySandbox.withLargeStack { () -> (SandboxEvaluation, SandboxEvaluation) in
            // A fresh sandbox per evaluation; no error is possible here beyond out-of-memory.
            guard let sandbox = try? PolicySandbox() else { fatalError("cannot create a Lua state") }
            let load = sandbox.load(source: Self.simple, chunkName: "simple", budget: .default)
            let decision = sandbox.decide(
                input: Self.input([
                    Self.node("a", free: 5), Self.node("b", free: 100), Self.node("c", free: 100),
                    Self.node("d", free: 50, eligible: false),
                ]),
                seed: 1, budget: .default)
            return (load, decision)
        }
        let (load, decision) = evaluation
        #expect(load.outcome == .ok, "\(load.message)")
        #expect(load.value?["name"] == .string("simple"))
        #expect(load.value?["version"] == .integer(2))
        #expect(load.value?["score"] == .function)
        #expect(load.value?["select"] == .nil)
        #expect(decision.outcome == .ok, "\(decision.message)")
        #expect(decision.value?["chosen"] == .array([.string("b"), .string("c")]))
        guard case let .array(verdicts)? = decision.value?["verdicts"] else {
            Issue.record("no verdicts")
            return
        }
        #expect(verdicts.count == 4)
        #expect(verdicts[0]["reason"] == .string("too small"))
        #expect(verdicts[1]["score"] == .number(250))
        #expect(verdicts[1]["terms"]["free"] == .integer(100))
        #expect(verdicts[3]["reason"] == .string("already holds chunk"))
        #expect(decision.instructions > 0)
        #expect(decision.peakMemory > 0)
    }

    @Test func errorsAreClassifiedWithTheHookAndNode() throws {
        let source = """
            return { name = "broken", version = 1, api = 1,
              score = function(node, ctx) if node.id == "b" then error("cannot score " .. node.id) end return 1 end }
            """
        let decision = PolicySandbox.withLargeStack { () -> SandboxEvaluation in
            guard let sandbox = try? PolicySandbox() else { fatalError("cannot create a Lua state") }
            _ = sandbox.load(source: source, chunkName: "broken", budget: .default)
            return sandbox.decide(input: Self.input([Self.node("a", free: 1), Self.node("b", free: 1)]), seed: 1, budget: .default)
        }
        #expect(decision.outcome == .runtimeError)
        #expect(decision.message.contains("in score (node b)"), "\(decision.message)")
        #expect(decision.message.contains("broken:2:"), "\(decision.message)")
    }

    /// One costly operation repeated, with the least it must cost.
    struct CostCase: Sendable, CustomStringConvertible {
        var name: String
        var body: String
        var atLeast: UInt64
        var description: String { name }
    }

    static let costCases: [CostCase] = [
        // Long strings made by `..` and hashed as keys: charged by their length when made.
        CostCase(
            name: "long-string-keys",
            body: "local s = ('x'):rep(16000) for i = 1, 200 do local u = {} u[s .. i] = true end",
            atLeast: 200_000),
        // `<` on strings made of NUL bytes: strcoll once per piece, 4,001 pieces per comparison.
        CostCase(
            name: "nul-less-than",
            body: """
                local a, b = ('\\0'):rep(4000) .. 'a', ('\\0'):rep(4000) .. 'b' for i = 1, 100 do local x =
                a < b end
                """,
            atLeast: 400_000),
        // table.sort of such strings.
        CostCase(
            name: "nul-sort",
            body: """
                local t = {} for i = 1, 16 do t[i] = ('\\0'):rep(4000) .. string.char(80 - i) end
                table.sort(t)
                """,
            atLeast: 120_000),
        // `==` of two equal 16,000-byte strings held as separate objects: memcmp of the whole length.
        CostCase(
            name: "long-equality",
            body: """
                local a, b = ('x'):rep(16000), ('x'):rep(15999) .. 'x' for i = 1, 100 do local x = a == b
                end
                """,
            atLeast: 25_000),
        // spairs over a table that once held 30,000 keys and now holds one.
        CostCase(
            name: "sparse-spairs",
            body: """
                local t = {} for i = 1, 30000 do t['k' .. i] = i end for i = 2, 30000 do t['k' .. i] = nil
                end local s = 0 for r = 1, 10 do for k, v in spairs(t) do s = s + v end end
                """,
            atLeast: 600_000),
        // A function holding 1,000 extra arguments (passed on 20 at a time) runs a loop of 1,000 steps.
        CostCase(
            name: "varargs",
            body: """
                local function spin(...) local n = 0 for i = 1, 1000 do n = n + i end return n end local
                function widen(k, ...) if k == 0 then return spin(...) end return widen(k - 1,
                1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20, ...) end widen(50)
                """,
            atLeast: 150_000),
        // string.format with 30 float conversions, 100 times.
        CostCase(
            name: "format",
            body: """
                local f = ('%.20f'):rep(30) local v = {} for i = 1, 30 do v[i] = 1e300 end for i = 1, 100
                do local s = string.format(f, table.unpack(v)) end
                """,
            atLeast: 192_000),
    ]

    /// Work the VM does inside one instruction, through the C library or its own loops, is charged by
    /// what it does: each body repeats one costly operation `n` times and must cost at least `atLeast`
    /// instructions (a few hundred without the charges).
    /// Churn that never grows live memory still ends at the cumulative allocation cap (8 × the memory
    /// budget) when the instruction budget is large enough to reach it.
    @Test func churnEndsAtTheCumulativeAllocationCap() throws {
        let source = """
            return { name = "churn", version = 1, api = 1,
              score = function(node, ctx) local base, n = ('x'):rep(1000), 0 while true do local s = base .. n n = n + 1 end end }
            """
        let budget = SandboxBudget(instructions: 50_000_000, memory: 64 << 10)
        let decision = PolicySandbox.withLargeStack { () -> SandboxEvaluation in
            guard let sandbox = try? PolicySandbox() else { fatalError("cannot create a Lua state") }
            let load = sandbox.load(source: source, chunkName: "churn", budget: budget)
            guard load.outcome == .ok else { return load }
            return sandbox.decide(input: Self.input([Self.node("a", free: 1)], want: 1), seed: 1, budget: budget)
        }
        #expect(decision.outcome == .memoryBudget, "\(decision.outcome.rawValue): \(decision.message)")
        #expect(decision.instructions < 10_000_000)
    }

    @Test(arguments: costCases)
    func workInsideOneInstructionIsCharged(_ cost: CostCase) throws {
        let (name, body, atLeast) = (cost.name, cost.body, cost.atLeast)
        let source = """
            return { name = "\(name)", version = 1, api = 1,
              score = function(node, ctx) \(body) return 1 end }
            """
        let budget = SandboxBudget(instructions: 50_000_000, memory: 64 << 20)
        let decision = PolicySandbox.withLargeStack { () -> SandboxEvaluation in
            guard let sandbox = try? PolicySandbox() else { fatalError("cannot create a Lua state") }
            let load = sandbox.load(source: source, chunkName: name, budget: budget)
            guard load.outcome == .ok else { return load }
            return sandbox.decide(input: Self.input([Self.node("a", free: 1)], want: 1), seed: 1, budget: budget)
        }
        #expect(decision.outcome == .ok, "\(decision.message)")
        #expect(decision.instructions >= atLeast, "\(name) cost \(decision.instructions) instructions")
    }
}
