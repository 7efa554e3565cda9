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
}
