import ArgumentParser
import DSDNCore
import DSDNRuntime

/// `dsdn-coordinator events …`: move events between JSON Lines files and the DA.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Import events (JSON Lines, docs/events.md) into the DA.",
        subcommands: [EventsImportCommand.self]
    )
}

/// `events import FILE`: publish a JSON Lines history to the DA, all or nothing.
struct EventsImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Publish the events of a JSON Lines file to the DA.",
        discussion: """
            Rebuilds the current state from the DA first, then checks that every event of FILE applies on
            top of it: the first one that would be refused stops the import with its line number, and
            nothing is published. Events are published in blobs of --batch events under the publisher id,
            with sequences continuing after the publisher's last one on the DA; the command returns once
            every blob is durably in the log.

            Examples:
              dsdn-coordinator events import examples/small-cluster.jsonl --da file:.dsdn/da
              dsdn-coordinator generate --events 10000 | dsdn-coordinator events import - --batch 500
            """
    )

    @Argument(help: "The events file (JSON Lines), or - for standard input.")
    var file: String

    @OptionGroup var da: DAOptions

    @Option(help: "The publisher id the blobs carry.")
    var publisher: String = "import"

    @Option(help: "Events per blob.")
    var batch: Int = 100

    func validate() throws {
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be from 1 to 10000, got \(batch)") }
        do {
            try Validation.identifier(publisher, field: "--publisher")
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let history = try HistoryInput(path: file)
        let log = try da.open(readOnly: false)
        defer { log.close() }
        let namespace = da.daNamespace
        var machine: StateMachine
        do {
            machine = try await StateRebuilder(da: log, namespace: namespace).rebuild().machine
        } catch {
            throw CommandFailure("\(da.address): \(error)")
        }
        // Pre-flight: everything must apply on top of the current state, or nothing is published.
        var check = machine
        for (line, event) in history.events {
            do {
                try check.apply(event: event)
            } catch {
                throw CommandFailure("\(file): line \(line): \(event.type) refused: \(error.message) (nothing was published)")
            }
        }
        var tickets: [PublishTicket] = []
        do {
            let publisher = try EventPublisher(
                da: log, namespace: namespace, publisherID: publisher,
                lastSequence: machine.state.cursor.publisherSequences[publisher] ?? 0,
                options: EventPublisher.Options(batchSize: batch))
            for (_, event) in history.events { tickets.append(try await publisher.enqueue(event)) }
            await publisher.stop()
            var heights: [UInt64] = []
            for ticket in tickets { heights.append(try await ticket.inclusion().reference.height) }
            machine = check
            let range = heights.isEmpty ? "nothing to publish" : "heights \(heights.min() ?? 0)…\(heights.max() ?? 0)"
            print("imported  \(history.events.count) events from \(file) as publisher \(self.publisher) (\(range))")
            print("da        \(da.address) namespace \(da.namespace)")
            print("checksum  \(machine.state.checksum().hex)")
        } catch {
            throw CommandFailure("\(da.address): \(error)")
        }
    }
}
