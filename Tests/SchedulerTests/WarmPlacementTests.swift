import DSDNCore
import DSDNScheduler
import DSDNTestSupport
import LuaSandbox
import Synchronization
import Testing

/// API level 2's warm sandbox: a snapshot prepared once, then many decisions in one Lua state. Every
/// decision must be what a fresh state would decide, whatever came before it: hostile policies below
/// try to carry state from one decision (or from the preparation) into the next, and each either fails
/// on a read-only table or gets exactly the fresh answer, costs included.
@Suite struct WarmPlacementTests {
    /// Eight nodes in three zones with distinct capacities, so scores and free space differ.
    static func inputs() throws -> DecisionInputs {
        var events: [Event] = []
        for index in 1...8 {
            events.append(Fixtures.register("n\(index)", zone: "z\(index % 3)", capacity: UInt64(index) << 30))
        }
        return DecisionInputs(state: try Fixtures.machine(events).state)
    }

    /// Chunks of different sizes and holders; the first comes back at the end.
    static let chunks: [ChunkRequest] = [
        ChunkRequest(hash: Fixtures.hash(1), sizeBytes: 1 << 20, replicationFactor: 3),
        ChunkRequest(hash: Fixtures.hash(2), sizeBytes: 3 << 30, replicationFactor: 2, holders: ["n8"]),
        ChunkRequest(hash: Fixtures.hash(3), sizeBytes: 5 << 30, replicationFactor: 3),
        ChunkRequest(hash: Fixtures.hash(1), sizeBytes: 1 << 20, replicationFactor: 3),
    ]

    /// A level-2 policy: score by capacity; `body` adds hooks or replaces them.
    static func policy(_ body: String, filter: String = "") -> String {
        """
        local leak = 0
        local memo = {}
        return {
          name = "warm-probe", version = 1, api = 2,
          \(filter)
          score = function(node, ctx) return node.capacity, { capacity = node.capacity } end,
          \(body)
        }
        """
    }

    /// What must hold of a decision and of the same decision in a fresh state.
    static func same(_ warm: PlacementDecision, _ fresh: PlacementDecision) -> Bool {
        warm.chosen == fresh.chosen && warm.digest == fresh.digest && warm.instructions == fresh.instructions
            && warm.peakMemory == fresh.peakMemory && warm.verdicts == fresh.verdicts && warm.seed == fresh.seed
    }

    /// Every chunk decided in one warm sandbox, and each again in a sandbox of its own.
    static func decideBoth(_ source: String) throws -> (
        warm: [Result<PlacementDecision, PolicyError>], fresh: [Result<PlacementDecision, PolicyError>]
    ) {
        let policy = try Policy.load(source: source, fileName: "warm-probe.lua")
        let inputs = try inputs()
        return PolicySandbox.withLargeStack {
            let warm = WarmPlacement(policy: policy, parameters: policy.parameters, inputs: inputs)
            let warmResults = chunks.map { warm.decide($0, explain: true) }
            let freshResults = chunks.map {
                WarmPlacement(policy: policy, parameters: policy.parameters, inputs: inputs).decide($0, explain: true)
            }
            return (warmResults, freshResults)
        }
    }

