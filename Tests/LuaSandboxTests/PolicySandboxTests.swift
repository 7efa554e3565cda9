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
}
