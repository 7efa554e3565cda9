import DSDNDA
import Glibc
import SystemPackage

/// One open segment file. Immutable; the descriptor closes when the last reference goes away, so a
/// read that copied a reference out of the index can finish even if the log is closed meanwhile.
final class SegmentFile: Sendable {
    /// 1-based segment number.
    let number: Int
    /// The full path.
    let path: String
    let descriptor: FileDescriptor

    init(number: Int, path: String, descriptor: FileDescriptor) {
        self.number = number
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        try? descriptor.close()
    }

    /// Up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(at offset: Int64, count: Int) throws(DAError) -> [UInt8] {
        try FS.read(descriptor, path: path, at: offset, count: count)
    }

    /// The file's current size.
    func size() throws(DAError) -> Int64 {
        try FS.size(of: descriptor, path: path)
    }
}

/// Thin, typed-throwing wrappers over the POSIX calls the log needs. Every failure becomes a
/// `DAError(.unavailable, ...)` that names the path and the system's reason.
enum FS {
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func errnoText(_ code: Int32) -> String {
        String(describing: Errno(rawValue: code))
    }

    static func failure(_ what: String, _ error: any Error) -> DAError {
        DAError(.unavailable, "\(what): \(error)", cause: error)
    }

    /// Opens `path`; `nil` when it does not exist and `missingIsNil` is set.
    static func open(
        _ path: String, writable: Bool, create: Bool = false, exclusive: Bool = false, missingIsNil: Bool = false
    ) throws(DAError) -> FileDescriptor? {
        var options: FileDescriptor.OpenOptions = [.closeOnExec]
        if create { options.insert(.create) }
        if exclusive { options.insert(.exclusiveCreate) }
        do {
            return try FileDescriptor.open(
                FilePath(path), writable ? .readWrite : .readOnly, options: options,
                permissions: create ? [.ownerReadWrite, .groupRead, .otherRead] : nil)
        } catch Errno.noSuchFileOrDirectory where missingIsNil {
            return nil
        } catch {
            throw failure("cannot open \(path)", error)
        }
    }

    static func read(_ descriptor: FileDescriptor, path: String, at offset: Int64, count: Int) throws(DAError)
        -> [UInt8]
    {
        guard count > 0 else { return [] }
        var filled = 0
        var bytes = [UInt8](repeating: 0, count: count)
        do {
            try bytes.withUnsafeMutableBytes { buffer in
                while filled < count {
                    let n = try descriptor.read(
                        fromAbsoluteOffset: offset + Int64(filled),
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                    if n == 0 { break }
                    filled += n
                }
            }
        } catch {
            throw failure("cannot read \(path) at byte offset \(offset + Int64(filled))", error)
        }
        if filled < count { bytes.removeLast(count - filled) }
        return bytes
    }

    static func write(_ descriptor: FileDescriptor, path: String, at offset: Int64, _ bytes: [UInt8])
        throws(DAError)
    {
        do {
            try descriptor.writeAll(toAbsoluteOffset: offset, bytes)
        } catch {
            throw failure("cannot write \(bytes.count) bytes to \(path) at byte offset \(offset)", error)
        }
    }

    static func size(of descriptor: FileDescriptor, path: String) throws(DAError) -> Int64 {
        var info = stat()
        guard fstat(descriptor.rawValue, &info) == 0 else {
            throw DAError(.unavailable, "cannot stat \(path): \(errnoText(errno))", cause: Errno(rawValue: errno))
        }
        return Int64(info.st_size)
    }

    static func sync(_ descriptor: FileDescriptor, path: String) throws(DAError) {
        while fsync(descriptor.rawValue) != 0 {
            let code = errno
            if code == EINTR { continue }
            throw DAError(.unavailable, "fsync of \(path) failed: \(errnoText(code))", cause: Errno(rawValue: code))
        }
    }

    static func truncate(_ descriptor: FileDescriptor, path: String, to size: Int64) throws(DAError) {
        do {
            try descriptor.resize(to: size)
        } catch {
            throw failure("cannot truncate \(path) to \(size) bytes", error)
        }
    }

    /// fsyncs a directory so that entries created in it (a new segment, the LOCK file) are durable.
    static func syncDirectory(_ path: String) throws(DAError) {
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
        } catch {
            throw failure("cannot open directory \(path)", error)
        }
        defer { try? descriptor.close() }
        try sync(descriptor, path: path)
    }

    /// Whether `path` is an existing directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` (one level) if it does not exist, and makes the new entry durable.
    static func makeDirectory(_ path: String) throws(DAError) {
        if isDirectory(path) { return }
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if code == EEXIST && isDirectory(path) { return }
            throw DAError(.unavailable, "cannot create directory \(path): \(errnoText(code))", cause: Errno(rawValue: code))
        }
        try syncDirectory(parent(of: path))
    }

    static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// The names of the entries of a directory, unsorted.
    static func entries(of path: String) throws(DAError) -> [String] {
        guard let directory = opendir(path) else {
            throw DAError(.unavailable, "cannot list directory \(path): \(errnoText(errno))", cause: Errno(rawValue: errno))
        }
        defer { closedir(directory) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                let code = errno
                if code != 0 {
                    throw DAError(.unavailable, "cannot list directory \(path): \(errnoText(code))", cause: Errno(rawValue: code))
                }
                break
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) {
                    String(cString: $0)
                }
            }
            names.append(name)
        }
        return names
    }
}

