import ArgumentParser
import DSDNAPI
import DSDNCore
import DSDNJSON
import DSDNPolicyPack
import DSDNScheduler
import Foundation

// The policy lifecycle through a running coordinator (docs/policies.md §11): every change is an event
// on the DA, so every coordinator following the namespace switches at the same point of history.

/// `policy publish FILE [--activate | --shadow]`.
struct PolicyPublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a policy version to the DA (after the checks of `policy check`); optionally activate it.",
        discussion: """
            Publishes PolicyPublished with the file's whole source and what its declaration says. A version \
            is immutable: other bytes under a published name@version are refused; the same bytes again \
            change nothing. A file that `policy check` refuses is not published.

            Examples:
              dsdn-coordinator policy publish policies/zone-spread.lua --activate --wait
              dsdn-coordinator policy publish my-policy.lua --shadow
            """
    )

    @Argument(help: "The Lua file.")
    var file: String

    @Flag(help: "Also make it the placement policy.")
    var activate = false

    @Flag(help: "Also run it in shadow beside the placement policy.")
    var shadow = false

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        if activate && shadow { throw ValidationError("--activate and --shadow are exclusive: a version takes one role at a time") }
    }

    func run() async throws {
        let report = PolicyReport(path: file)
        if let failure = report.failureLine { throw CommandFailure("not published: \(failure)") }
        guard let policy = report.policy else { throw CommandFailure("not published: \(file) did not load") }
        var events: [Event] = [.policyPublished(policy.release)]
        if activate || shadow {
            events.append(.policyActivated(name: policy.name, version: policy.version, role: shadow ? .shadow : .placement))
        }
        let role = activate ? " and activated for placement" : shadow ? " and activated in shadow" : ""
        try await submitEvents(
            events, describing: "\(policy.label) (sha256 \(policy.sourceHash.hex)) published\(role)", api: api, options: submit)
    }
}

/// `policy activate NAME@VERSION [--shadow]`, `policy activate --clear-shadow`.
struct PolicyActivateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activate",
        abstract: "Make a published version the placement policy (or the shadow).",
        discussion: """
            Publishes PolicyActivated. Every coordinator switches when it applies the event; decisions \
            against earlier snapshots keep the version active there. Rolling back is activating an earlier \
            version. A version that is not published is refused and the active one stays.

            Examples:
              dsdn-coordinator policy activate zone-spread@2 --wait
              dsdn-coordinator policy activate balanced@2 --shadow
              dsdn-coordinator policy activate --clear-shadow
            """
    )

    @Argument(help: "name@version.")
    var label: String?

    @Flag(help: "Activate it in shadow: it runs beside the placement policy and decides nothing.")
    var shadow = false

    @Flag(help: "Stop the shadow policy.")
    var clearShadow = false

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        switch (label, clearShadow) {
        case (nil, false): throw ValidationError("give NAME@VERSION, or --clear-shadow")
        case (.some, true): throw ValidationError("--clear-shadow takes no NAME@VERSION")
        case let (label?, false): _ = try parseLabel(label)
        case (nil, true): break
        }
    }

    func run() async throws {
        if clearShadow {
            let active = try await api.client.get("/v1/policies", as: PoliciesResponse.self)
            guard let shadow = active.shadow, let (name, _) = try? parseLabel(shadow) else {
                print("no shadow policy is active: nothing to clear")
                return
            }
            try await submitEvents(
                [.policyActivated(name: name, version: 0, role: .shadow)], describing: "shadow \(shadow) cleared", api: api, options: submit
            )
            return
        }
        let (name, version) = try parseLabel(label ?? "")
        try await submitEvents(
            [.policyActivated(name: name, version: version, role: shadow ? .shadow : .placement)],
            describing: "\(name)@\(version) activated \(shadow ? "in shadow" : "for placement")", api: api, options: submit)
    }
}

