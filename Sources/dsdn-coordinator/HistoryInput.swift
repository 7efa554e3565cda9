import ArgumentParser
import DSDNCore
import DSDNInterchange
import Foundation

/// Reads an events file (JSON Lines, docs/events.md) and derives its state.
struct HistoryInput {
    /// The events and the line each came from.
    var events: [(line: Int, event: Event)]

    /// Reads `path` (or standard input for `-`), refusing anything that is not a valid events file.
    init(path: String) throws {
        let text: String
        if path == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("cannot read \(path): no such file or not readable")
            }
            // Bytes as they are: Foundation's decoding would drop a leading byte-order mark unseen.
            guard let decoded = String(validating: Array(data), as: UTF8.self) else {
                throw CommandFailure("\(path) is not UTF-8 text (expected JSON Lines events)")
            }
            text = decoded
        }
        do {
            events = try EventJSON.decodeNumberedLines(text)
        } catch {
            throw CommandFailure("\(path): \(error)", cause: error)
        }
    }

    /// Applies the first `count` events (all by default) in order; the first refused event stops with its
    /// line number, and no state is reported.
    func derive(path: String, count: Int? = nil) throws -> StateMachine {
        var machine = StateMachine()
        for (line, event) in events.prefix(count ?? events.count) {
            do {
                try machine.apply(event: event)
            } catch {
                throw CommandFailure("\(path): line \(line): \(event.type) refused: \(error.message)", cause: error)
            }
        }
        return machine
    }
}