/// The writer lock: `flock(LOCK_EX)` on `LOCK` in the log directory. The exclusive writer takes it
/// with `LOCK_NB` on open and holds it for its life; a shared writer takes it for one append at a time.
/// `flock` locks belong to the open file description, so a second writer in the same process conflicts
/// too (each acquisition opens `LOCK` afresh), and the kernel drops the lock when the holder exits or
/// crashes: there is never a stale lock to clean up.
struct WriterLock: Sendable {
    let descriptor: FileDescriptor

    private enum Attempt {
        case acquired
        case busy
        case failed(Int32)
    }

    /// Takes the lock for the exclusive writer's open, retrying a held lock for up to `wait` (sleeping
    /// 1 ms, doubling to 20 ms), or throws `.unavailable` naming the holder. Synchronous like the open
    /// itself; it only sleeps while the lock is held.
    static func acquire(directory: String, waitingUpTo wait: Duration) throws(DAError) -> WriterLock {
        let (path, descriptor) = try openLockFile(directory)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        var pause = Duration.milliseconds(1)
        var result = attempt(descriptor)
        while case .busy = result, clock.now < deadline {
            let (seconds, attoseconds) = min(pause, deadline - clock.now).components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            _ = nanosleep(&request, nil)
            pause = min(pause * 2, .milliseconds(20))
            result = attempt(descriptor)
        }
        switch result {
        case .acquired:
            return WriterLock(recordingHolderIn: descriptor)
        case .busy:
            let holder = holder(descriptor, path)
            try? descriptor.close()
            throw DAError(
                .unavailable,
                "file log \(directory) is locked: another coordinator\(holder) holds its writer lock \(path); "
                    + "only one writer may open a log directory (open it read-only to follow it)")
        case .failed(let code):
            try? descriptor.close()
            throw DAError(.unavailable, "cannot lock \(path): \(FS.errnoText(code))", cause: Errno(rawValue: code))
        }
    }

    /// Takes the lock for one shared append, waiting up to `timeout`: it retries `LOCK_EX | LOCK_NB`,
    /// sleeping 1 ms, then twice as long each time up to 20 ms, so the caller's task suspends instead of
    /// blocking a thread. Throws `.unavailable` naming the holder when the time is up, when the task is
    /// cancelled, or when `abandoned()` turns true (the log was closed) while waiting.
    static func acquire(
        directory: String, waitingUpTo timeout: Duration, abandoned: () -> Bool
    ) async throws(DAError) -> WriterLock {
        let (path, descriptor) = try openLockFile(directory)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pause = Duration.milliseconds(1)
        while true {
            switch attempt(descriptor) {
            case .acquired:
                return WriterLock(recordingHolderIn: descriptor)
            case .failed(let code):
                try? descriptor.close()
                throw DAError(.unavailable, "cannot lock \(path): \(FS.errnoText(code))", cause: Errno(rawValue: code))
            case .busy:
                break
            }
            let now = clock.now
            let stop: String?
            if abandoned() {
                stop = "the log was closed while waiting for it"
            } else if now >= deadline {
                stop = "it was not released within the \(timeout) lock wait timeout"
            } else {
                do {
                    try await Task.sleep(for: min(pause, deadline - now))
                    stop = nil
                } catch {
                    stop = "the submit was cancelled while waiting for it"
                }
            }
            if let stop {
                let holder = holder(descriptor, path)
                try? descriptor.close()
                throw DAError(
                    .unavailable,
                    "file log \(directory) is busy: another writer\(holder) holds its writer lock \(path) and \(stop)")
            }
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    private static func openLockFile(_ directory: String) throws(DAError) -> (String, FileDescriptor) {
        let path = FS.join(directory, "LOCK")
        guard let descriptor = try FS.open(path, writable: true, create: true) else {
            throw DAError(.unavailable, "cannot open \(path)")
        }
        return (path, descriptor)
    }

    private static func attempt(_ descriptor: FileDescriptor) -> Attempt {
        while flock(descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            return code == EWOULDBLOCK ? .busy : .failed(code)
        }
        return .acquired
    }

    /// `" (pid N)"` from the first line of `LOCK`, or `""` when it records nothing.
    private static func holder(_ descriptor: FileDescriptor, _ path: String) -> String {
        String(decoding: (try? FS.read(descriptor, path: path, at: 0, count: 64)) ?? [], as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" }).first.map { " (pid \($0))" } ?? ""
    }

    /// Wraps a descriptor that holds the lock, after writing this process's pid and a newline to it.
    /// Informational only (the lock itself is the flock), for the messages above. Written first and
    /// then trimmed, so a concurrent reader sees a first line that is one pid or the other.
    private init(recordingHolderIn descriptor: FileDescriptor) {
        let line = Array("\(getpid())\n".utf8)
        _ = try? descriptor.writeAll(toAbsoluteOffset: 0, line)
        _ = try? descriptor.resize(to: Int64(line.count))
        self.descriptor = descriptor
    }

    /// Releases the lock (closing the descriptor drops the flock).
    func release() {
        try? descriptor.close()
    }
}
