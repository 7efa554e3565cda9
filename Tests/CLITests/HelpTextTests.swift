import DSDNTestSupport
import Testing

/// Every command and subcommand explains itself with at least one example.
@Suite struct HelpTextTests {
    static let commands: [[String]] = [
        [], ["state"], ["state", "show"], ["generate"], ["events"], ["events", "import"], ["events", "publish"],
        ["events", "export"], ["rebuild"], ["verify"], ["serve"], ["node"], ["node", "register"], ["node", "unregister"],
        ["node", "stats"], ["chunk"], ["chunk", "declare"], ["chunk", "remove"], ["policy"], ["policy", "check"],
        ["policy", "test"], ["policy", "probe"], ["policy", "digest"], ["place"], ["da"], ["da", "commitment"],
        ["audit"], ["simulate"], ["experiment"],
    ]

    @Test(arguments: commands)
    func helpHasAnExample(command: [String]) async throws {
        let result = try await CoordinatorProcess.run(command + ["--help"])
        #expect(result.status == 0, "\(command): \(result.stderr)")
        #expect(result.stdout.contains("Example"), "\(command) --help has no example")
        #expect(result.stdout.contains("dsdn-coordinator"), "\(command) --help names no invocation")
    }
}
