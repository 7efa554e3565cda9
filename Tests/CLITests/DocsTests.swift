import DSDNCore
import DSDNInterchange
import DSDNTestSupport
import Foundation
import Testing

/// The documentation's examples are real: they decode with the shipped code and re-encode identically.
@Suite struct DocsTests {
    @Test func everyJSONExampleInEventsDocIsAValidEvent() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/events.md"), encoding: .utf8)
        let examples = text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("{\"") && $0.contains("\"type\":") }
        let types = try examples.map { line in
            let event = try EventJSON.decode(line)
            #expect(EventJSON.encode(event) == line, "the writer's form of \(event.type) differs from the doc")
            return event.type
        }
        #expect(Set(types) == Set(EventType.allCases), "docs/events.md must show one example per event type")
    }

    @Test func goldenBlobInEventsDocMatchesTheVector() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/events.md"), encoding: .utf8)
        // The annotated header bytes of the golden blob appear in the doc.
        #expect(text.contains("676f6c64656e"))
        let checksumDoc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/state-checksum.md"), encoding: .utf8)
        #expect(checksumDoc.contains(GoldenVectors.historyChecksum))
        #expect(checksumDoc.contains(GoldenVectors.smallClusterChecksum))
    }

    /// Every test docs/reliability.md cites as proof exists: `SuiteName` as a suite, `SuiteName.test` as
    /// a test function (in any test file).
    @Test func everyTestCitedInTheReliabilityDocExists() throws {
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/reliability.md"), encoding: .utf8)
        let tests = try FileManager.default.subpathsOfDirectory(atPath: repositoryRoot.appendingPathComponent("Tests").path)
            .filter { $0.hasSuffix(".swift") }
            .map { try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/\($0)"), encoding: .utf8) }
            .joined(separator: "\n")
        let cited = doc.split(separator: "`").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            .filter { $0.range(of: #"^[A-Z][A-Za-z]+Tests(\.[a-z][A-Za-z]+)?$"#, options: .regularExpression) != nil }
        #expect(cited.count >= 15)
        for name in cited {
            let parts = name.split(separator: ".")
            #expect(tests.contains("struct \(parts[0])"), "docs/reliability.md cites \(parts[0]), which is no suite")
            if parts.count == 2 { #expect(tests.contains("func \(parts[1])("), "docs/reliability.md cites \(name), which is no test") }
        }
    }
}
