import Crypto

/// A policy parameter's value. Its type is fixed by the default the version declares.
public enum PolicyParameterValue: Hashable, Sendable, CustomStringConvertible {
    /// A 64-bit integer (a Lua integer).
    case integer(Int64)
    /// A finite IEEE-754 double, kept as its bit pattern: the core compares and hashes it, never
    /// computes with it.
    case number(bitPattern: UInt64)
    /// A boolean.
    case boolean(Bool)
    /// A UTF-8 string of at most `Limits.maxParameterStringBytes` bytes.
    case string(String)

    /// A number value; `nil` for NaN and infinities.
    public static func number(_ value: Double) -> PolicyParameterValue? {
        value.isFinite ? .number(bitPattern: value.bitPattern) : nil
    }

    /// A number written in decimal as JSON writes numbers (`-1.5`, `2`, `1e-3`; no `+`, hex, leading or
    /// trailing point, or spaces); `nil` for any other text or a value that is not finite.
    public static func number(decimal text: String) -> PolicyParameterValue? {
        var bytes = text.utf8[...]
        func digits() -> Int {
            let count = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let leading = bytes.first
        let integer = digits()
        guard integer > 0, integer == 1 || leading != UInt8(ascii: "0") else { return nil }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() > 0 else { return nil }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return nil }
        }
        guard bytes.isEmpty, let value = Double(text) else { return nil }
        return number(value)
    }

    /// `integer`, `number`, `boolean` or `string`.
    public var typeName: String {
        switch self {
        case .integer: "integer"
        case .number: "number"
        case .boolean: "boolean"
        case .string: "string"
        }
    }

    /// The wire code of the type (docs/events.md, PolicyPublished).
    public var typeCode: UInt8 {
        switch self {
        case .integer: 0
        case .number: 1
        case .boolean: 2
        case .string: 3
        }
    }

    /// The value as a Double, for `.number` only.
    public var doubleValue: Double? {
        if case let .number(bits) = self { Double(bitPattern: bits) } else { nil }
    }

    /// As an operator writes it: `12`, `0.5`, `true`, `"text"`.
    public var description: String {
        switch self {
        case let .integer(value): "\(value)"
        case let .number(bits): "\(Double(bitPattern: bits))"
        case let .boolean(flag): "\(flag)"
        case let .string(text): text.debugDescription
        }
    }
}

/// A named parameter value: a declared default, or a value set later.
public struct PolicyParameter: Hashable, Sendable {
    /// The name (an identifier: printable ASCII without whitespace, 1 to 128 bytes).
    public var name: String
    /// The value.
    public var value: PolicyParameterValue

    /// Creates a parameter.
    public init(name: String, value: PolicyParameterValue) {
        self.name = name
        self.value = value
    }
}

/// What an activated version does.
public enum PolicyRole: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// It decides every placement.
    case placement = 0
    /// It runs beside the placement policy on the same inputs and decides nothing.
    case shadow = 1

    /// `placement` or `shadow`.
    public var description: String { self == .placement ? "placement" : "shadow" }

    /// Parses `placement` or `shadow`.
    public init?(name: String) {
        guard let role = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = role
    }
}

/// One version of a placement policy as published: the whole source and what its declaration says.
/// The core does not run Lua: it checks the fields and the hash, and keeps the bytes.
public struct PolicyRelease: Hashable, Sendable {
    /// The declared name.
    public var name: String
    /// The declared version (1 or more).
    public var version: UInt32
    /// The declared API level (1 or 2).
    public var apiLevel: UInt8
    /// The source, UTF-8.
    public var source: [UInt8]
    /// SHA-256 of `source`.
    public var sourceHash: Hash256
    /// The declared parameters with their defaults (each default fixes its parameter's type).
    public var parameters: [PolicyParameter]
    /// The declared instruction budget of one run.
    public var instructionBudget: UInt64
    /// The declared memory budget of one run, in bytes.
    public var memoryBudget: UInt64

    /// Creates a release; `sourceHash` defaults to the source's SHA-256.
    public init(
        name: String, version: UInt32, apiLevel: UInt8, source: [UInt8], sourceHash: Hash256? = nil,
        parameters: [PolicyParameter], instructionBudget: UInt64, memoryBudget: UInt64
    ) {
        self.name = name
        self.version = version
        self.apiLevel = apiLevel
        self.source = source
        self.sourceHash = sourceHash ?? sha256(source)
        self.parameters = parameters
        self.instructionBudget = instructionBudget
        self.memoryBudget = memoryBudget
    }

    /// `name@version`.
    public var label: String { "\(name)@\(version)" }
}

/// A published version as the state holds it: the release and the parameter values in force.
public struct PolicyVersionInfo: Hashable, Sendable {
    /// The release as published.
    public var release: PolicyRelease
    /// Every declared parameter with the value in force, sorted by name.
    public var values: [PolicyParameter]
    /// SHA-256 of the canonical encoding of `values` (docs/events.md, parameter digest).
    public var parametersDigest: Hash256
    /// How many `PolicyParamsSet` events changed the values.
    public var parameterSets: UInt32
}