/// `policy set NAME[@VERSION] KEY=VALUE…`.
struct PolicySetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set parameters of a published version (a new parameter set on the DA).",
        discussion: """
            Publishes PolicyParamsSet. Each KEY must be a parameter the version declares, and each VALUE \
            is read as its declared type (integer, number, true/false, or text). Without @VERSION: the \
            version of NAME active for placement, else in shadow, else the newest.

            Example:
              dsdn-coordinator policy set weighted-score w_latency=2.5 min_free_ram_mb=512 --wait
            """
    )

    @Argument(help: "NAME or NAME@VERSION.")
    var policy: String

    @Argument(help: "KEY=VALUE, one or more.")
    var assignments: [String] = []

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        guard !assignments.isEmpty else { throw ValidationError("give at least one KEY=VALUE") }
        for assignment in assignments where !assignment.contains("=") {
            throw ValidationError("expects KEY=VALUE, got \(assignment.debugDescription)")
        }
    }

    func run() async throws {
        let (info, _) = try await fetchVersion(policy, api: api)
        var parameters: [PolicyParameter] = []
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            let key = String(assignment[..<equals])
            let text = String(assignment[assignment.index(after: equals)...])
            guard !key.isEmpty else { throw CommandFailure("expects KEY=VALUE, got \(assignment.debugDescription)") }
            guard let declared = info.declared.first(where: { $0.name == key }) else {
                let known = info.declared.map(\.name).joined(separator: ", ")
                throw CommandFailure("unknown parameter \(key) of \(info.name)@\(info.version) (known: \(known.isEmpty ? "none" : known))")
            }
            parameters.append(PolicyParameter(name: key, value: try parseParameter(text, as: declared.type, key: key)))
        }
        let shown = parameters.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        try await submitEvents(
            [.policyParamsSet(name: info.name, version: info.version, parameters: parameters)],
            describing: "\(info.name)@\(info.version): \(shown)", api: api, options: submit)
    }

    private func parseParameter(_ text: String, as type: String, key: String) throws -> PolicyParameterValue {
        switch type {
        case "integer":
            guard let value = Int64(text) else { throw CommandFailure("\(key) is an integer parameter, got \(text.debugDescription)") }
            return .integer(value)
        case "number":
            guard let value = PolicyParameterValue.number(decimal: text) else {
                throw CommandFailure("\(key) is a number parameter (decimal, such as 2.5 or 1e-3), got \(text.debugDescription)")
            }
            return value
        case "boolean":
            guard text == "true" || text == "false" else {
                throw CommandFailure("\(key) is a boolean parameter (true or false), got \(text.debugDescription)")
            }
            return .boolean(text == "true")
        default:
            return .string(text)
        }
    }
}

/// `policy list [--pack]`.
struct PolicyListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the published versions and what is active (or, with --pack, the built-in pack).",
        discussion: """
            Examples:
              dsdn-coordinator policy list
              dsdn-coordinator policy list --pack
            """
    )

    @Flag(help: "List the standard pack built into this executable instead.")
    var pack = false

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var api: APIOptions

    func run() async throws {
        if pack {
            for (name, source) in PolicyPack.sources {
                do {
                    let policy = try Policy.load(source: source, fileName: "\(name).lua")
                    print("\(name)  \(policy.label)  api \(policy.apiLevel)  sha256 \(policy.sourceHash.hex)  \(policy.description)")
                } catch {
                    throw CommandFailure("the built-in pack's \(name) does not load: \(error)")
                }
            }
            return
        }
        let body = try await api.client.get("/v1/policies", as: PoliciesResponse.self)
        if json {
            printJSON(body)
            return
        }
        print("placement  \(body.placement ?? "none")")
        print("shadow     \(body.shadow ?? "none")")
        if let shadow = body.shadow, let (name, _) = try? parseLabel(shadow) {
            let record = try await api.client.get("/v1/policies/\(name)", as: PolicyResponse.self).shadowRecords.first {
                $0.shadow == shadow
            }
            if let record {
                print(
                    "           \(record.agreements) agree, \(record.disagreements) disagree, \(record.failures) fail against \(record.placement) (this coordinator)"
                )
            }
        }
        for version in body.versions {
            let role = version.role.map { "  [\($0)]" } ?? ""
            let params =
                version.params.isEmpty ? "" : "  " + version.params.map { "\($0.name)=\(display($0.value))" }.joined(separator: " ")
            print("\(version.name)@\(version.version)  api \(version.api)  sha256 \(version.sourceHash)\(role)\(params)")
        }
    }
}

/// `policy show NAME[@VERSION] [--pack]`.
struct PolicyShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a published version's source as the DA holds it (or, with --pack, a built-in one).",
        discussion: """
            Without @VERSION: the version of NAME active for placement, else in shadow, else the newest.

            Examples:
              dsdn-coordinator policy show weighted-score
              dsdn-coordinator policy show --pack zone-spread > my-zone-spread.lua
            """
    )

    @Argument(help: "NAME or NAME@VERSION.")
    var policy: String

    @Flag(help: "Print the standard pack's file built into this executable instead.")
    var pack = false

    @OptionGroup var api: APIOptions

    func run() async throws {
        if pack {
            guard let source = PolicyPack.source(named: policy) else {
                let names = PolicyPack.sources.map(\.name).joined(separator: ", ")
                throw CommandFailure("no pack policy \(policy) (the pack: \(names))")
            }
            print(source, terminator: "")
            return
        }
        let (info, _) = try await fetchVersion(policy, api: api)
        print(info.source ?? "", terminator: "")
    }
}

