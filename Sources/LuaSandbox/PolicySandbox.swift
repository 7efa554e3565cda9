import CDSDNLua
import CDSDNSandbox
import Crypto

/// Budgets of one policy evaluation. Part of a policy version: outcomes depend on them, never on the
/// machine.
public struct SandboxBudget: Hashable, Sendable {
    /// The largest instruction budget a policy may ask for.
    public static let maxInstructions: UInt64 = 50_000_000
    /// The largest memory budget a policy may ask for.
    public static let maxMemory: UInt64 = 64 << 20
    /// The smallest instruction budget a policy may ask for.
    public static let minInstructions: UInt64 = 10_000
    /// The smallest memory budget a policy may ask for.
    public static let minMemory: UInt64 = 64 << 10
    /// The default budget.
    public static let `default` = SandboxBudget(instructions: 5_000_000, memory: 16 << 20)

    /// Lua VM instructions (counted in steps of 100) plus work charged for C library functions.
    public var instructions: UInt64
    /// Live bytes the policy may hold at once.
    public var memory: UInt64
    /// Bytes the policy may allocate in all (8 × `memory`).
    public var totalAllocation: UInt64 { memory * 8 }
    /// The largest single allocation, which caps one table part (`memory` / 4).
    public var largestAllocation: UInt64 { memory / 4 }
    /// The longest string a policy may create: 16 KiB in API level 1. Comparing, hashing or converting
    /// a string is work proportional to its length inside one VM instruction, so the cap bounds it.
    public static let longestString: UInt64 = 16 << 10

    /// Creates a budget, clamped to the host's maximums.
    public init(instructions: UInt64, memory: UInt64) {
        self.instructions = min(instructions, Self.maxInstructions)
        self.memory = min(memory, Self.maxMemory)
    }

    var limits: dsdn_limits {
        dsdn_limits(
            instructions: instructions, memory: memory, total_alloc: totalAllocation, max_alloc: largestAllocation,
            max_string: Self.longestString)
    }
}

/// How an evaluation ended, decided by the host's own bookkeeping.
public enum SandboxOutcome: String, Hashable, Sendable, CaseIterable {
    /// It completed and returned a value.
    case ok
    /// The source did not compile (including a binary chunk).
    case syntaxError = "syntax_error"
    /// The policy raised a Lua error.
    case runtimeError = "runtime_error"
    /// The instruction budget ran out.
    case instructionBudget = "instruction_budget"
    /// A memory budget ran out.
    case memoryBudget = "memory_budget"
    /// The policy returned something the host cannot accept.
    case invalidResult = "invalid_result"

    init(_ code: Int32) {
        switch code {
        case Int32(DSDN_OK.rawValue): self = .ok
        case Int32(DSDN_SYNTAX.rawValue): self = .syntaxError
        case Int32(DSDN_INSTRUCTIONS.rawValue): self = .instructionBudget
        case Int32(DSDN_MEMORY.rawValue): self = .memoryBudget
        case Int32(DSDN_INVALID.rawValue): self = .invalidResult
        default: self = .runtimeError
        }
    }
}

/// The result of one load or decision: what happened, what it cost, and the value or the message.
public struct SandboxEvaluation: Hashable, Sendable {
    /// How it ended.
    public var outcome: SandboxOutcome
    /// The returned value when `outcome == .ok`.
    public var value: LuaValue?
    /// The value's canonical transport bytes (maps sorted), for digests.
    public var valueBytes: [UInt8] = []
    /// The error message otherwise (with the hook and node where known).
    public var message: String
    /// Instructions used.
    public var instructions: UInt64
    /// Peak live bytes above the baseline.
    public var peakMemory: UInt64

    /// Creates an evaluation record.
    public init(outcome: SandboxOutcome, value: LuaValue?, message: String, instructions: UInt64, peakMemory: UInt64) {
        self.outcome = outcome
        self.value = value
        self.message = message
        self.instructions = instructions
        self.peakMemory = peakMemory
    }
}

