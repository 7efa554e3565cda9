import ArgumentParser
import DSDNDA
import DSDNFileLog

/// `--da` and `--namespace`, shared by every command that reads or writes the DA.
struct DAOptions: ParsableArguments {
    @Option(
        name: .customLong("da"),
        help: "The DA: file:PATH, the embedded crash-safe log in directory PATH (serve also takes memory:, an in-process DA that keeps nothing).")
    var address: String = "file:.dsdn/da"

    @Option(help: "The namespace name; its 10 user bytes are the first 10 bytes of SHA-256(name).")
    var namespace: String = "dsdn"

    func validate() throws {
        if address == "memory:" { return }  // refused by the commands that need a persistent log
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
        if address.hasPrefix("celestia://") {
            throw ValidationError("--da celestia:// is not available yet; use file:PATH")
        }
        throw ValidationError("--da must be file:PATH, got \(address.debugDescription)")
    }

    /// `directory()` with its refusal as a one-line command failure (for use inside `run()`).
    private func checkedDirectory() throws -> String {
        do {
            return try directory()
        } catch let error as ValidationError {
            throw CommandFailure(error.message)
        }
    }

    var daNamespace: DANamespace { DANamespace(name: namespace) }

    /// Opens the log as a shared writer (creating it), or read-only to follow it.
    func open(readOnly: Bool) throws -> FileLogDA {
        let directory = try checkedDirectory()
        do {
            // Writers share the log: each append takes its lock, so a running `serve` and this command coexist.
            return readOnly ? try FileLogDA.openReadOnly(directory: directory) : try FileLogDA.openShared(directory: directory)
        } catch {
            throw CommandFailure("\(address): \(error.message)")
        }
    }

    /// Opens the DA for a long-running coordinator: the file log as a shared writer (several
    /// coordinators and `events import` may append to one log, one append at a time).
    func openForService() throws -> OpenedDA {
        if address == "memory:" {
            // An in-process DA for trying the coordinator: everything is gone when it exits.
            return OpenedDA(layer: MemoryDA(), close: {})
        }
        let directory = try checkedDirectory()
        do {
            let log = try FileLogDA.openShared(directory: directory)
            return OpenedDA(layer: log, close: { log.close() })
        } catch {
            throw CommandFailure("\(address): \(error.message)")
        }
    }
}

/// An open DA backend and how to close it.
struct OpenedDA {
    /// The backend.
    let layer: any DALayer
    /// Releases it (locks, connections).
    let close: @Sendable () -> Void
}
