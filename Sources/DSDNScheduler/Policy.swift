import DSDNCore
import LuaSandbox

/// A policy parameter value: numbers, booleans or strings only.
public enum ParameterValue: Hashable, Sendable, CustomStringConvertible {
    /// A number (Lua integer or float, kept as written).
    case number(LuaValue)
    /// A boolean.
    case bool(Bool)
    /// A string.
    case string(String)

    var luaValue: LuaValue {
        switch self {
        case let .number(value): value
        case let .bool(flag): .bool(flag)
        case let .string(text): .string(text)
        }
    }

    /// As an operator would write it.
    public var description: String {
        switch self {
        case let .number(.integer(value)): "\(value)"
        case let .number(.number(value)): "\(value)"
        case .number: "?"
        case let .bool(flag): "\(flag)"
        case let .string(text): text.debugDescription
        }
    }

    /// Parses an operator's `--param` value: `true`/`false`, an integer, a number, else a string.
    public init(parsing text: String) {
        if text == "true" {
            self = .bool(true)
        } else if text == "false" {
            self = .bool(false)
        } else if let integer = Int64(text) {
            self = .number(.integer(integer))
        } else if let number = Double(text), number.isFinite {
            self = .number(.number(number))
        } else {
            self = .string(text)
        }
    }

    /// An integer value (a Lua integer).
    public static func integer(_ value: Int64) -> ParameterValue { .number(.integer(value)) }

    /// A number value (a Lua float); `nil` for infinities and NaN.
    public static func float(_ value: Double) -> ParameterValue? { value.isFinite ? .number(.number(value)) : nil }

    /// Parses an operator's override `name=value` (`place --param`): the name before the
    /// first `=`, the value read by `init(parsing:)`. Overrides given as JSON (the preview's `params`) map
    /// their typed values directly, without this text form.
    public static func override(parsing text: String) throws(ParameterOverrideError) -> (name: String, value: ParameterValue) {
        guard let equals = text.firstIndex(of: "=") else { throw ParameterOverrideError(text: text) }
        return (String(text[..<equals]), ParameterValue(parsing: String(text[text.index(after: equals)...])))
    }
}

/// An override that is not `name=value`.
public struct ParameterOverrideError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text given.
    public var text: String

    /// `expects name=value, got "…"`.
    public var description: String { "expects name=value, got \(text.debugDescription)" }
}

/// Why a policy cannot be used: one line an operator can act on.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class: a sandbox outcome, or `invalid_result` for a bad declaration.
    public var outcome: SandboxOutcome
    /// What is wrong, naming the policy (or file) and where.
    public var message: String
    /// Instructions used before the failure (0 when it did not come from running Lua).
    public var instructions: UInt64 = 0
    /// Peak memory before the failure.
    public var peakMemory: UInt64 = 0

    /// Creates an error.
    public init(_ outcome: SandboxOutcome, _ message: String, instructions: UInt64 = 0, peakMemory: UInt64 = 0) {
        self.outcome = outcome
        self.message = message
        self.instructions = instructions
        self.peakMemory = peakMemory
    }

    /// `outcome: message`.
    public var description: String { "\(outcome.rawValue): \(message)" }
}

/// A compiled, validated policy declaration (API level 1, docs/policies.md) and its source.
public struct Policy: Hashable, Sendable {
    /// The API levels this host implements: 1 (every hook per node and chunk) and 2 (filter and score
    /// once per snapshot, admit and select per chunk).
    public static let apiLevels: ClosedRange<Int64> = 1...2
    /// The longest policy source, in bytes. Compiling is work the budget cannot see while it happens.
    public static let maxSourceBytes = 1 << 20
    /// The most bundled examples a policy may carry.
    public static let maxExamples = 256
    /// The most work `policy check` spends on one policy's examples, in instructions: every run's top
    /// level and decision, plus its compilation (a sixteenth of an instruction per source byte).
    public static let maxExampleWork: UInt64 = 250_000_000

    /// The one-line refusal of a source over ``maxSourceBytes``.
    public static func oversizedSource(_ bytes: Int, file: String) -> String {
        "\(file): the source is \(bytes) bytes; a policy may be at most \(maxSourceBytes) bytes (1 MiB)"
    }