/// A change of the registry, in the order applied.
public struct PolicyHistoryEntry: Hashable, Sendable {
    /// What happened.
    public enum Kind: UInt8, Hashable, Sendable, CustomStringConvertible {
        /// A version was published.
        case published = 0
        /// A version was activated (or the shadow cleared, version 0).
        case activated = 1
        /// A version's parameters were set.
        case parametersSet = 2

        /// `published`, `activated` or `params_set`.
        public var description: String {
            switch self {
            case .published: "published"
            case .activated: "activated"
            case .parametersSet: "params_set"
            }
        }
    }

    /// What happened.
    public var kind: Kind
    /// The policy name.
    public var name: String
    /// The version (0 for a cleared shadow).
    public var version: UInt32
    /// The role, for an activation.
    public var role: PolicyRole?
    /// The source hash (published) or the new parameter digest (parameters set).
    public var digest: Hash256?
    /// The DA height of the blob that carried it, when applied from the DA. Not in the checksum: the
    /// same events read from a file have no heights.
    public var height: UInt64?
}

/// An active version: which one, in which role.
public struct PolicyActivation: Hashable, Sendable {
    /// The policy name.
    public var name: String
    /// The version.
    public var version: UInt32

    /// Creates an activation.
    public init(name: String, version: UInt32) {
        self.name = name
        self.version = version
    }

    /// `name@version`.
    public var label: String { "\(name)@\(version)" }
}

/// The policy registry: every published version, what is active, and the history of changes. Part of
/// the state and of its checksum. Lookup dictionaries only; everything visible is sorted.
struct PolicyRegistry: Sendable, Equatable {
    struct Key: Hashable, Sendable {
        var name: String
        var version: UInt32
    }

    var versions: [Key: PolicyVersionInfo] = [:]  // lookup only; read out sorted by name bytes, version
    var placement: PolicyActivation?
    var shadow: PolicyActivation?
    var history: [PolicyHistoryEntry] = []

    var isEmpty: Bool { versions.isEmpty && placement == nil && shadow == nil && history.isEmpty }

    /// Every version, sorted by name (byte-wise), then version.
    func sortedVersions() -> [PolicyVersionInfo] {
        versions.values.sorted {
            $0.release.name == $1.release.name
                ? $0.release.version < $1.release.version : utf8Precedes($0.release.name, $1.release.name)
        }
    }

    // MARK: Applying (validation first; nothing changes before every check passed)

    /// `PolicyPublished`: a new version, or a no-op for the same bytes under the same name and version.
    /// Returns whether anything changed.
    mutating func publish(_ release: PolicyRelease, height: UInt64?) throws(ApplyError) -> Bool {
        try Validation.identifier(release.name, field: "policy name")
        guard release.version >= 1 else { throw ApplyError(.invalidField, "policy version must be 1 or more, got 0") }
        guard release.apiLevel == 1 || release.apiLevel == 2 else {
            throw ApplyError(.invalidField, "api_level must be 1 or 2, got \(release.apiLevel)")
        }
        guard release.source.count <= Limits.maxPolicySourceBytes else {
            throw ApplyError(
                .invalidField, "policy source is \(release.source.count) bytes, over the limit of \(Limits.maxPolicySourceBytes)")
        }
        guard String(validating: release.source, as: UTF8.self) != nil else {
            throw ApplyError(.invalidField, "policy source of \(release.label) is not valid UTF-8")
        }
        guard sha256(release.source) == release.sourceHash else {
            throw ApplyError(.invalidField, "source_hash of \(release.label) does not match the SHA-256 of its source")
        }
        try Self.checkDeclared(release.parameters, of: release.label)
        guard Limits.policyInstructionBudget.contains(release.instructionBudget) else {
            throw ApplyError(
                .invalidField,
                "instruction budget of \(release.label) must be from \(Limits.policyInstructionBudget.lowerBound) to \(Limits.policyInstructionBudget.upperBound), got \(release.instructionBudget)"
            )
        }
        guard Limits.policyMemoryBudget.contains(release.memoryBudget) else {
            throw ApplyError(
                .invalidField,
                "memory budget of \(release.label) must be from \(Limits.policyMemoryBudget.lowerBound) to \(Limits.policyMemoryBudget.upperBound) bytes, got \(release.memoryBudget)"
            )
        }
        let key = Key(name: release.name, version: release.version)
        var canonical = release
        canonical.parameters.sort { utf8Precedes($0.name, $1.name) }
        if let existing = versions[key] {
            guard existing.release == canonical else {
                throw ApplyError(.conflict, "conflict: policy \(release.label) is already published with other content")
            }
            return false
        }
        versions[key] = PolicyVersionInfo(
            release: canonical, values: canonical.parameters,
            parametersDigest: PolicyVersionInfo.parametersDigest(of: canonical.parameters),
            parameterSets: 0)
        history.append(
            PolicyHistoryEntry(kind: .published, name: release.name, version: release.version, digest: release.sourceHash, height: height))
        return true
    }

