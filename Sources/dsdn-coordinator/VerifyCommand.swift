import ArgumentParser
import DSDNAPI
import DSDNCore
import DSDNJSON
import DSDNRuntime

/// `dsdn-coordinator verify`: check a running coordinator's checksum against a rebuild from the DA.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a running coordinator's state matches a rebuild of the DA up to its applied height.",
        discussion: """
            Reads the coordinator's applied height and checksum (GET /v1/state at --api), rebuilds the state \
            from the DA (--da, read-only, so the coordinator may keep running) over heights 1 up to exactly \
            that height, and compares the two checksums. Prints both; exits 0 when they are equal, and 1 with \
            `checksum mismatch at height H: coordinator X, rebuilt Y` when they differ. The coordinator must \
            follow the same DA and namespace.

            Examples:
              dsdn-coordinator verify --da file:.dsdn/da --api http://127.0.0.1:45831
              dsdn-coordinator verify --da file:/var/lib/dsdn/da --namespace prod --json
            """
    )

    @OptionGroup var da: DAOptions
    @OptionGroup var api: APIOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// How often a checksum that differs is re-checked after re-reading the coordinator's state, in case
    /// the state and the applied height were read as the coordinator was applying a height.
    static let attempts = 3

    func run() async throws {
        let client = api.client
        let log = try da.open(readOnly: true)
        defer { log.close() }
        let rebuilder = StateRebuilder(da: log, namespace: da.daNamespace)
        var remote = try await client.get("/v1/state", as: StateResponse.self)
        var attempt = 1
        while true {
            let height = remote.appliedHeight
            let coordinator = remote.checksum
            if !remote.namespace.isEmpty, remote.namespace != da.daNamespace.description {
                let namespace = remote.namespace
                throw CommandFailure(
                    "the coordinator at \(api.baseURL) follows namespace \(namespace), but --namespace \(da.namespace) is \(da.daNamespace.description)"
                )
            }
            let rebuilt: Hash256
            if height == 0 {
                rebuilt = StateMachine().state.checksum()
            } else {
                do {
                    rebuilt = try await rebuilder.rebuild(
                        from: 1, to: height, progress: ProgressBar.rebuildCallback(label: "verify")
                    ).report.checksum
                    ProgressBar.clear()
                } catch {
                    ProgressBar.clear()
                    throw CommandFailure("\(da.address): \(error)", cause: error)
                }
            }
            let equal = rebuilt.hex == coordinator.lowercased()
            if !equal, attempt < Self.attempts {
                // The state and its height are read in two steps on the coordinator; read them again and,
                // if the coordinator moved on, verify its new height instead.
                let again = try await client.get("/v1/state", as: StateResponse.self)
                let changed = again.appliedHeight != height || again.checksum != coordinator
                if changed {
                    remote = again
                    attempt += 1
                    continue
                }
            }
            if json {
                printJSON([
                    "applied_height": JSONValue(height), "coordinator_checksum": JSONValue(coordinator),
                    "rebuilt_checksum": JSONValue(rebuilt.hex), "equal": JSONValue(equal), "api": JSONValue(api.baseURL),
                    "da": JSONValue(da.address),
                ])
            } else {
                print("coordinator  \(coordinator)  (\(api.baseURL), applied height \(height))")
                print("rebuilt      \(rebuilt.hex)  (\(da.address), heights 1…\(height))")
                if equal { print("equal        the coordinator's state is the DA's history up to height \(height)") }
            }
            guard equal else {
                throw CommandFailure("checksum mismatch at height \(height): coordinator \(coordinator), rebuilt \(rebuilt.hex)")
            }
            return
        }
    }
}
