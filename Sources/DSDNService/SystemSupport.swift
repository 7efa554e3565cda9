import DSDNRuntime
import Foundation
import Glibc
import Synchronization

/// The data directory's lock: an exclusive `flock` on `coordinator.lock`, held for the coordinator's
/// life, so two coordinators never share an outbox. The file records the holder's pid for the message
/// the next one prints. Released by ``release()`` when the coordinator stops, or in `deinit` (closing the
/// descriptor drops the lock).
final class DirectoryLock: Sendable {
    private let descriptor: Mutex<Int32?>

    private init(descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    deinit { release() }

    /// Drops the lock. Idempotent.
    func release() {
        descriptor.withLock { descriptor in
            if let open = descriptor { close(open) }
            descriptor = nil
        }
    }

    /// Creates the directory if needed and takes the lock, or throws a one-line error naming the holder.
    static func acquire(directory: String) throws(RuntimeError) -> DirectoryLock {
        try makeDirectories(directory)
        let path = directory.hasSuffix("/") ? directory + "coordinator.lock" : directory + "/coordinator.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RuntimeError(.journalFailure, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            let holder =
                count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(descriptor)
            throw RuntimeError(
                .alreadyStarted,
                "data directory \(directory) is in use by another coordinator (pid \(holder)); give each coordinator its own --data-dir")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
        return DirectoryLock(descriptor: descriptor)
    }
}

/// `mkdir -p`.
func makeDirectories(_ path: String) throws(RuntimeError) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw RuntimeError(.journalFailure, "cannot create directory \(path): \(error.localizedDescription)", cause: error)
    }
}

/// Milliseconds since the Unix epoch, for `added_at` of published placements (time enters the state only
/// as data carried by events).
func wallClockMillis() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000 + UInt64(now.tv_nsec / 1_000_000)
}
