import DSDNExperiment
import DSDNJSON
import DSDNTestSupport
import Foundation
import Testing

/// `simulate` and `experiment` through the executable: deterministic reports in separate processes,
/// the recorded policy reproducing its own history, bad input in one line, and the HTML report drawn by
/// headless Chromium.
@Suite struct ExperimentCommandTests {
    /// A simulated small history on a file-log DA.
    static func simulated(in directory: TemporaryDirectory, events: Int = 3_000) async throws -> String {
        let da = "file:" + directory.path("da")
        let simulated = try await CoordinatorProcess.run(["simulate", "--preset", "small", "--events", "\(events)", "--out", da])
        #expect(simulated.status == 0, "\(simulated.stderr)")
        return da
    }

    static func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test func reportIsIdenticalInTwoProcessesAndTheRecordedPolicyReproducesItsHistory() async throws {
        let directory = try TemporaryDirectory()
        let da = try await Self.simulated(in: directory)
        // The simulated placements carry full provenance: audit re-executes every one.
        let audit = try await CoordinatorProcess.run(["audit", "--da", da])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        #expect(audit.stdout.contains("0 mismatching"))

        var reports: [String] = []
        for run in ["one", "two"] {
            let result = try await CoordinatorProcess.run([
                "experiment", "--history", da, "--policy", "weighted-score", "--policy", "zone-spread", "--fail", "zone-1@20",
                "--out", directory.path(run),
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("fill stddev"))
            #expect(result.stdout.contains("weighted-score@2"))
            reports.append(try Self.read(directory.path(run) + "/report.json"))
            let timings = try JSONDecoder().decode(JSONValue.self, from: Data(try Self.read(directory.path(run) + "/timings.json").utf8))
            #expect(timings["arms"]?.array?.count == 3)
        }
        #expect(reports[0] == reports[1])
        #expect(!reports[0].contains("decisions_per_second"))

        // Without edits, the policy that made the history decides exactly what was recorded.
        let same = try await CoordinatorProcess.run(["experiment", "--history", da, "--policy", "weighted-score@2", "--json"])
        #expect(same.status == 0, "\(same.stderr)")
        let report = try JSONDecoder().decode(ExperimentReport.self, from: Data(same.stdout.utf8), keyDecoding: true)
        let arm = try #require(report.arms.first { $0.kind == "policy" })
        #expect(arm.origin == "history weighted-score@2")
        #expect(arm.differsFromRecorded == 0)
        #expect(arm.decisions.replicasPlaced == report.arms[0].decisions.replicasPlaced)
        #expect(arm.decisions.decisions > 0)
    }

    @Test func jsonLinesHistories() async throws {
        let directory = try TemporaryDirectory()
        var outputs: [String] = []
        for name in ["a.jsonl", "b.jsonl"] {
            let result = try await CoordinatorProcess.run([
                "simulate", "--preset", "small", "--events", "1500", "--out", directory.path(name),
            ])
            #expect(result.status == 0, "\(result.stderr)")
            outputs.append(try Self.read(directory.path(name)))
        }
        #expect(outputs[0] == outputs[1])
        let lines = outputs[0].split(separator: "\n").count
        #expect(lines >= 1500 && lines < 1700, "\(lines) events")
        let result = try await CoordinatorProcess.run([
            "experiment", "--history", directory.path("a.jsonl"), "--policy", "zone-spread", "--events-per-height", "50", "--from", "5",
            "--add-nodes", "4@10", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONDecoder().decode(ExperimentReport.self, from: Data(result.stdout.utf8), keyDecoding: true)
        #expect(report.history.to == UInt64((lines + 49) / 50))
        #expect(report.history.from == 5)
        #expect(report.whatIf == ["add-nodes 4@10"])
        let recorded = report.arms[0].fill.nodes
        #expect(report.arms[2].fill.nodes == recorded + 4)
    }

    @Test func badInputGetsOneLine() async throws {
        let directory = try TemporaryDirectory()
        let da = try await Self.simulated(in: directory, events: 500)
        let garbage = directory.path("garbage.jsonl")
        try "{\"type\":\"NodeRegistered\"\nnot json\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--history", da, "--policy", "no-such-policy"], "no pack policy or file named no-such-policy"),
            (["--history", da, "--policy", "weighted-score@9"], "weighted-score@9 is not published"),
            (["--history", garbage, "--policy", "zone-spread"], "garbage.jsonl: line 1"),
            (["--history", da, "--policy", "zone-spread", "--to", "100000"], "--to 100000 is beyond the end"),
            (["--history", da, "--policy", "zone-spread", "--from", "100000"], "--from 100000 is beyond the end"),
            (["--history", da, "--policy", "zone-spread", "--fail", "nobody@3"], "no registered node or zone is named nobody"),
            (["--history", da, "--policy", "zone-spread", "--fail", "zone-1@100000"], "outside the heights replayed"),
            (["--history", da, "--policy", "zone-spread", "--fail", "zone-1"], "expected NODE|ZONE@HEIGHT"),
            (["--history", da, "--policy", "zone-spread", "--add-nodes", "0@3"], "the count must be from 1"),
            (["--history", "file:" + directory.path("empty"), "--policy", "zone-spread"], "does not exist"),
            (["--history", da, "--policy", "zone-spread", "--namespace", "other"], "has no events in namespace other"),
            (["--history", da, "--policy", "zone-spread", "--out", garbage], "is not a directory"),
            (["--history", da, "--policy", "zone-spread", "--fail", "zone-1@05"], "expected NODE|ZONE@HEIGHT"),
            (["--history", da, "--policy", "zone-spread", "--fail", "zone-1@+5"], "expected NODE|ZONE@HEIGHT"),
            (
                ["--history", da, "--policy", "zone-spread", "--fail", String(repeating: "x", count: 5_000) + "@3"],
                "is not a node or zone id"
            ),
            (["--history", da], "at least one --policy"),
        ]
        for (arguments, expected) in cases {
            let result = try await CoordinatorProcess.run(["experiment"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            // Argument errors come with ArgumentParser's usage; every other refusal is one line.
            if !expected.contains("--policy") {
                let lines = result.stderr.split(separator: "\n").filter { !$0.isEmpty }
                #expect(lines.count == 1, "\(arguments): \(result.stderr)")
            }
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(arguments)")
            #expect(result.stderr.utf8.count < 1_000, "\(arguments): a long value is cut in the message")
        }
        // simulate refuses to write over a history, a file or a directory.
        let again = try await CoordinatorProcess.run(["simulate", "--preset", "small", "--out", da])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already holds"), "\(again.stderr)")
        let folder = directory.path("kept.jsonl")
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        try "precious".write(toFile: folder + "/sub/data.txt", atomically: true, encoding: .utf8)
        for target in [folder, garbage] {
            let refused = try await CoordinatorProcess.run(["simulate", "--preset", "small", "--events", "10", "--out", target])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("already exists"), "\(refused.stderr)")
        }
        #expect(try String(contentsOfFile: folder + "/sub/data.txt", encoding: .utf8) == "precious")
        #expect(try String(contentsOfFile: garbage, encoding: .utf8).hasPrefix("{\"type\""))
    }

    /// The HTML report opens with no network and its charts are drawn: Chromium renders it and every
    /// chart's plot area holds pixels of the policy arms' colours.
    @Test(.enabled(if: HeadlessChromium.executable() != nil, "Chromium not installed (apt-get install chromium)"))
    func htmlReportRendersInChromium() async throws {
        let directory = try TemporaryDirectory()
        let da = try await Self.simulated(in: directory)
        let result = try await CoordinatorProcess.run([
            "experiment", "--history", da, "--policy", "weighted-score", "--policy", "zone-spread", "--out", directory.path("report"),
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let html = try Self.read(directory.path("report") + "/report.html")
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.hasSuffix("</html>\n"))
        // Self-contained: no script and nothing fetched (the one URL is the SVG namespace's name).
        #expect(!html.contains("<script"))
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").range(of: "http") == nil)
        #expect(html.components(separatedBy: "<svg ").count - 1 == ExperimentRendering.charts.count)
        #expect(html.components(separatedBy: "</svg>").count - 1 == ExperimentRendering.charts.count)

        let last = try #require(ExperimentRendering.charts.last)
        let image = try await offThePool {
            try HeadlessChromium.screenshot(
                of: directory.path("report") + "/report.html", width: ExperimentRendering.pageWidth, height: last.y + last.height + 40)
        }
        let colors = [2, 3].map { ExperimentRendering.color(ofArm: $0) }.map(Self.rgb)
        for chart in ExperimentRendering.charts {
            var counts = [0, 0]
            var nonWhite = 0
            // The plot area: inside the chart's frame, below its title.
            for y in stride(from: chart.y + 30, to: chart.y + chart.height - 30, by: 1) {
                for x in stride(from: chart.x + 60, to: chart.x + chart.width - 20, by: 1) {
                    let pixel = image.pixel(x: x, y: y)
                    if pixel.r < 250 || pixel.g < 250 || pixel.b < 250 { nonWhite += 1 }
                    for (index, color) in colors.enumerated() where Self.near(pixel, color) { counts[index] += 1 }
                }
            }
            #expect(nonWhite > 500, "\(chart.id): \(nonWhite) drawn pixels")
            #expect(counts.allSatisfy { $0 > 20 }, "\(chart.id): pixels of each policy's colour \(counts)")
        }
        // Outside the charts' frames, the page is the background (left margin).
        #expect(Self.near(image.pixel(x: 5, y: last.y + 100), (255, 255, 255)))
    }

    static func rgb(_ hex: String) -> (UInt8, UInt8, UInt8) {
        let value = UInt32(hex.dropFirst(), radix: 16) ?? 0
        return (UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF))
    }

    static func near(_ pixel: (r: UInt8, g: UInt8, b: UInt8, a: UInt8), _ color: (UInt8, UInt8, UInt8)) -> Bool {
        abs(Int(pixel.r) - Int(color.0)) <= 3 && abs(Int(pixel.g) - Int(color.1)) <= 3 && abs(Int(pixel.b) - Int(color.2)) <= 3
    }
}

extension JSONDecoder {
    /// Decodes snake_case JSON (the report's keys) into `type`.
    fileprivate func decode<T: Decodable>(_ type: T.Type, from data: Data, keyDecoding: Bool) throws -> T {
        keyDecodingStrategy = .convertFromSnakeCase
        return try decode(type, from: data)
    }
}

/// The walk-through of docs/experiments.md: its example history is what the documented command writes,
/// and the documented experiment runs on it.
@Suite struct ExperimentWalkthroughTests {
    @Test func exampleHistoryIsTheDocumentedCommandsOutput() async throws {
        let directory = try TemporaryDirectory()
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/experiments.md"), encoding: .utf8)
        #expect(doc.contains("dsdn-coordinator simulate --preset small --events 1200 --out examples/recorded-history.jsonl"))
        let made = try await CoordinatorProcess.run([
            "simulate", "--preset", "small", "--events", "1200", "--out", directory.path("history.jsonl"),
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let example = try String(
            contentsOf: repositoryRoot.appendingPathComponent("examples/recorded-history.jsonl"), encoding: .utf8)
        #expect(try String(contentsOfFile: directory.path("history.jsonl"), encoding: .utf8) == example)

        #expect(doc.contains("--policy weighted-score@2 --policy zone-spread --fail zone-3@10 --out report/"))
        let result = try await CoordinatorProcess.run([
            "experiment", "--history", repositoryRoot.appendingPathComponent("examples/recorded-history.jsonl").path,
            "--events-per-height", "40", "--policy", "weighted-score@2", "--policy", "zone-spread", "--fail", "zone-3@10",
            "--out", directory.path("report"),
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("what-if    fail zone-3@10"))
        #expect(FileManager.default.fileExists(atPath: directory.path("report/report.html")))
    }
}

extension ExperimentWalkthroughTests {
    /// `examples/experiments.sh` end to end at the small preset: simulate, audit, experiment, reports.
    @Test func experimentsScriptRunsTheSmallPreset() async throws {
        let directory = try TemporaryDirectory()
        let script = repositoryRoot.appendingPathComponent("examples/experiments.sh")
        let result = try await CoordinatorProcess.run(
            program: script, ["small", directory.path("run")], environment: ["DSDN_COORDINATOR": CoordinatorProcess.executableURL.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("0 mismatching"), "\(result.stdout)")
        #expect(result.stdout.contains("what-if    fail zone-1@30, add-nodes 20@40"), "\(result.stdout)")
        for name in ["report.json", "report.html", "timings.json"] {
            #expect(FileManager.default.fileExists(atPath: directory.path("run/report/\(name)")), "\(name)")
        }
        let bad = try await CoordinatorProcess.run(
            program: script, ["huge"], environment: ["DSDN_COORDINATOR": CoordinatorProcess.executableURL.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("must be small, medium or large"))
    }
}

/// A history on a Celestia node (the test server): the experiment reads it like a file log. The node
/// groups blobs into heights by its own clock, so only what does not depend on the grouping is compared
/// with the same events in a file: the recorded history's figures.
@Suite struct ExperimentOnCelestiaTests {
    @Test func celestiaHistoryReplaysAsTheJSONLinesFile() async throws {
        let directory = try TemporaryDirectory()
        let node = try await CelestiaServerProcess(directory: directory)
        let da = ["--da", node.address(namespace: "experiment"), "--da-token-file", node.tokenFile]
        let example = repositoryRoot.appendingPathComponent("examples/recorded-history.jsonl").path
        let imported = try await CoordinatorProcess.run(["events", "import", example, "--batch", "40"] + da)
        #expect(imported.status == 0, "\(imported.stderr)")

        let policies = ["--policy", "weighted-score@2", "--policy", "zone-spread", "--json"]
        let onNode = try await CoordinatorProcess.run(
            ["experiment", "--history", node.address(namespace: "experiment"), "--da-token-file", node.tokenFile] + policies)
        #expect(onNode.status == 0, "\(onNode.stderr)")
        let inFile = try await CoordinatorProcess.run(["experiment", "--history", example, "--events-per-height", "40"] + policies)
        #expect(inFile.status == 0, "\(inFile.stderr)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let one = try decoder.decode(ExperimentReport.self, from: Data(onNode.stdout.utf8))
        let two = try decoder.decode(ExperimentReport.self, from: Data(inFile.stdout.utf8))
        #expect(one.arms.map(\.label) == ["recorded", "random", "weighted-score@2", "zone-spread@2"])
        #expect(one.history.events == two.history.events)
        #expect(one.history.recordedPlacements == two.history.recordedPlacements)
        #expect(one.arms[0].fill == two.arms[0].fill)
        #expect(one.arms[0].chunks == two.arms[0].chunks)
        #expect(one.arms[0].zoneSpreadViolations == two.arms[0].zoneSpreadViolations)
        #expect(one.arms[0].zones == two.arms[0].zones)
        for arm in one.arms.dropFirst() {
            #expect(arm.decisions.decisions > 0, "\(arm.label)")
            #expect(arm.chunks == two.arms[0].chunks, "\(arm.label)")
        }
    }
}