/// One sandboxed Lua state holding one policy. Owns a C `dsdn_box`, freed in `deinit`.
///
/// Not thread-safe and deliberately not `Sendable`: use one per thread, and create a fresh one per
/// evaluation so nothing leaks from one decision into the next. Run it on a thread with a large stack
/// (`PolicySandbox.withLargeStack`).
public final class PolicySandbox {
    private let box: OpaquePointer

    /// Registers swift-crypto's SHA-256 with the C half (policies' `sha256`/`hash64`) once, at first use:
    /// the project has one SHA-256, the one `DSDNCore.sha256` uses.
    private static let sha256Registration: Void = {
        dsdn_set_sha256 { data, length, out in
            guard let out else { return }
            let digest = SHA256.hash(data: UnsafeRawBufferPointer(start: data, count: length))
            digest.withUnsafeBytes { bytes in
                for offset in 0..<min(32, bytes.count) { out[offset] = bytes[offset] }
            }
        }
    }()

    /// The string hash seed of every state that decides placements. Any fixed value makes table layouts
    /// a function of what the policy does; this one is part of the Lua build's identity, like its version.
    public static let productionHashSeed = UInt32(DSDN_HASH_SEED)

    /// The Lua release the sandbox was built against, such as `Lua 5.4.4`: instruction counts (and with
    /// them budget outcomes) can differ between releases, so placements record it.
    public static let luaRelease = String(cString: dsdn_lua_release())

    /// Creates a state with the deterministic library and the trusted driver loaded, hashing strings with
    /// `hashSeed` (another seed lays tables out differently: `policy check` runs examples under a second
    /// one to find policies that observe layouts).
    public init(hashSeed: UInt32 = PolicySandbox.productionHashSeed) throws(SandboxSetupError) {
        _ = Self.sha256Registration
        var failure: UnsafePointer<CChar>?
        guard let box = dsdn_box_new(hashSeed, &failure) else {
            throw SandboxSetupError(reason: failure.map { String(cString: $0) } ?? "cannot create a Lua state")
        }
        self.box = box
    }

    deinit { dsdn_box_free(box) }

    /// Compiles `source` in text mode and runs its top level under `budget`. On success `value` is the
    /// table the file returned (functions appear as `.function`), unless `exportDeclaration` is false
    /// (decisions, which need only the loaded policy).
    public func load(source: String, chunkName: String, budget: SandboxBudget, exportDeclaration: Bool = true) -> SandboxEvaluation {
        var limits = budget.limits
        let code = source.utf8CString.withUnsafeBufferPointer { buffer in
            dsdn_box_load(box, buffer.baseAddress, buffer.count - 1, "=" + chunkName, &limits, exportDeclaration ? 1 : 0)
        }
        return evaluation(code)
    }

    /// Runs one decision of the loaded policy on `input` (a map with `ctx` and `nodes`).
    public func decide(input: LuaValue, seed: Int64, budget: SandboxBudget) -> SandboxEvaluation {
        decide(encodedInput: LuaTransport.encode(input), seed: seed, budget: budget)
    }

    /// Runs one decision on input already in transport form (see `encode(_:)`).
    public func decide(encodedInput: [UInt8], seed: Int64, budget: SandboxBudget) -> SandboxEvaluation {
        var limits = budget.limits
        let code = encodedInput.withUnsafeBufferPointer { buffer in
            dsdn_box_decide(box, buffer.baseAddress, buffer.count, seed, &limits)
        }
        return evaluation(code)
    }

