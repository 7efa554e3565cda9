import DSDNCore
import DSDNSimulation
import DSDNTestSupport
import Testing

/// The state checksum of a fixed 12,000-event history, pinned. A second process computes it through the
/// executable in CLITests.
@Suite struct GoldenChecksumTests {
    @Test func fixedHistoryChecksumIsPinned() throws {
        let events = SyntheticHistory.events(GoldenVectors.historyParameters)
        #expect(events.count == 12_000)
        let machine = try Fixtures.machine(events)
        #expect(machine.state.checksum().hex == GoldenVectors.historyChecksum)
    }

    @Test func checksumDoesNotDependOnInsertionOrder() throws {
        // Independent nodes and chunks declared in opposite orders reach the same state.
        var forward: [Event] = []
        for index in 0..<200 {
            forward.append(Fixtures.register("node-\(index)", zone: "zone-\(index % 7)", capacity: UInt64(index) * 1_000))
            forward.append(Fixtures.declare(Fixtures.hash(UInt8(index)), size: UInt64(index + 1)))
        }
        let reversed = Array(forward.reversed())
        #expect(try Fixtures.machine(forward).state.checksum() == Fixtures.machine(reversed).state.checksum())
    }

    @Test func differentContentGivesADifferentChecksum() throws {
        let base = try Fixtures.machine([Fixtures.register("n1")]).state.checksum()
        #expect(try Fixtures.machine([Fixtures.register("n1", capacity: 2)]).state.checksum() != base)
        #expect(try Fixtures.machine([Fixtures.register("n1", zone: "b")]).state.checksum() != base)
        #expect(try Fixtures.machine([Fixtures.register("n2")]).state.checksum() != base)
        #expect(
            try Fixtures.machine([Fixtures.register("n1"), .nodeStatusChanged(nodeID: "n1", status: .draining)]).state.checksum() != base)
        #expect(StateMachine().state.checksum() != base)
    }

    @Test func aRolledBackBlobLeavesNoTraceInLaterOutput() throws {
        // A rolled-back blob may intern names; they must not show up or reorder anything.
        let history = SyntheticHistory.events(.init(seed: 8, eventCount: 1_000))
        var clean = StateMachine()
        var dirty = StateMachine()
        try dirty.apply(events: history.prefix(10).map { $0 })
        #expect(throws: ApplyError.self) {
            try dirty.apply(events: [
                Fixtures.register("zzz-phantom", zone: "phantom-zone"), Fixtures.replica(Fixtures.hash(0), on: "x", index: 0),
            ])
        }
        try dirty.apply(events: history.dropFirst(10).map { $0 })
        try clean.apply(events: history)
        #expect(dirty.state.checksum() == clean.state.checksum())
        #expect(dirty.state.zones() == clean.state.zones())
        #expect(dirty.state.allNodes() == clean.state.allNodes())
    }
}
