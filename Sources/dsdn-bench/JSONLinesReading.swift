import DSDNCore
import DSDNInterchange
import DSDNSimulation
import Foundation

/// Reading events from JSON Lines (`events import`, `state`, experiments over exported histories).
/// Baseline: writing the same events as JSON Lines, which touches the same bytes and builds no events.
func jsonLinesReading(events count: Int) throws {
    let events = SyntheticHistory.events(.init(seed: 4, eventCount: count, nodeCount: 5_000, zoneCount: 10))
    var text = ""
    let writing = seconds {
        text = events.map(EventJSON.encode).joined(separator: "\n")
    }
    var read: [Event] = []
    var readings: [Double] = []
    for _ in 0..<3 {
        read = []
        readings.append(try seconds { read = try EventJSON.decodeLines(text) })
    }
    readings.sort()
    let reading = readings[1]
    precondition(read == events, "JSON Lines must read back the events written")
    let rate = Double(events.count) / reading
    say("jsonl       \(events.count) events, \(text.utf8.count / 1_048_576) MiB of JSON Lines")
    say("  write                \(Int(Double(events.count) / writing)) events/s   (baseline)")
    say(
        "  read                 \(Int(rate)) events/s   ratio to writing \(String(format: "%.2f", writing / reading))   (median of 3: \(Int(Double(events.count) / readings[2]))–\(Int(Double(events.count) / readings[0])))"
    )
    say("  target 500,000/s     ratio \(String(format: "%.2f", rate / 500_000)) (1 or more meets it)")
    benchReport.record(["jsonl", "read_events_per_second"], rate)
    benchReport.record(["jsonl", "baseline_write_events_per_second"], Double(events.count) / writing)
}
