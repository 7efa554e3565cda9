import ArgumentParser
import DSDNCelestia
import DSDNDA
import DSDNFileLog
import Logging

/// `--da`, `--namespace` and `--da-token-file`, shared by every command that reads or writes the DA.
struct DAOptions: ParsableArguments {
    @Option(
        name: .customLong("da"),
        help: """
            The DA: file:PATH, the embedded crash-safe log in directory PATH; celestia://HOST:PORT[?namespace=NAME&…], \
            a celestia-node's JSON-RPC API (docs/celestia.md); serve also takes memory:, an in-process DA that keeps nothing.
            """)
    var address: String = "file:.dsdn/da"

    @Option(
        help: """
            The namespace name; its 10 user bytes are the first 10 bytes of SHA-256(name). A celestia:// address \
            may name its own (namespace=NAME, 0x<hex> or base64:<b64>), which wins.
            """)
    var namespace: String = "dsdn"

    // Not `--token-file`: that is the coordinator API's token in `serve` and the API commands.
    @Option(
        name: .customLong("da-token-file"),
        help:
            "With celestia://, a file holding the node's auth token (`celestia light auth write`); without it, CELESTIA_AUTH_TOKEN is used."
    )
    var daTokenFile: String?

    /// Whether `--da` names a Celestia node.
    var isCelestia: Bool { address.hasPrefix("celestia://") }

    func validate() throws {
        if address == "memory:" { return }  // refused by the commands that need a persistent log
        if isCelestia {
            _ = try celestiaAddress()
            return
        }
        _ = try directory()
    }

    /// The file log's directory, or a one-line refusal for every other address.
    func directory() throws -> String {
        if address.hasPrefix("file:") {
            let path = String(address.dropFirst("file:".count))
            guard !path.isEmpty else { throw ValidationError("--da file: needs a directory, e.g. file:.dsdn/da") }
            return path
        }
        if address.hasPrefix("memory:") {
            throw ValidationError("--da memory: keeps nothing between processes (only `serve` takes it); use file:PATH")
        }
        if isCelestia {
            throw ValidationError("--da \(address) is a Celestia node, not a file log directory")
        }
        throw ValidationError("--da must be file:PATH or celestia://HOST:PORT?namespace=NAME, got \(address.debugDescription)")
    }

    /// `directory()` with its refusal as a one-line command failure (for use inside `run()`).
    private func checkedDirectory() throws -> String {
        do {
            return try directory()
        } catch let error as ValidationError {
            throw CommandFailure(error.message)
        }
    }

    /// The parsed `celestia://` address; `--namespace` fills in when the address names no namespace.
    func celestiaAddress() throws -> CelestiaAddress {
        var text = address
        if !text.contains("namespace=") {
            text += (text.contains("?") ? "&" : "?") + "namespace=" + namespace
        }
        do {
            return try CelestiaAddress(parsing: text)
        } catch {
            throw ValidationError("--da: \(error.message)")
        }
    }

    /// How long a publisher waits for a new height after an ambiguous submit before checking whether the
    /// blob landed: Celestia's `landing-timeout` (a transaction may still be in the mempool); zero for the
    /// file log, whose submit is decided when it returns.
    var landingTimeout: Duration {
        if isCelestia, let celestia = try? celestiaAddress() { return celestia.options.landingTimeout }
        return .zero
    }

    var daNamespace: DANamespace {
        if isCelestia, let celestia = try? celestiaAddress() { return celestia.namespace }
        return DANamespace(name: namespace)
    }

    /// Opens the DA for a command: the file log as a shared writer (creating it) or read-only to follow
    /// it; or a Celestia node (`readOnly` changes nothing there: the node's token decides).
    func open(readOnly: Bool) throws -> OpenedDA {
        if isCelestia {
            var logger = Logger(label: "dsdn.celestia")
            // Commands print their own results (some as JSON on standard output); failures are thrown.
            logger.logLevel = .critical
            return try openCelestia(logger: logger)
        }
        let directory = try checkedDirectory()
        do {
            // Writers share the log: each append takes its lock, so a running `serve` and this command coexist.
            let log = readOnly ? try FileLogDA.openReadOnly(directory: directory) : try FileLogDA.openShared(directory: directory)
            return OpenedDA(layer: log, close: { log.close() })
        } catch {
            throw CommandFailure("\(address): \(error.message)", cause: error)
        }
    }

    /// Opens the DA for a long-running coordinator: the file log as a shared writer (several
    /// coordinators and `events import` may append to one log, one append at a time), or a Celestia node.
    func openForService() throws -> OpenedDA {
        if address == "memory:" {
            // An in-process DA for trying the coordinator: everything is gone when it exits.
            return OpenedDA(layer: MemoryDA(), close: {})
        }
        if isCelestia { return try openCelestia(logger: Logger(label: "dsdn.celestia")) }
        let directory = try checkedDirectory()
        do {
            let log = try FileLogDA.openShared(directory: directory)
            let logger = Logger(label: "dsdn.filelog")
            if let recovery = log.recovery { logger.warning("torn tail cut: \(recovery)") }
            log.observeRecoveries { recovery in logger.warning("torn tail cut: \(recovery)") }
            return OpenedDA(layer: log, close: { log.close() })
        } catch {
            throw CommandFailure("\(address): \(error.message)", cause: error)
        }
    }

    private func openCelestia(logger: Logger) throws -> OpenedDA {
        let celestia: CelestiaAddress
        do {
            celestia = try celestiaAddress()
        } catch let error as ValidationError {
            throw CommandFailure(error.message)
        }
        let token: CelestiaAuthToken?
        do {
            token = try CelestiaAuthToken.resolve(tokenFile: daTokenFile)
        } catch {
            throw CommandFailure(error.message)
        }
        let da = CelestiaDA(
            address: celestia, token: token, credentialsHint: "--da-token-file / \(CelestiaAuthToken.environmentVariable)",
            logger: logger)
        return OpenedDA(layer: da, close: { da.beginClose() })
    }
}

/// An open DA backend and how to close it. It is itself a `DALayer` (forwarding to ``layer``), so the
/// commands use it where they used the file log.
struct OpenedDA: DALayer {
    /// The backend.
    let layer: any DALayer
    /// Releases it (locks, connections).
    let close: @Sendable () -> Void

    func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference {
        try await layer.submit(blob, to: namespace)
    }

    func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        try await layer.blobs(of: namespace, at: height)
    }

    func head() async throws(DAError) -> UInt64 { try await layer.head() }

    func newHeights() -> AsyncStream<UInt64> { layer.newHeights() }

    func health() async -> DAHealth { await layer.health() }

    var commitmentScheme: CommitmentScheme { layer.commitmentScheme }
}
