import DSDNRuntime

// TEMPORARY: stands in for the publisher's own loop until it lands; deleted then.
extension EventPublisher {
    public func run() async {
        try? startFlusher()
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    public func waitUntilDrained() async throws {
        while backlog > 0 { try await Task.sleep(for: .milliseconds(20)) }
    }
}