    /// Attempts to carry state between decisions through what a policy owns: each decision must equal
    /// the fresh one (the leak would change the choice, its costs, or both).
    @Test(arguments: [
        // a global counter
        "admit = function(node, ctx) counter = (counter or 0) + 1; return counter <= 2 end,",
        // an upvalue of the top level
        "admit = function(node, ctx) leak = leak + 1; return leak % 2 == 1 end,",
        // a table upvalue used as a memo of nodes already chosen
        "admit = function(node, ctx) if memo[node.id] then return false, 'seen' end; memo[node.id] = true; return true end,",
        // globals written through _ENV itself, and read back
        "admit = function(node, ctx) local env = _ENV; env.hits = (env.hits or 0) + 1; return hits == 1 end,",
        // a global holding the previous decision's strings
        "admit = function(node, ctx) local seen = last ~= nil; last = ctx.chunk.hash; return not seen end,",
        // the random generator's state
        "admit = function(node, ctx) return math.random(1, 3) ~= 1 end,",
        // strings left for the next decision to find interned, and a grown string table
        "admit = function(node, ctx) local t = {}; for i = 1, 3000 do t[i] = 'key-' .. i .. ctx.chunk.hash end; return true end,",
        // _ENV itself reassigned by a hook: the next decision's top level must not run in it
        """
        select = function(ctx)
          local chosen = {}
          for node in ctx.candidates() do if #chosen < ctx.want and previous == nil then chosen[#chosen + 1] = node.id end end
          _ENV = { previous = ctx.chunk.hash }
          return chosen
        end,
        """,
        // _ENV set to nil at the end of select: later decisions still read their globals
        """
        select = function(ctx)
          local chosen = {}
          for node in ctx.candidates() do if #chosen < ctx.want and string.len(node.id) > 0 then chosen[#chosen + 1] = node.id end end
          _ENV = nil
          return chosen
        end,
        """,
        // a select that remembers its picks across decisions in a global
        """
        select = function(ctx)
          picked = picked or {}
          local chosen = {}
          for node in ctx.candidates() do
            if #chosen >= ctx.want then break end
            if not picked[node.id] then picked[node.id] = true; chosen[#chosen + 1] = node.id end
          end
          return chosen
        end,
        """,
    ])
    func stateOwnedByThePolicyDoesNotSurviveADecision(body: String) throws {
        let (warm, fresh) = try Self.decideBoth(Self.policy(body))
        #expect(warm.count == fresh.count)
        for (offset, (warmResult, freshResult)) in zip(warm, fresh).enumerated() {
            let warmDecision = try warmResult.get()
            let freshDecision = try freshResult.get()
            #expect(
                Self.same(warmDecision, freshDecision), "decision \(offset): warm \(warmDecision.chosen) vs fresh \(freshDecision.chosen)")
        }
        // The chunk decided first and last gets the same decision both times.
        #expect(try warm[0].get().digest == warm[3].get().digest)
    }

    /// Writes into what the host shares (nodes, ctx.params, ctx.zones, ctx.nodes) fail as runtime errors,
    /// every time, in admit as in filter.
    @Test(arguments: [
        ("admit = function(node, ctx) node.capacity = 0; return true end,", "admit"),
        ("admit = function(node, ctx) ctx.params.extra = 1; return true end,", "admit"),
        ("admit = function(node, ctx) ctx.zones[1].used = 0; return true end,", "admit"),
        ("admit = function(node, ctx) ctx.nodes[1] = node; return true end,", "admit"),
        ("admit = function(node, ctx) table.insert(ctx.nodes, node); return true end,", "admit"),
        ("admit = function(node, ctx) table.sort(ctx.nodes, function(a, b) return a.id > b.id end); return true end,", "admit"),
        ("admit = function(node, ctx) table.remove(ctx.zones); return true end,", "admit"),
        ("admit = function(node, ctx) math.hits = 1; return true end,", "admit"),
        ("admit = function(node, ctx) string.mark = 'x'; return true end,", "admit"),
        ("admit = function(node, ctx) table.sort = nil; return true end,", "admit"),
        ("filter = function(node, ctx) math.pi = 3; return true end,", "filter"),
    ])
    func writesToSharedTablesFail(body: String, hook: String) throws {
        let (warm, fresh) = try Self.decideBoth(Self.policy(body))
        for result in warm + fresh {
            guard case let .failure(error) = result else {
                Issue.record("a write to a shared table succeeded")
                continue
            }
            #expect(error.outcome == .runtimeError)
            #expect(error.message.contains("read-only"), "\(error.message)")
            #expect(error.message.contains("in \(hook)"), "\(error.message)")
        }
    }

    /// What the preparation leaves in its own globals and upvalues is not there for the decisions.
    @Test func thePreparationLeavesNothingForTheDecisions() throws {
        let source = Self.policy(
            "admit = function(node, ctx) return prepared == nil and leak == 0 and memo.x == nil, 'saw the preparation' end,",
            filter: "filter = function(node, ctx) prepared = true; leak = leak + 1; memo.x = 1; return true end,")
        let (warm, _) = try Self.decideBoth(source)
        for result in warm {
            let decision = try result.get()
            #expect(!decision.chosen.isEmpty)
            #expect(!decision.verdicts.contains { $0.reason == "saw the preparation" })
        }
    }

    /// Each decision's objects are freed after it: the state holds no more after 300 decisions than
    /// after the first (the allocating policy makes about 300 KB of strings and tables per decision).
    @Test func theWarmStateDoesNotGrow() throws {
        let source = Self.policy(
            "admit = function(node, ctx) local t = {}; for i = 1, 2000 do t[i] = 'key-' .. i .. node.id end; return true end,")
        let policy = try Policy.load(source: source, fileName: "warm-probe.lua")
        let inputs = try Self.inputs()
        let (first, last) = PolicySandbox.withLargeStack { () -> (UInt64, UInt64) in
            let warm = WarmPlacement(policy: policy, parameters: policy.parameters, inputs: inputs)
            _ = warm.decide(Self.chunks[0], explain: false)
            let first = warm.liveBytes
            for round in 0..<300 { _ = warm.decide(Self.chunks[round % Self.chunks.count], explain: round % 2 == 0) }
            return (first, warm.liveBytes)
        }
        #expect(first > 0)
        #expect(last <= first + 64 * 1024, "the warm state grew from \(first) to \(last) bytes")
    }

    /// What the preparation assigns to _ENV stays with the preparation's own closures.
    @Test func thePreparationsEnvironmentIsNotTheDecisions() throws {
        let source = Self.policy(
            "admit = function(node, ctx) return from_filter == nil, 'saw filter' end,",
            filter: "filter = function(node, ctx) _ENV = { from_filter = node.id }; return true end,")
        let (warm, fresh) = try Self.decideBoth(source)
        for (warmResult, freshResult) in zip(warm, fresh) {
            let decision = try warmResult.get()
            #expect(!decision.chosen.isEmpty)
            #expect(Self.same(decision, try freshResult.get()))
        }
    }

    /// A select whose result is not a sequence is refused, as at level 1; a top level that returns
    /// other hooks at decision time than at load is refused.
    @Test(arguments: [
        ("select = function(ctx) local it = ctx.candidates(); return { x = it().id } end,", "not a sequence"),
        (
            "select = function(ctx) local ids = {}; for n in ctx.candidates() do ids[#ids + 1] = n.id end; return { ids[1], nil, ids[2] } end,",
            "not a sequence"
        ),
        ("select = function(ctx) return ctx.nodes end,", "not a sequence"),
    ])
    func selectMustReturnASequence(body: String, message: String) throws {
        let (warm, _) = try Self.decideBoth(Self.policy(body))
        for result in warm {
            guard case let .failure(error) = result else {
                Issue.record("a select result that is not a sequence was accepted")
                continue
            }
            #expect(error.outcome == .invalidResult)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func aDeclarationThatChangesAtDecisionTimeIsRefused() throws {
        // At load the string library is writable; in a decision it is read-only: the top level can
        // tell, and returns a select only then.
        let source = """
            local deciding = not pcall(function() string.probe = 1 end)
            return {
              name = "shifty", version = 1, api = 2,
              score = function(node, ctx) return 1 end,
              select = deciding and function(ctx) return {} end or nil,
            }
            """
        let (warm, _) = try Self.decideBoth(source)
        for result in warm {
            guard case let .failure(error) = result else {
                Issue.record("a declaration that changed at decision time was accepted")
                continue
            }
            #expect(error.outcome == .invalidResult)
            #expect(error.message.contains("the same declaration every time"), "\(error.message)")
        }
    }

    /// A decision that breaks its memory budget (the collector may have run an emergency collection
    /// then) leaves nothing behind: the next decisions cost what they cost in a fresh state.
    @Test func aMemoryBreachLeavesNothingForTheNextDecision() throws {
        let source = Self.policy(
            """
            admit = function(node, ctx)
              if ctx.chunk.size == 3 << 30 then
                local t = {}
                for i = 1, 10000000 do t[i] = 'grow-' .. i end
              end
              local s = {}
              for i = 1, 200 do s[i] = node.id .. ':' .. i end
              return true
            end,
            """)
        let (warm, fresh) = try Self.decideBoth(source)
        guard case let .failure(error) = warm[1] else {
            Issue.record("the 3 GiB chunk's decision did not break the memory budget")
            return
        }
        #expect(error.outcome == .memoryBudget)
        for index in [0, 2, 3] {
            #expect(Self.same(try warm[index].get(), try fresh[index].get()), "decision \(index)")
        }
    }

    /// A host refusal caught by the policy (admit's bad answer, raised inside ctx.candidates() under
    /// pcall) is final: the next instruction fails too, so the decision ends instead of running on.
    @Test func aCaughtRefusalEndsTheDecision() throws {
        let source = """
            return {
              name = "catcher", version = 1, api = 2,
              score = function(node, ctx) return node.capacity end,
              admit = function(node, ctx) return 1 end,
              select = function(ctx)
                local function burn() for i = 1, 1000 do end end
                pcall(function() for node in ctx.candidates() do end end)
                while true do pcall(burn) end
              end,
            }
            """
        let (warm, _) = try Self.decideBoth(source)
        for result in warm {
            guard case let .failure(error) = result else {
                Issue.record("the decision went on after its refusal")
                continue
            }
            #expect(error.outcome == .invalidResult)
            #expect(error.message.contains("admit must return a boolean"), "\(error.message)")
        }
    }

    /// An error raised by select after it asked for candidates is reported in select, not in admit.
    @Test func selectsOwnErrorsAreReportedInSelect() throws {
        let source = Self.policy(
            "select = function(ctx) local next = ctx.candidates(); next(); error('raised by select') end,")
        let (warm, _) = try Self.decideBoth(source)
        let error = try #require(warm.first.flatMap { if case let .failure(error) = $0 { error } else { nil } })
        #expect(error.outcome == .runtimeError)
        #expect(error.message.contains("in select: "), "\(error.message)")
    }

    /// A batch stops between decisions when asked to (a coordinator that is stopping).
    @Test func aBatchStopsBetweenDecisions() throws {
        let policy = try Policy.load(source: Self.policy(""), fileName: "warm-probe.lua")
        let inputs = try Self.inputs()
        let asked = Mutex(0)
        let results = try Scheduler.place(
            Self.chunks, inputs: inputs, policy: policy, explain: false,
            shouldStop: {
                asked.withLock { count in
                    count += 1
                    return count > 2
                }
            })
        #expect(results.count == 2)
        #expect(results.allSatisfy { (try? $0.get()) != nil })
    }

    /// Views read like the tables they show: length, rawlen, ipairs and spairs.
    @Test func viewsReadLikeTables() throws {
        let source = Self.policy(
            """
            admit = function(node, ctx)
              local fields = 0
              for key in spairs(node) do fields = fields + 1 end
              local walked = 0
              for _, other in ipairs(ctx.nodes) do walked = walked + 1 end
              local ok = #ctx.nodes == 8 and rawlen(ctx.nodes) == 8 and walked == 8 and fields == 12
                and #ctx.zones == 3 and ctx.zones[1].id == "z0" and type(node) == "table"
              return ok, "views misread: " .. #ctx.nodes .. " " .. rawlen(ctx.nodes) .. " " .. walked .. " " .. fields
            end,
            """)
        let (warm, _) = try Self.decideBoth(source)
        let decision = try warm[0].get()
        #expect(decision.chosen == ["n8", "n7", "n6"])
        #expect(!decision.verdicts.contains { $0.reason?.hasPrefix("views misread") == true })
    }

    /// The host walks the ranking: admit is asked about the best nodes only until `want` are found, and
    /// the explanation asks the rest afterwards. Both give the same choice and digest.
    @Test func explanationDoesNotChangeTheChoice() throws {
        let source = Self.policy(
            "admit = function(node, ctx) if node.free < ctx.chunk.size then return false, 'too small' end; return true end,")
        let policy = try Policy.load(source: source, fileName: "warm-probe.lua")
        let inputs = try Self.inputs()
        let (plain, explained) = PolicySandbox.withLargeStack {
            let warm = WarmPlacement(policy: policy, parameters: policy.parameters, inputs: inputs)
            return (Self.chunks.map { warm.decide($0, explain: false) }, Self.chunks.map { warm.decide($0, explain: true) })
        }
        for (quick, full) in zip(plain, explained) {
            let quick = try quick.get()
            let full = try full.get()
            #expect(quick.chosen == full.chosen)
            #expect(quick.digest == full.digest)
            #expect(quick.verdicts.isEmpty)
            #expect(full.verdicts.count == 8)
            #expect(quick.instructions <= full.instructions)
        }
        // The 5 GiB chunk: n1 to n4 are too small, n8 holds none of it; n8, n7, n6 chosen.
        let big = try explained[2].get()
        #expect(big.chosen == ["n8", "n7", "n6"])
        #expect(big.verdicts.first { $0.nodeID == "n4" }?.reason == "too small")
        #expect(big.verdicts.first { $0.nodeID == "n5" }?.rank == 4)
        // The chunk held by n8 (one more replica wanted): n8 is passed over as a holder, n7 chosen.
        let held = try explained[1].get()
        #expect(held.chosen == ["n7"])
        #expect(held.verdicts.first { $0.nodeID == "n8" }?.reason == "already holds chunk")
    }
}
