import DSDNCore
import LuaSandbox
import Synchronization

extension ParameterValue {
    /// A registry value as the sandbox sees it.
    public init(_ value: PolicyParameterValue) {
        switch value {
        case let .integer(number): self = .number(.integer(number))
        case let .number(bits): self = .number(.number(Double(bitPattern: bits)))
        case let .boolean(flag): self = .bool(flag)
        case let .string(text): self = .string(text)
        }
    }

    /// The registry's form of this value; `nil` for a value the registry cannot hold (not finite).
    public var registryValue: PolicyParameterValue? {
        switch self {
        case let .number(.integer(number)): .integer(number)
        case let .number(.number(number)): PolicyParameterValue.number(number)
        case .number: nil
        case let .bool(flag): .boolean(flag)
        case let .string(text): .string(text)
        }
    }
}

extension Policy {
    /// The `PolicyPublished` release of this policy: its source and what its declaration says.
    public var release: PolicyRelease {
        PolicyRelease(
            name: name, version: version, apiLevel: UInt8(clamping: apiLevel), source: Array(source.utf8),
            parameters: parameters.compactMap { parameter in
                parameter.value.registryValue.map { PolicyParameter(name: parameter.name, value: $0) }
            }, instructionBudget: budget.instructions, memoryBudget: budget.memory)
    }

    /// Whether the source declares exactly what `release` published; the difference in one line if not.
    public func mismatch(with release: PolicyRelease) -> String? {
        let own = self.release
        if own.name != release.name || own.version != release.version {
            return "published \(release.label) declares \(label) in its source"
        }
        if own.apiLevel != release.apiLevel {
            return "published \(release.label) says API level \(release.apiLevel), its source declares \(own.apiLevel)"
        }
        if own.instructionBudget != release.instructionBudget || own.memoryBudget != release.memoryBudget {
            return
                "published \(release.label) says a budget of \(release.instructionBudget) instructions and \(release.memoryBudget) bytes, its source declares \(own.instructionBudget) and \(own.memoryBudget)"
        }
        let published = release.parameters.sorted { utf8Precedes($0.name, $1.name) }
        let declared = own.parameters.sorted { utf8Precedes($0.name, $1.name) }
        if published != declared {
            func show(_ list: [PolicyParameter]) -> String {
                list.isEmpty ? "none" : list.map { "\($0.name)=\($0.value)" }.joined(separator: ", ")
            }
            return "published \(release.label) says parameters \(show(published)), its source declares \(show(declared))"
        }
        return nil
    }
}

/// A published version ready to decide: compiled, checked against its release, with the values in
/// force as overrides and the digest placements record.
public struct ResolvedPolicy: Sendable {
    /// The compiled policy.
    public var policy: Policy
    /// The values in force, as overrides of the declared defaults.
    public var overrides: [(String, ParameterValue)]
    /// The digest of those values (`PolicyVersionInfo.parametersDigest`).
    public var parametersDigest: Hash256

    /// `name@version`.
    public var label: String { policy.label }

    /// A policy with `overrides` of its declared values and the digest of the values in force.
    public init(policy: Policy, overrides: [(String, ParameterValue)], parametersDigest: Hash256) {
        self.policy = policy
        self.overrides = overrides
        self.parametersDigest = parametersDigest
    }

    /// A policy with its declared values, as publishing it would put them in force.
    public init(defaultsOf policy: Policy) {
        self.init(policy: policy, overrides: [], parametersDigest: PolicyVersionInfo.parametersDigest(of: policy.release.parameters))
    }
}

/// Published versions compiled once each. Compiling runs the source's top level, so call `resolve` on
/// an evaluation thread. A version whose source fails to load, or declares something other than what
/// was published, fails the same way in every coordinator and every time.
public final class PolicyLibrary: Sendable {
    private let compiled = Mutex<[Hash256: Result<Policy, PolicyError>]>([:])  // lookup only

    /// An empty library.
    public init() {}

    /// The version `info` describes, ready to decide.
    public func resolve(_ info: PolicyVersionInfo) throws(PolicyError) -> ResolvedPolicy {
        let release = info.release
        let cached = compiled.withLock { $0[release.sourceHash] }
        let result =
            cached
            ?? Result { () throws(PolicyError) in
                try Policy.load(source: String(decoding: release.source, as: UTF8.self), fileName: "\(release.label).lua")
            }
        if cached == nil { compiled.withLock { $0[release.sourceHash] = result } }
        let policy = try result.get()
        if let mismatch = policy.mismatch(with: release) { throw PolicyError(.invalidResult, mismatch) }
        return ResolvedPolicy(
            policy: policy, overrides: info.values.map { ($0.name, ParameterValue($0.value)) },
            parametersDigest: info.parametersDigest)
    }
}