    /// API level 2: imports a snapshot (`ctx` with `params` and `zones`, and `nodes`) once, shown to the
    /// policy read-only, and runs its chunk-independent hooks on every node. On success `value` holds one
    /// verdict per node. The state is then warm for ``choose(encodedChunk:seed:budget:explain:)``.
    public func prepare(encodedSnapshot: [UInt8], seed: Int64, budget: SandboxBudget) -> SandboxEvaluation {
        var limits = budget.limits
        let code = encodedSnapshot.withUnsafeBufferPointer { buffer in
            dsdn_box_prepare(box, buffer.baseAddress, buffer.count, seed, &limits)
        }
        return evaluation(code)
    }

    /// API level 2: one decision against the prepared snapshot (`chunk` and `want`), in a fresh
    /// environment. `value` is `{chosen = ids}`, with `status` per node index when `explain` is set.
    public func choose(encodedChunk: [UInt8], seed: Int64, budget: SandboxBudget, explain: Bool) -> SandboxEvaluation {
        var limits = budget.limits
        let code = encodedChunk.withUnsafeBufferPointer { buffer in
            dsdn_box_choose(box, buffer.baseAddress, buffer.count, seed, &limits, explain ? 1 : 0)
        }
        return evaluation(code)
    }

    /// Seconds the last run spent in policy code (under its budget), for benchmarks only.
    public var lastRunSeconds: Double { Double(dsdn_box_run_nanoseconds(box)) / 1e9 }

    /// Bytes the Lua state holds now: a warm state's must not grow from one decision to the next.
    public var liveBytes: UInt64 { dsdn_box_live_bytes(box) }

    /// The transport encoding of a value, whose bytes are canonical (maps are sorted): it is also what
    /// decision digests hash.
    public static func encode(_ value: LuaValue) -> [UInt8] { LuaTransport.encode(value) }

    private func evaluation(_ code: Int32) -> SandboxEvaluation {
        var outcome = SandboxOutcome(code)
        var value: LuaValue?
        var valueBytes: [UInt8] = []
        var messageLength = 0
        let messagePointer = dsdn_box_message(box, &messageLength)
        // A policy's own text (error values, positions) may hold anything: it leaves as one printable line.
        var message = PrintableText.oneLine(
            messagePointer.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: messageLength), as: UTF8.self) } ?? "")
        if outcome == .ok {
            var length = 0
            if let bytes = dsdn_box_result(box, &length), length > 0 {
                let raw = UnsafeRawBufferPointer(start: bytes, count: length)
                value = LuaTransport.decode(raw)
                valueBytes = Array(raw)
            }
            if value == nil && length > 0 {
                outcome = .invalidResult
                message = "the result could not be read back"
            }
        }
        var evaluation = SandboxEvaluation(
            outcome: outcome, value: value, message: message, instructions: dsdn_box_instructions(box),
            peakMemory: dsdn_box_peak_memory(box))
        evaluation.valueBytes = valueBytes
        return evaluation
    }

    /// Runs `body` on a fresh thread with a 16 MiB stack and returns its result: Lua's C-level
    /// recursion needs more stack than some runtime threads provide.
    public static func withLargeStack<T>(_ body: () -> T) -> T {
        withoutActuallyEscaping(body) { escapable in
            var result: T?
            let job = StackJob { result = escapable() }
            let failed = dsdn_run_with_stack(
                16 << 20,
                { context in
                    // The context is the job passed below, alive until dsdn_run_with_stack returns.
                    guard let context else { return }
                    Unmanaged<StackJob>.fromOpaque(context).takeUnretainedValue().body()
                }, Unmanaged.passUnretained(job).toOpaque())
            // No thread could be started: run here rather than fail; the stack is usually enough.
            if failed != 0 { job.body() }
            // Either the thread or the fallback ran the job, which always sets the result.
            return result.unsafelyUnwrapped
        }
    }
}

private final class StackJob {
    let body: () -> Void
    init(body: @escaping () -> Void) { self.body = body }
}

/// A Lua state could not be created: out of memory, or a liblua5.4 whose internals the sandbox does not
/// recognise.
public struct SandboxSetupError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why, in one line.
    public var reason: String
    /// A one-line description.
    public var description: String { reason }
}
