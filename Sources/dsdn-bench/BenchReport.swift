import DSDNJSON
import Foundation
import Synchronization

/// The figures of one run, for `--json` (schema in docs/performance.md §2): scenario, then nested
/// names, then a number. Human-readable lines go to standard error in that mode.
final class BenchReport: Sendable {
    private let figures = Mutex<[String: JSONValue]>([:])
    private let json = Atomic<Bool>(false)

    /// Whether the run ends with the JSON document on standard output.
    var isJSON: Bool {
        get { json.load(ordering: .relaxed) }
        set { json.store(newValue, ordering: .relaxed) }
    }

    /// Records `value` at `path` (for example ["placement", "5000", "weighted-score", "p99_ms"]).
    func record(_ path: [String], _ value: Double) {
        guard !path.isEmpty else { return }
        let number: JSONValue = value.isFinite ? .double((value * 1_000).rounded() / 1_000) : .null
        figures.withLock { root in
            var object = JSONValue.object(root)
            Self.set(&object, path[...], number)
            if case let .object(updated) = object { root = updated }
        }
    }

    private static func set(_ node: inout JSONValue, _ path: ArraySlice<String>, _ value: JSONValue) {
        guard let key = path.first else {
            node = value
            return
        }
        var object: [String: JSONValue] = [:]
        if case let .object(existing) = node { object = existing }
        var child = object[key] ?? .object([:])
        set(&child, path.dropFirst(), value)
        object[key] = child
        node = .object(object)
    }

    /// The document: the schema version, the machine, and the figures by scenario.
    func document(arguments: [String]) throws -> String {
        let scenarios = figures.withLock { $0 }
        let document = JSONValue.object([
            "schema": .uint(1),
            "arguments": .array(arguments.map(JSONValue.string)),
            "machine": .object([
                "cores": .uint(UInt64(ProcessInfo.processInfo.activeProcessorCount)),
                "memory_bytes": .uint(ProcessInfo.processInfo.physicalMemory),
            ]),
            "scenarios": .object(scenarios),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }
}

/// The run's report.
let benchReport = BenchReport()

/// A human-readable line: standard output, or standard error when the run prints JSON.
func say(_ line: String) {
    if benchReport.isJSON {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    } else {
        print(line)
    }
}
