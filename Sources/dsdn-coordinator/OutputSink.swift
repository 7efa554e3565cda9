import Foundation

/// The one writer of command output: standard output, or a file written as `FILE.partial`, synced and
/// moved to its name once complete, so a file is whole or absent. Every failure is one line with the
/// system's reason, and a failed file leaves no partial behind (`abandon`).
final class OutputSink {
    /// What to do when the file already exists.
    enum Existing {
        /// Replace it (an export or a report written again).
        case replace
        /// Refuse, before anything is written (a history must never overwrite anything).
        case refuse
    }

    private let path: String?
    private let temporary: String?
    private let descriptor: Int32
    private let existing: Existing
    private var buffer: [UInt8] = []
    private var isOpen = true

    /// A sink for `path`, or for standard output when `path` is `nil`.
    init(path: String?, existing: Existing = .replace) throws {
        self.path = path
        self.existing = existing
        guard let path else {
            temporary = nil
            descriptor = 1
            return
        }
        var status = stat()
        if existing == .refuse, lstat(path, &status) == 0 {
            throw CommandFailure("\(path) already exists; remove it or choose another name")
        }
        let temporary = path + ".partial"
        // A partial file of a run that stopped is ours to reuse only when replacing is allowed.
        let exclusive = existing == .refuse ? O_EXCL : O_TRUNC
        let descriptor = open(temporary, O_WRONLY | O_CREAT | exclusive | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            if errno == EEXIST { throw CommandFailure("\(temporary) exists (left by a run that stopped?); remove it and run again") }
            throw CommandFailure("cannot write \(path): cannot create \(temporary): \(Self.reason())")
        }
        self.temporary = temporary
        self.descriptor = descriptor
    }

    func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    private func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw CommandFailure("cannot write \(path ?? "to standard output"): \(Self.reason())")
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered and, for a file, syncs it and moves it to its name.
    func finish() throws {
        try flush()
        guard let path, let temporary else { return }
        guard fsync(descriptor) == 0 else { throw CommandFailure("cannot write \(path): \(Self.reason())") }
        closeFile()
        switch existing {
        case .replace:
            guard rename(temporary, path) == 0 else { throw CommandFailure("cannot write \(path): \(Self.reason())") }
        case .refuse:
            // A link never replaces: a file that appeared at `path` meanwhile is kept and this one refused.
            guard link(temporary, path) == 0 else {
                let reason = errno == EEXIST ? "it appeared meanwhile and is kept" : Self.reason()
                unlink(temporary)
                throw CommandFailure("cannot write \(path): \(reason)")
            }
            unlink(temporary)
        }
    }

    /// Drops a partial file after a failure.
    func abandon() {
        guard let temporary else { return }
        closeFile()
        unlink(temporary)
    }

    private func closeFile() {
        if isOpen, temporary != nil { close(descriptor) }
        isOpen = false
    }

    /// Writes `text` whole to `path` (or standard output).
    static func write(_ text: String, to path: String?) throws {
        let sink = try OutputSink(path: path)
        do {
            try sink.write(text)
            try sink.finish()
        } catch {
            sink.abandon()
            throw error
        }
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}