/// `policy history NAME`.
struct PolicyHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Print a policy's changes on the DA: publications, activations, parameter sets.",
        discussion: """
            Example:
              dsdn-coordinator policy history weighted-score
            """
    )

    @Argument(help: "The policy name.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var api: APIOptions

    func run() async throws {
        let body = try await api.client.get("/v1/policies/\(name)", as: PolicyResponse.self)
        if json {
            printJSON(body.history)
            return
        }
        for change in body.history {
            let height = change.height.map { "height \($0)" } ?? "height -"
            let what: String
            switch change.kind {
            case "activated":
                what = change.version == 0 ? "shadow cleared" : "activated \(change.name)@\(change.version) for \(change.role ?? "?")"
            case "params_set": what = "params set on \(change.name)@\(change.version), digest \(change.digest ?? "")"
            default: what = "published \(change.name)@\(change.version), sha256 \(change.digest ?? "")"
            }
            print("\(height)  \(what)")
        }
    }
}

/// `name@version` → (name, version).
func parseLabel(_ text: String) throws -> (String, UInt32) {
    guard let at = text.lastIndex(of: "@"), let version = UInt32(text[text.index(after: at)...]), version >= 1 else {
        throw ValidationError("expects NAME@VERSION (a version of 1 or more), got \(text.debugDescription)")
    }
    let name = String(text[..<at])
    try validateIdentifier(name, "the policy name")
    return (name, version)
}

/// The version `text` names (`NAME@VERSION`, or `NAME`: the one active for placement, else in shadow,
/// else the newest), with its source.
func fetchVersion(_ text: String, api: APIOptions) async throws -> (PolicyVersionBody, PolicyResponse) {
    let name: String
    var version: UInt32?
    if text.contains("@") {
        let parsed = try parseLabel(text)
        name = parsed.0
        version = parsed.1
    } else {
        try validateIdentifier(text, "the policy name")
        name = text
    }
    let body = try await api.client.get("/v1/policies/\(name)", as: PolicyResponse.self)
    func named(_ label: String?) -> UInt32? {
        guard let label, let at = label.lastIndex(of: "@"), label[..<at] == name else { return nil }
        return UInt32(label[label.index(after: at)...])
    }
    let chosen = version ?? named(body.placement) ?? named(body.shadow) ?? body.versions.map(\.version).max()
    guard let info = body.versions.first(where: { $0.version == chosen }) else {
        throw CommandFailure("policy \(name)@\(chosen.map(String.init) ?? "?") is not published")
    }
    return (info, body)
}

private func display(_ value: JSONValue) -> String {
    switch value {
    case let .int(number): "\(number)"
    case let .uint(number): "\(number)"
    case let .double(number): "\(number)"
    case let .bool(flag): "\(flag)"
    case let .string(text): text.debugDescription
    default: "?"
    }
}