    /// `PolicyActivated`. Version 0 with role `shadow` clears the shadow.
    mutating func activate(name: String, version: UInt32, role: PolicyRole, height: UInt64?) throws(ApplyError) -> Bool {
        try Validation.identifier(name, field: "policy name")
        let activation: PolicyActivation?
        if version == 0 {
            guard role == .shadow else {
                throw ApplyError(.invalidField, "policy version must be 1 or more (version 0 only clears the shadow)")
            }
            activation = nil
        } else {
            guard versions[Key(name: name, version: version)] != nil else {
                throw ApplyError(.unknownPolicy, "policy \(name)@\(version) is not published")
            }
            activation = PolicyActivation(name: name, version: version)
        }
        switch role {
        case .placement:
            guard placement != activation else { return false }
            placement = activation
        case .shadow:
            guard shadow != activation else { return false }
            shadow = activation
        }
        history.append(PolicyHistoryEntry(kind: .activated, name: name, version: version, role: role, height: height))
        return true
    }

    /// `PolicyParamsSet`: each name must be declared and each value of the declared type.
    mutating func setParameters(
        name: String, version: UInt32, _ parameters: [PolicyParameter], height: UInt64?
    ) throws(ApplyError) -> Bool {
        try Validation.identifier(name, field: "policy name")
        let key = Key(name: name, version: version)
        guard var info = versions[key] else { throw ApplyError(.unknownPolicy, "policy \(name)@\(version) is not published") }
        let label = info.release.label
        guard !parameters.isEmpty else { throw ApplyError(.invalidField, "no parameters to set for \(label)") }
        guard parameters.count <= Limits.maxPolicyParameters else {
            throw ApplyError(.invalidField, "\(parameters.count) parameters for \(label), over the limit of \(Limits.maxPolicyParameters)")
        }
        var values = info.values
        var seen: Set<String> = []  // lookup only
        for parameter in parameters {
            guard seen.insert(parameter.name).inserted else {
                throw ApplyError(.invalidField, "parameter \(parameter.name) of \(label) is set twice")
            }
            guard let position = values.firstIndex(where: { $0.name == parameter.name }) else {
                let known = values.map(\.name).joined(separator: ", ")
                throw ApplyError(
                    .invalidField, "unknown parameter \(parameter.name) of \(label) (known: \(known.isEmpty ? "none" : known))")
            }
            try Self.checkValue(parameter, of: label)
            let declared = values[position].value
            guard declared.typeCode == parameter.value.typeCode else {
                throw ApplyError(
                    .invalidField,
                    "parameter \(parameter.name) of \(label) is \(declared.typeName == "integer" ? "an" : "a") \(declared.typeName), got \(parameter.value.typeName) \(parameter.value)"
                )
            }
            values[position].value = parameter.value
        }
        guard values != info.values else { return false }
        info.values = values
        info.parametersDigest = PolicyVersionInfo.parametersDigest(of: values)
        info.parameterSets += 1
        versions[key] = info
        history.append(
            PolicyHistoryEntry(kind: .parametersSet, name: name, version: version, digest: info.parametersDigest, height: height))
        return true
    }

    // MARK: Checks and the parameter digest

    private static func checkDeclared(_ parameters: [PolicyParameter], of label: String) throws(ApplyError) {
        guard parameters.count <= Limits.maxPolicyParameters else {
            throw ApplyError(
                .invalidField, "\(label) declares \(parameters.count) parameters, over the limit of \(Limits.maxPolicyParameters)")
        }
        var seen: Set<String> = []  // lookup only
        for parameter in parameters {
            try checkValue(parameter, of: label)
            guard seen.insert(parameter.name).inserted else {
                throw ApplyError(.invalidField, "\(label) declares parameter \(parameter.name) twice")
            }
        }
    }

    private static func checkValue(_ parameter: PolicyParameter, of label: String) throws(ApplyError) {
        try Validation.identifier(parameter.name, field: "parameter name")
        switch parameter.value {
        case let .number(bits):
            guard Double(bitPattern: bits).isFinite else {
                throw ApplyError(.invalidField, "parameter \(parameter.name) of \(label) must be finite")
            }
        case let .string(text):
            guard text.utf8.count <= Limits.maxParameterStringBytes else {
                throw ApplyError(
                    .invalidField,
                    "parameter \(parameter.name) of \(label) is \(text.utf8.count) bytes, over the limit of \(Limits.maxParameterStringBytes)"
                )
            }
        case .integer, .boolean: break
        }
    }
}

extension PolicyVersionInfo {
    /// SHA-256 of `DSDN-PARAMS`, a u16 count, then each parameter (sorted by name) as it is written in a
    /// blob (docs/events.md, parameter digest): what a version's `parametersDigest` is for `values`.
    public static func parametersDigest(of values: [PolicyParameter]) -> Hash256 {
        var writer = ByteWriter()
        writer.bytes.append(contentsOf: Array("DSDN-PARAMS".utf8))
        let sorted = values.sorted { utf8Precedes($0.name, $1.name) }
        writer.u16(UInt16(sorted.count))
        for parameter in sorted { writer.parameter(parameter) }
        return sha256(writer.bytes)
    }
}
