import DSDNRuntime
import Foundation

/// A one-line progress bar on standard error, drawn only when standard error is a terminal, so logs and
/// pipes get nothing extra.
enum ProgressBar {
    /// Whether standard error is a terminal (checked once).
    static let isEnabled = isatty(2) == 1

    /// A `StateRebuilder` progress callback drawing the bar, or `nil` when standard error is not a
    /// terminal. It redraws only when the whole percentage changes, so a long rebuild writes at most
    /// about a hundred updates.
    static func rebuildCallback(label: String) -> (@Sendable (RebuildProgress) async throws -> Void)? {
        guard isEnabled else { return nil }
        return { progress in
            draw(
                label: label, done: progress.heightsDone, total: progress.heightsTotal, height: progress.height,
                events: progress.eventsApplied)
        }
    }

    /// Draws the bar for `done` of `total` heights, when the percentage changed since `done - 1`.
    static func draw(label: String, done: UInt64, total: UInt64, height: UInt64, events: UInt64) {
        guard isEnabled, total > 0 else { return }
        let percent = done * 100 / total
        let previous = done > 0 ? (done - 1) * 100 / total : UInt64.max
        guard percent != previous || done == total || done == 1 else { return }
        let width: UInt64 = 30
        let filled = Int(done * width / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: Int(width) - filled)
        write("\r\u{1B}[K\(label) [\(bar)] \(percent)%  height \(height) (\(done)/\(total)), \(events) events")
    }

    /// Erases the bar (after success or failure), when one may have been drawn.
    static func clear() {
        guard isEnabled else { return }
        write("\r\u{1B}[K")
    }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