/// `policy shadow --events FILE --policy A --shadow B`: the shadow comparison, offline and reproducible.
struct PolicyShadowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shadow",
        abstract: "Decide every under-replicated chunk of a history with two policies and report where they disagree.",
        discussion: """
            Derives the state from EVENTS (JSON Lines), then decides each under-replicated chunk (in hash \
            order) with the placement policy and with the shadow, on the same inputs and snapshot, as a \
            running coordinator does while a shadow is active. Deterministic: the same files give the same \
            report in every process. Policies are pack names or Lua files.

            Example:
              dsdn-coordinator generate --seed 7 --events 20000 > h.jsonl
              dsdn-coordinator policy shadow --events h.jsonl --policy weighted-score --shadow zone-spread
            """
    )

    @Option(help: "The events file (JSON Lines).")
    var events: String

    @Option(help: "The placement policy: a pack name or a Lua file.")
    var policy: String

    @Option(help: "The shadow policy: a pack name or a Lua file.")
    var shadow: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let placement = try loadPolicy(nameOrPath: policy)
        let candidate = try loadPolicy(nameOrPath: shadow)
        let state = try HistoryInput(path: events).derive(path: events).state
        let requests = state.underReplicatedChunks().compactMap { ChunkRequest(chunk: $0, in: state) }.filter { $0.want > 0 }
        let inputs = DecisionInputs(nodes: state.allNodes(), zones: state.zones())
        let placed: [Result<PlacementDecision, PolicyError>]
        let shadowed: [Result<PlacementDecision, PolicyError>]
        do {
            placed = try Scheduler.place(requests, inputs: inputs, policy: placement, explain: false)
            shadowed = try Scheduler.place(requests, inputs: inputs, policy: candidate, explain: false)
        } catch {
            throw CommandFailure("\(error.outcome.rawValue): \(error.message)", cause: error)
        }
        var tally = ShadowTally(shadow: candidate.label, placement: placement.label)
        var disagreements: [(chunk: Hash256, placement: [String], shadow: [String])] = []
        for (request, (one, other)) in zip(requests, zip(placed, shadowed)) {
            let verdict = ShadowVerdict.compare(placement: one, shadow: other)
            tally.record(verdict, chunk: request.hash, snapshotHeight: 0)
            if case let .disagree(a, b) = verdict { disagreements.append((request.hash, a, b)) }
        }
        if json {
            printJSON([
                "placement": JSONValue.string(placement.label), "shadow": JSONValue.string(candidate.label),
                "decisions": JSONValue(requests.count), "agreements": JSONValue(tally.agreements),
                "disagreements": JSONValue(tally.disagreements), "failures": JSONValue(tally.failures),
                "disagreeing": JSONValue.array(
                    disagreements.map { item in
                        JSONValue.object([
                            "chunk": .string(item.chunk.hex), "placement": .array(item.placement.map(JSONValue.string)),
                            "shadow": .array(item.shadow.map(JSONValue.string)),
                        ])
                    }),
            ])
            return
        }
        print("placement  \(placement.label)   shadow \(candidate.label)")
        print(
            "decisions  \(requests.count): \(tally.agreements) agree, \(tally.disagreements) disagree, \(tally.failures) shadow failures")
        for item in disagreements {
            print("disagree   \(item.chunk.hex)  [\(item.placement.joined(separator: ", "))] vs [\(item.shadow.joined(separator: ", "))]")
        }
        if let failure = tally.lastFailure { print("failure    \(failure)") }
    }
}

/// `policy watch DIR`: for development, publish and activate each policy file as it changes.
struct PolicyWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "For development: check, publish and activate each *.lua of a directory when it changes.",
        discussion: """
            Watches DIR (its *.lua files, compared by content every --interval-ms) and, for each file that \
            changes or appears after the start, does what `policy publish FILE --activate --wait` does: the \
            file is checked, published and activated through the DA, never applied only locally. A file \
            that fails the checks, or a version already published with other bytes (bump `version`), is \
            reported in one line and the active policy stays. Runs until interrupted.

            Example:
              dsdn-coordinator policy watch my-policies/
            """
    )

    @Argument(help: "The directory of *.lua policies.")
    var directory: String

    @Option(help: "Milliseconds between two looks at the directory.")
    var intervalMs: Int = 500

    @OptionGroup var api: APIOptions

    func validate() throws {
        guard (50...60_000).contains(intervalMs) else { throw ValidationError("--interval-ms must be from 50 to 60000") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(directory) is not a directory")
        }
    }

    /// The content digest of every *.lua file in the directory, by path.
    private func scan() -> [String: Hash256] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var digests: [String: Hash256] = [:]  // lookup only; visited sorted
        for name in names where name.hasSuffix(".lua") {
            let path = (directory as NSString).appendingPathComponent(name)
            if let data = FileManager.default.contents(atPath: path) { digests[path] = sha256(Array(data)) }
        }
        return digests
    }

    func run() async throws {
        let token = try api.token()
        var known = scan()
        emit("watching \(directory) (\(known.count) policy files); a changed file is checked, published and activated")
        while true {
            try await Task.sleep(for: .milliseconds(intervalMs))
            let now = scan()
            for (path, digest) in now.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) where known[path] != digest {
                known[path] = digest
                let report = PolicyReport(path: path)
                guard report.failureLine == nil, let policy = report.policy else {
                    emit("\(path): not published: \(report.failureLine ?? "did not load")")
                    continue
                }
                do {
                    let acceptance = try await api.client.postEvents(
                        [
                            .policyPublished(policy.release),
                            .policyActivated(name: policy.name, version: policy.version, role: .placement),
                        ], token: token, wait: true)
                    emit("\(path): \(policy.label) published and activated at height \(acceptance.height.map(String.init) ?? "?")")
                } catch {
                    emit("\(path): \(policy.label) not published: \(error)")
                }
            }
            known = now
        }
    }
}

/// One line on standard output at once (unbuffered, also into a pipe): a watcher reports as it goes.
private func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