    /// The declared name.
    public var name: String
    /// The declared version.
    public var version: UInt32
    /// The one-line description.
    public var description: String
    /// Parameters with their defaults, sorted by name.
    public var parameters: [(name: String, value: ParameterValue)]
    /// The budget of one decision.
    public var budget: SandboxBudget
    /// The declared API level (1 or 2).
    public var apiLevel: Int64 = 1
    /// Whether the policy defines `filter` and `select` (`score` is required).
    public var hasFilter: Bool, hasSelect: Bool
    /// Whether it defines `admit` (API level 2).
    public var hasAdmit = false
    /// The bundled examples.
    public var examples: [PolicyExample]
    /// The source text.
    public var source: String
    /// SHA-256 of the source's UTF-8 bytes: the policy's identity together with name and version.
    public var sourceHash: Hash256
    /// Instructions and peak memory of loading the top level.
    public var loadInstructions: UInt64, loadPeakMemory: UInt64

    /// Equality by identity and declared content.
    public static func == (lhs: Policy, rhs: Policy) -> Bool {
        lhs.sourceHash == rhs.sourceHash && lhs.name == rhs.name && lhs.version == rhs.version
    }

    /// Hashes the identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(sourceHash) }

    /// `name@version`.
    public var label: String { "\(name)@\(version)" }

    /// Compiles `source` in a fresh sandbox, runs its top level and validates the declaration.
    /// `fileName` names the chunk in error messages.
    public static func load(source: String, fileName: String) throws(PolicyError) -> Policy {
        try PolicySandbox.withLargeStack { () -> Result<Policy, PolicyError> in
            Result { () throws(PolicyError) in try load(source: source, fileName: fileName, budget: .default) }
        }.get()
    }

    /// Loads with an explicit top-level budget. The load's costs end up in the policy, or in the error.
    /// Must run on a large-stack thread.
    static func load(source: String, fileName: String, budget: SandboxBudget) throws(PolicyError) -> Policy {
        guard source.utf8.count <= maxSourceBytes else {
            throw PolicyError(.invalidResult, oversizedSource(source.utf8.count, file: fileName))
        }
        // Lua positions read "name.lua:LINE:"; messages name the file as the operator gave it.
        let chunkName = fileName.split(separator: "/").last.map(String.init) ?? fileName
        let evaluation: SandboxEvaluation
        do {
            evaluation = try PolicySandbox().load(source: source, chunkName: chunkName, budget: budget)
        } catch {
            evaluation = SandboxEvaluation(outcome: .memoryBudget, value: nil, message: error.reason, instructions: 0, peakMemory: 0)
        }
        guard evaluation.outcome == .ok, let declaration = evaluation.value else {
            throw PolicyError(
                evaluation.outcome, "\(fileName): \(evaluation.message)", instructions: evaluation.instructions,
                peakMemory: evaluation.peakMemory)
        }
        var policy: Policy
        do {
            policy = try parse(declaration, source: source, file: fileName)
        } catch {
            var located = error
            located.instructions = evaluation.instructions
            located.peakMemory = evaluation.peakMemory
            throw located
        }
        policy.loadInstructions = evaluation.instructions
        policy.loadPeakMemory = evaluation.peakMemory
        return policy
    }

