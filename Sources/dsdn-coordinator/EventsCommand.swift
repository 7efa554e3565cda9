import ArgumentParser
import DSDNCore
import DSDNDA
import DSDNInterchange
import DSDNJSON
import DSDNRuntime
import Foundation

/// `dsdn-coordinator events …`: move events between JSON Lines files, the DA and a running coordinator.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Move events (JSON Lines, docs/events.md) between files, the DA and a running coordinator.",
        discussion: """
            `import` publishes a file straight to the DA, `publish` posts it to a running coordinator's API, \
            and `export` writes the DA's applied history back out as JSON Lines.

            Examples:
              dsdn-coordinator events publish examples/small-cluster.jsonl --wait
              dsdn-coordinator events export --da file:.dsdn/da -o history.jsonl
            """,
        subcommands: [EventsImportCommand.self, EventsPublishCommand.self, EventsExportCommand.self]
    )
}

/// `events import FILE`: publish a JSON Lines history to the DA, all or nothing.
struct EventsImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Publish the events of a JSON Lines file to the DA.",
        discussion: """
            Rebuilds the current state from the DA first, then checks that every event of FILE applies on \
            top of it: the first one that would be refused stops the import with its line number, and \
            nothing is published. Events are published in blobs of --batch events under the publisher id, \
            with sequences continuing after the publisher's last one on the DA; the command returns once \
            every blob is durably in the log.

            Examples:
              dsdn-coordinator events import examples/small-cluster.jsonl --da file:.dsdn/da
              dsdn-coordinator generate --events 10000 | \\
                  dsdn-coordinator events import - --batch 500
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
            throw CommandFailure("\(da.address): \(error)", cause: error)
        }
        // Pre-flight: everything must apply on top of the current state, or nothing is published.
        var check = machine
        for (line, event) in history.events {
            do {
                try check.apply(event: event)
            } catch {
                throw CommandFailure("\(file): line \(line): \(event.type) refused: \(error.message) (nothing was published)", cause: error)
            }
        }
        // Pre-flight, second half: each event must encode into a blob under the size cap.
        let options = EventPublisher.Options(batchSize: batch, landingTimeout: da.landingTimeout, maxBacklog: max(1, history.events.count))
        for (line, event) in history.events {
            let size: Int
            do {
                size = try BlobCodec.encode(BlobEnvelope(publisherID: publisher, sequence: UInt64.max, events: [event])).count
            } catch {
                throw CommandFailure(
                    "\(file): line \(line): \(event.type) cannot be encoded: \(error) (nothing was published)", cause: error)
            }
            guard size <= options.maxBlobBytes else {
                throw CommandFailure(
                    "\(file): line \(line): \(event.type) needs a \(size)-byte blob, over the \(options.maxBlobBytes)-byte cap (nothing was published)"
                )
            }
        }
        do {
            let publisher = try EventPublisher(
                da: log, namespace: namespace, publisherID: publisher,
                lastSequence: machine.state.cursor.publisherSequences[publisher] ?? 0, options: options)
            // All or nothing: the publisher checks every event before it takes any.
            let tickets = try await publisher.enqueue(history.events.map(\.event))
            await publisher.stop()
            var heights: [UInt64] = []
            for ticket in tickets { heights.append(try await ticket.inclusion().reference.height) }
            machine = check
            let range = heights.isEmpty ? "nothing to publish" : "heights \(heights.min() ?? 0)…\(heights.max() ?? 0)"
            print("imported  \(history.events.count) events from \(file) as publisher \(self.publisher) (\(range))")
            print("da        \(da.address) namespace \(da.namespace)")
            print("checksum  \(machine.state.checksum().hex)")
        } catch {
            throw CommandFailure("\(da.address): \(error)", cause: error)
        }
    }
}

/// `events publish FILE`: post a JSON Lines history to a running coordinator's API.
struct EventsPublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Post the events of a JSON Lines file to a running coordinator (POST /v1/events).",
        discussion: """
            Sends FILE in requests of at most --batch events (the API takes at most 1,000 per request) with \
            the bearer token. The coordinator checks each request against its state and everything it \
            accepted before, and accepts it all or nothing: the first request it refuses stops the command \
            with the file's line number of the refused event, and the events of earlier requests stay \
            accepted. With --wait, each request returns once its events are on the DA and applied. \
            A coordinator that answers 503 (backlog full, or not ready yet) is retried.

            Examples:
              dsdn-coordinator events publish examples/small-cluster.jsonl --wait
              dsdn-coordinator generate --events 5000 | \\
                  dsdn-coordinator events publish - --api http://10.0.0.5:45831 \\
                  --token-file token.txt --json
            """
    )

    /// The API's per-request limit.
    static let maxBatch = 1_000
    /// A request body bound well under the API's 1 MiB limit.
    static let maxRequestBytes = 768 * 1024

    @Argument(help: "The events file (JSON Lines), or - for standard input.")
    var file: String

    @OptionGroup var api: APIOptions

    @Option(help: "Events per request (at most 1000).")
    var batch: Int = EventsPublishCommand.maxBatch

    @Flag(help: "Wait until each request's events are on the DA and applied; print the heights.")
    var wait = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (1...Self.maxBatch).contains(batch) else {
            throw ValidationError("--batch must be from 1 to \(Self.maxBatch), got \(batch)")
        }
    }

    func run() async throws {
        let history = try HistoryInput(path: file)
        guard !history.events.isEmpty else { throw CommandFailure("\(file) holds no events (nothing to publish)") }
        let token = try api.token()
        let client = api.client
        var accepted = 0
        var requests = 0
        var heights: [UInt64] = []
        var sequences: [UInt64] = []
        var start = 0
        while start < history.events.count {
            // At most `batch` events, and a body well under the API's size limit.
            var end = start
            var bytes = 0
            while end < history.events.count, end - start < batch {
                let size = EventJSON.encode(history.events[end].event).utf8.count + 1
                if end > start, bytes + size > Self.maxRequestBytes { break }
                bytes += size
                end += 1
            }
            let slice = history.events[start..<end]
            do {
                let acceptance = try await client.postEvents(slice.map(\.event), token: token, wait: wait)
                accepted += acceptance.accepted
                if let height = acceptance.height { heights.append(height) }
                if let sequence = acceptance.sequence { sequences.append(sequence) }
            } catch let failure as APIFailure {
                throw describe(failure, slice: slice, acceptedBefore: accepted)
            }
            requests += 1
            start = end
        }
        if json {
            var object: [String: JSONValue] = [
                "accepted": JSONValue(accepted), "requests": JSONValue(requests), "file": JSONValue(file), "api": JSONValue(api.baseURL),
            ]
            if wait {
                object["heights"] = JSONValue(heights)
                object["sequences"] = JSONValue(sequences)
            }
            printJSON(object)
            return
        }
        print("published  \(accepted) events from \(file) to \(api.baseURL) in \(requests) request\(requests == 1 ? "" : "s")")
        if let low = heights.min(), let high = heights.max() {
            print("included   at heights \(low == high ? "\(low)" : "\(low)…\(high)")")
        } else {
            print("accepted   durable in the coordinator's outbox (--wait waits for the DA)")
        }
    }

    /// A refusal of one request, with the file line of the event the API names (`event N:`, N counted
    /// from 0 within the request).
    private func describe(_ failure: APIFailure, slice: ArraySlice<(line: Int, event: Event)>, acceptedBefore: Int) -> CommandFailure {
        let earlier =
            acceptedBefore == 0
            ? "nothing was accepted"
            : "\(acceptedBefore) event\(acceptedBefore == 1 ? "" : "s") before line \(slice.first?.line ?? 0) accepted, none from there on"
        if failure.status == 409 {
            // Accepted, then some of its events were refused on the DA (another coordinator changed the state).
            return CommandFailure(
                "\(failure) (the request from line \(slice.first?.line ?? 0) was accepted; the events named were then refused on the DA, its other events were applied)"
            )
        }
        guard failure.status == 422, let (index, rest) = Self.eventIndex(in: failure.message), index < slice.count else {
            return CommandFailure("\(failure) (\(earlier))")
        }
        let entry = slice[slice.startIndex + index]
        return CommandFailure(
            "\(file): line \(entry.line): \(entry.event.type) refused by the coordinator (API error \(failure.status) \(failure.code)): \(rest) (\(earlier))"
        )
    }

    /// The position and the rest of a message of the form `… event N: rest`.
    static func eventIndex(in message: String) -> (Int, String)? {
        guard let range = message.range(of: "event ") else { return nil }
        let digits = message[range.upperBound...].prefix { $0.isASCII && $0.isNumber }
        let after = message[range.upperBound...].dropFirst(digits.count)
        guard !digits.isEmpty, after.hasPrefix(":"), let index = Int(digits) else { return nil }
        return (index, after.dropFirst().trimmingCharacters(in: .whitespaces))
    }
}

/// `events export`: write the DA's applied events as JSON Lines.
struct EventsExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every event of every applied blob on the DA as JSON Lines, in canonical order.",
        discussion: """
            Replays the DA (read-only) exactly as `rebuild` does: heights in order, blobs in index order, \
            each verified against its DA commitment and offered to the state machine. The events of every \
            blob it applies are written, one per line, as EventJSON writes them; rejected and duplicate \
            blobs are skipped and counted on standard error. Heights before --from are replayed but not \
            written, so a blob's fate is the same as in a full rebuild.

            Round trip: `state FILE` of a full export (no --from) gives the checksum `rebuild` gives for the \
            same heights.

            Examples:
              dsdn-coordinator events export --da file:.dsdn/da -o history.jsonl
              dsdn-coordinator events export --da file:.dsdn/da --from 10 --to 20 | head
            """
    )

    @OptionGroup var da: DAOptions

    @Option(help: "The first height whose events are written.")
    var from: UInt64 = 1

    @Option(help: "The last height read (default: the head).")
    var to: UInt64?

    @Option(
        name: [.customShort("o"), .customLong("output")],
        help: ArgumentHelp("Write to this file instead of standard output (- is standard output).", valueName: "file"))
    var output: String?

    func validate() throws {
        guard from >= 1 else { throw ValidationError("--from must be at least 1 (heights start at 1)") }
        if let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
        if let output, output.isEmpty { throw ValidationError("-o needs a file name") }
    }

    /// Re-reads of a height whose blob does not match its commitment, as the rebuilder does.
    static let maxRereads = 5
    /// Attempts of a DA call that fails as unavailable.
    static let maxAttempts = 10

    func run() async throws {
        let log = try da.open(readOnly: true)
        defer { log.close() }
        let namespace = da.daNamespace
        let head: UInt64
        do {
            head = try await log.head()
        } catch {
            throw CommandFailure("\(da.address): \(error)", cause: error)
        }
        let last = to ?? head
        guard last <= head else { throw CommandFailure("\(da.address): --to \(last) is beyond the DA head \(head)") }
        let sink = try OutputSink(path: output == "-" ? nil : output)
        var machine = StateMachine()
        var applied = 0
        var duplicate = 0
        var rejected = 0
        var events = 0
        let total = last >= from ? last - from + 1 : 0
        // The rebuilder's path: heights in order, read ahead, each verified with the DA's own scheme.
        let follower = DAFollower(
            da: log, namespace: namespace,
            options: .init(
                persistence: .bounded(maxAttempts: Self.maxAttempts),
                backoff: Backoff(initial: .milliseconds(200), maximum: .seconds(2)),
                maxRereads: Self.maxRereads),
            purpose: "the export")
        do {
            try await follower.follow(from: 1, through: last) { verified in
                let height = verified.height
                for (blob, outcome) in verified.apply(to: &machine) {
                    guard height >= from else { continue }
                    switch outcome {
                    case .applied:
                        // The state machine has just decoded these very bytes, so decoding succeeds again.
                        let envelope: BlobEnvelope
                        do {
                            envelope = try BlobCodec.decode(blob.data)
                        } catch {
                            throw CommandFailure(
                                "\(da.address): blob \(height)/\(blob.reference.index) applied but does not decode: \(error)", cause: error)
                        }
                        var text = ""
                        for event in envelope.events {
                            text += EventJSON.encode(event)
                            text += "\n"
                        }
                        try sink.write(text)
                        applied += 1
                        events += envelope.events.count
                    case .duplicate: duplicate += 1
                    case .rejected: rejected += 1
                    case .outOfOrder:
                        throw CommandFailure("\(da.address): blob \(height)/\(blob.reference.index) is out of canonical order")
                    }
                }
                if height >= from {
                    ProgressBar.draw(label: "export", done: height - from + 1, total: total, height: height, events: UInt64(events))
                }
            }
            try sink.finish()
            ProgressBar.clear()
        } catch let error as RuntimeError {
            ProgressBar.clear()
            sink.abandon()
            throw CommandFailure("\(da.address): \(error.message)", cause: error)
        } catch {
            ProgressBar.clear()
            sink.abandon()
            throw error
        }
        let range = last >= from ? "heights \(from)…\(last)" : "no heights (the DA head is \(head))"
        let destination = output.flatMap { $0 == "-" ? nil : $0 } ?? "standard output"
        let summary = """
            exported \(events) events of \(applied) applied blobs from \(da.address) (\(range)) to \(destination); \
            skipped \(rejected) rejected and \(duplicate) duplicate blobs; state checksum at height \(last): \(machine.state.checksum().hex)

            """
        FileHandle.standardError.write(Data(summary.utf8))
    }
}