    private static func parse(_ table: LuaValue, source: String, file: String) throws(PolicyError) -> Policy {
        func invalid(_ message: String) -> PolicyError { PolicyError(.invalidResult, "\(file): \(message)") }
        guard let fields = table.mapEntries else { throw invalid("the policy file must return a table") }
        let known = ["admit", "api", "budget", "description", "examples", "filter", "name", "params", "score", "select", "version"]
        for field in fields {
            guard let key = field.key.stringValue, known.contains(key) else {
                throw invalid(
                    "unknown declaration field \(field.key.stringValue ?? "(\(field.key.typeName) key)") (known: \(known.joined(separator: ", ")))"
                )
            }
        }
        guard let name = table["name"].stringValue else { throw invalid("missing name (a string)") }
        do {
            try Validation.identifier(name, field: "name")
        } catch {
            throw invalid(error.message)
        }
        guard let version = table["version"].integerValue, version >= 1, version <= Int64(UInt32.max) else {
            throw invalid("\(name): version must be an integer from 1 to \(UInt32.max), got \(describe(table["version"]))")
        }
        guard let api = table["api"].integerValue, apiLevels.contains(api) else {
            throw invalid("\(name): api must be 1 or 2 (the API levels this coordinator implements)")
        }
        guard table["score"] == .function else { throw invalid("\(name): missing score hook (a function)") }
        for hook in ["filter", "select", "admit"] where table[hook] != .nil && table[hook] != .function {
            throw invalid("\(name): \(hook) must be a function, got \(table[hook].typeName)")
        }
        if api == 1 && table["admit"] != .nil { throw invalid("\(name): admit is a hook of API level 2 (declare api = 2)") }
        var parameters: [(name: String, value: ParameterValue)] = []
        switch table["params"] {
        case .nil: break
        case let value where value.mapEntries != nil && value.arrayValue?.isEmpty != false:
            for entry in value.mapEntries ?? [] {
                guard let key = entry.key.stringValue, (try? Validation.identifier(key, field: "parameter")) != nil else {
                    throw invalid("\(name): parameter names must be identifiers (printable ASCII, no spaces), got \(describe(entry.key))")
                }
                switch entry.value {
                case let .number(value) where !value.isFinite: throw invalid("\(name): parameter \(key) must be finite")
                case .integer, .number: parameters.append((key, .number(entry.value)))
                case let .bool(flag): parameters.append((key, .bool(flag)))
                case let .string(text): parameters.append((key, .string(text)))
                default: throw invalid("\(name): parameter \(key) must be a number, boolean or string, got \(entry.value.typeName)")
                }
            }
        default: throw invalid("\(name): params must be a table of name = number, boolean or string")
        }
        var budget = SandboxBudget.default
        if table["budget"] != .nil {
            guard let entries = table["budget"].mapEntries else {
                throw invalid("\(name): budget must be a table { instructions = N, memory = BYTES }")
            }
            for entry in entries {
                let key = entry.key.stringValue ?? "?"
                guard let value = entry.value.integerValue, case .integer = entry.value else {
                    throw invalid("\(name): budget.\(key) must be an integer, got \(describe(entry.value))")
                }
                switch key {
                case "instructions":
                    guard (SandboxBudget.minInstructions...SandboxBudget.maxInstructions).contains(UInt64(clamping: value)) else {
                        throw invalid(
                            "\(name): budget.instructions must be from \(SandboxBudget.minInstructions) to \(SandboxBudget.maxInstructions), got \(value)"
                        )
                    }
                    budget.instructions = UInt64(value)
                case "memory":
                    guard (SandboxBudget.minMemory...SandboxBudget.maxMemory).contains(UInt64(clamping: value)) else {
                        throw invalid(
                            "\(name): budget.memory must be from \(SandboxBudget.minMemory) to \(SandboxBudget.maxMemory) bytes, got \(value)"
                        )
                    }
                    budget.memory = UInt64(value)
                default:
                    throw invalid("\(name): unknown budget field \(key) (known: instructions, memory)")
                }
            }
        }
        if table["description"] != .nil && table["description"].stringValue == nil {
            throw invalid("\(name): description must be a string, got \(table["description"].typeName)")
        }
        var examples: [PolicyExample] = []
        if table["examples"] != .nil {
            guard let values = table["examples"].arrayValue else { throw invalid("\(name): examples must be an array") }
            guard values.count <= maxExamples else {
                throw invalid("\(name): \(values.count) examples; a policy may carry at most \(maxExamples)")
            }
            for (index, value) in values.enumerated() { examples.append(try PolicyExample(value, index: index, policy: name, file: file)) }
        }
        return Policy(
            name: name, version: UInt32(version), description: table["description"].stringValue ?? "",
            parameters: parameters, budget: budget, apiLevel: api, hasFilter: table["filter"] == .function,
            hasSelect: table["select"] == .function, hasAdmit: table["admit"] == .function, examples: examples, source: source,
            sourceHash: sha256(Array(source.utf8)), loadInstructions: 0, loadPeakMemory: 0)
    }

    /// The parameters with `overrides` applied. An unknown name, or a value of another kind than the
    /// default (number, boolean, string), is refused.
    public func parameters(overriding overrides: [(String, ParameterValue)]) throws(PolicyError) -> [(name: String, value: ParameterValue)]
    {
        var merged = parameters
        for (key, value) in overrides {
            guard let index = merged.firstIndex(where: { $0.name == key }) else {
                let known = parameters.map(\.name).joined(separator: ", ")
                throw PolicyError(.invalidResult, "\(label): unknown parameter \(key) (known: \(known.isEmpty ? "none" : known))")
            }
            guard merged[index].value.kind == value.kind else {
                throw PolicyError(
                    .invalidResult, "\(label): parameter \(key) is a \(merged[index].value.kind), got a \(value.kind) (\(value))")
            }
            merged[index].value = value
        }
        return merged
    }
}

/// A value as an operator reads it in a message.
func describe(_ value: LuaValue) -> String {
    switch value {
    case let .integer(number): "\(number)"
    case let .number(number): "\(number)"
    case let .string(text): text.debugDescription
    case let .bool(flag): "\(flag)"
    default: value.typeName
    }
}

extension ParameterValue {
    /// `number`, `boolean` or `string`.
    var kind: String {
        switch self {
        case .number: "number"
        case .bool: "boolean"
        case .string: "string"
        }
    }
}
