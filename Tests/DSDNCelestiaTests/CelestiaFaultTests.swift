import CelestiaTestServer
import DSDNCelestia
import DSDNCore
import DSDNDA
import DSDNRuntime
import DSDNTestSupport
import Synchronization
import Testing

@testable import DSDNCelestia

/// Faults injected by the test server, seen through the client and the runtime.
@Suite struct CelestiaFaultTests {
    let events = Array(celestiaHistory.prefix(600))

    /// Publishes `events` to a fault-free server and returns the consumer's checksum: the clean run.
    func cleanRunChecksum() async throws -> Hash256 {
        try await withServer { server in
            try await withClient(server) { da in
                try await publish(events, to: da)
                let consumer = try await consume(da, through: try await da.head())
                return await consumer.checksum()
            }
        }
    }

    // MARK: - Submit times out but lands

    /// The client times out while the node still includes the blob (the response stalls). The backend
    /// reports the ambiguous failure; the publisher (the one owner of that recovery) waits for a block,
    /// finds the blob by its share commitment and does not resubmit: one copy, same state as a clean run.
    @Test func submitThatTimesOutButLandsLeavesExactlyOneCopy() async throws {
        let clean = try await cleanRunChecksum()
        #expect(clean == (try directChecksum(events)))
        try await withServer { server in
            await server.injectSubmitTimeouts(2, mode: .stall)
            let options = testOptions(submitTimeout: .milliseconds(500))
            try await withClient(server, options: options) { da in
                let publisher = try await publish(events, to: da)
                let published = await publisher.counters
                #expect(published.blobsPublished == 12)
                #expect(published.eventsFailed == 0)

                // Every timeout here landed (on a loaded machine an unstalled submit may time out
                // too): each was found on chain by the publisher, none resubmitted.
                let counters = await da.counters
                #expect(counters.ambiguousFailures >= 2)
                #expect(published.landedDespiteFailure == counters.ambiguousFailures)
                #expect(published.resubmissions == 0)
                let statistics = await server.statistics()
                #expect(statistics.stalledSubmits == 2)
                #expect(statistics.calls("blob.Submit") == 12)

                let stored = await server.storedBlobs(of: celestiaTestNamespace)
                #expect(stored.count == 12)
                #expect(Set(stored.map(\.data)).count == 12)

                let consumer = try await consume(da, through: try await da.head())
                #expect(await consumer.checksum() == clean)
                #expect(await consumer.counters.delivery.blobsDuplicate == 0)
            }
        }
    }

    /// The backend submits once and says when a failed submit may still land; it never retries itself.
    @Test func anAmbiguousFailureIsReportedOnceAndNotRetriedByTheBackend() async throws {
        try await withServer { server in
            await server.injectSubmitTimeouts(1, mode: .stall)
            let options = testOptions(submitTimeout: .milliseconds(500))
            try await withClient(server, options: options) { da in
                let blob = sampleBlob(42)
                let first = await daError { try await da.submit(blob, to: celestiaTestNamespace) }
                #expect(first?.code == .unavailable)
                #expect(first?.message.contains("timed out after 500 ms") == true)
                #expect(first?.message.contains("may still land") == true)
                let counters = await da.counters
                #expect(counters.ambiguousFailures == 1)
                #expect(counters.submitCalls == 1)
            }
        }
    }

    /// `context deadline exceeded`: the node's wait for the transaction ends while it is still in the
    /// mempool, and it lands in the next block. The publisher waits for that block before deciding.
    @Test func contextDeadlineWhileTheTransactionIsPendingStillLandsOnce() async throws {
        try await withServer { server in
            await server.injectSubmitTimeouts(3, mode: .error)
            try await withClient(server) { da in
                let publisher = try await publish(events, to: da)
                #expect(await publisher.counters.blobsPublished == 12)
                #expect(await server.statistics().timedOutSubmits == 3)
                let stored = await server.storedBlobs(of: celestiaTestNamespace)
                #expect(stored.count == 12)
                #expect(Set(stored.map(\.data)).count == 12)
                #expect(await da.counters.ambiguousFailures == 3)
                #expect(await publisher.counters.landedDespiteFailure == 3)
                #expect(await publisher.counters.resubmissions == 0)
                let (_, report) = try await rebuilder(da).rebuild(expectedChecksum: try directChecksum(events))
                #expect(report.counts.blobsDuplicate == 0)
                #expect(report.counts.eventsApplied == UInt64(events.count))
            }
        }
    }

    /// `incorrect account sequence` is a definite failure (nothing was accepted): the backend reports it
    /// with the node's words, and the publisher's retry posts the blob once.
    @Test func sequenceMismatchesAreRetriedWithoutCopies() async throws {
        try await withServer { server in
            await server.injectSequenceMismatches(1)
            try await withClient(server) { da in
                let error = await daError { try await da.submit(sampleBlob(8), to: celestiaTestNamespace) }
                #expect(error?.code == .unavailable)
                #expect(error?.message.contains("incorrect account sequence") == true)
                #expect(await da.counters.ambiguousFailures == 0)
            }
            await server.injectSequenceMismatches(2)
            try await withClient(server) { da in
                let events = Array(self.events.prefix(50))
                let publisher = try await publish(events, to: da)
                #expect(await publisher.counters.blobsPublished == 1)
                #expect(await publisher.counters.submitFailures == 2)
                #expect(await da.counters.ambiguousFailures == 0)
                let stored = await server.storedBlobs(of: celestiaTestNamespace)
                #expect(stored.count == 1)
                #expect(await server.statistics().sequenceMismatches == 3)
            }
        }
    }

    /// An unfunded signing key and an execution-code rejection are definite: nothing landed and the same
    /// transaction fails the same way, so the client reports each in one line with what to fix, and the
    /// publisher stops at once, never waiting a block and scanning for the blob.
    @Test func unfundedKeyAndExecutionRejectionsAreDefinite() async throws {
        try await withServer { server in
            await server.updateFaults { $0.unfundedKey = true }
            try await withClient(server) { da in
                let error = await daError { try await da.submit(sampleBlob(8), to: celestiaTestNamespace) }
                #expect(error?.code == .unauthorized)
                #expect(error?.isRetryable == false)
                #expect(error?.message.contains("has no account on chain") == true, "\(String(describing: error))")
                #expect(error?.message.contains("fund that address") == true)
                #expect(error?.message.contains("\n") == false)
                #expect(await da.counters.ambiguousFailures == 0)
            }
            await server.updateFaults {
                $0.unfundedKey = false
                $0.executionRejections = 1
                $0.executionCode = 13
            }
            try await withClient(server) { da in
                let error = await daError { try await da.submit(sampleBlob(8), to: celestiaTestNamespace) }
                #expect(error?.code == .invalidRequest)
                #expect(error?.isRetryable == false)
                #expect(error?.message.contains("execution code 13") == true, "\(String(describing: error))")
                #expect(error?.message.contains("nothing landed") == true)
                #expect(await da.counters.ambiguousFailures == 0)
            }
            // Through the publisher: one submit, a definite failure, no scan for the blob.
            await server.updateFaults { $0.executionRejections = 1 }
            let before = await server.statistics()
            try await withClient(server) { da in
                let publisher = try EventPublisher(
                    da: da, namespace: celestiaTestNamespace, publisherID: "coordinator-1",
                    options: .init(
                        batchSize: 50, flushInterval: .seconds(5), maxBlobBytes: 2 * 1024 * 1024, maxAttempts: nil,
                        backoff: .standard, sleeper: immediateSleeper, landingTimeout: .seconds(10)))
                let ticket = try await publisher.enqueue(self.events[0])
                await publisher.flush()
                await #expect(throws: (any Error).self) { _ = try await ticket.inclusion() }
                #expect(await publisher.counters.submitAttempts == 1)
            }
            let after = await server.statistics()
            #expect(after.executionRejections == before.executionRejections + 1)
            #expect(after.calls("blob.GetAll") == before.calls("blob.GetAll"))
            #expect(after.calls("blob.Get") == before.calls("blob.Get"))
            #expect(await server.storedBlobs(of: celestiaTestNamespace).isEmpty)
        }
    }

    /// A light node 5 heights behind the consensus node: `blob.Submit` reports a height the node has not
    /// reached. The client waits for this node's own head before reading the blob back, so every submit
    /// succeeds at once, and publishing then following reaches the clean run's state.
    @Test func lightNodeBehindTheConsensusNodePublishesAndReadsBack() async throws {
        let clean = try await cleanRunChecksum()
        try await withServer(blockTime: .milliseconds(100), faults: CelestiaFaults(localHeadLag: 5)) { server in
            try await withClient(server) { da in
                let reference = try await da.submit(sampleBlob(8), to: celestiaTestNamespace)
                #expect(reference.height >= 1)
                #expect(await server.statistics().calls("header.WaitForHeight") >= 1)
                let publisher = try await publish(self.events, to: da)
                #expect(await publisher.counters.submitFailures == 0)
                #expect(await da.counters.ambiguousFailures == 0)
            }
        }
        // The same events alone, behind a lagging node: the followed state is the clean run's.
        try await withServer(blockTime: .milliseconds(50), faults: CelestiaFaults(localHeadLag: 3)) { server in
            try await withClient(server) { da in
                try await publish(self.events, to: da)
                let consumer = try await consume(da, through: try await da.head())
                #expect(await consumer.checksum() == clean)
            }
        }
    }

    @Test func definiteMessagesAreClassifiedFromTheNodesOwnWords() {
        let classifier = ErrorClassifier(endpoint: "node:26658", hasToken: true)
        let unfunded = classifier.classify(
            .rpc(code: 1, message: "account for signer celestia1abc not found"), method: "blob.Submit")
        #expect(unfunded.error.code == .unauthorized && !unfunded.ambiguous)
        for (message, code) in [
            ("tx with hash 0AB1 was rejected by the node with execution code: 11 and log: out of gas", "11"),
            ("tx execution failed with code 13: insufficient fee", "13"),
        ] {
            let classified = classifier.classify(.rpc(code: 1, message: message), method: "blob.Submit")
            #expect(classified.error.code == .invalidRequest, "\(message)")
            #expect(!classified.ambiguous, "\(message)")
            #expect(classified.error.message.contains("execution code \(code)"), "\(classified.error.message)")
        }
    }

    // MARK: - Random failures

    /// Half of all JSON-RPC calls fail (seeded): sequence mismatches, `context deadline exceeded` after
    /// which the blob lands anyway, HTTP 500s, `context deadline exceeded`. Publishing, following and
    /// rebuilding still converge on the clean run's state, and no blob is stored twice.
    @Test func halfOfAllCallsFailingConvergesToTheCleanChecksum() async throws {
        let clean = try await cleanRunChecksum()
        try await withServer(faults: CelestiaFaults(seed: 7, failurePerMillion: 500_000)) { server in
            try await withClient(server) { da in
                let publisher = try await publish(events, to: da)
                let published = await publisher.counters
                #expect(published.blobsPublished == 12)
                #expect(published.eventsFailed == 0)

                let statistics = await server.statistics()
                #expect(statistics.randomFailures > 0)
                let stored = await server.storedBlobs(of: celestiaTestNamespace)
                #expect(stored.count == 12)
                #expect(Set(stored.map(\.data)).count == 12)

                // The server's own head: the client's calls fail half of the time.
                let consumer = try await consume(da, through: await server.head())
                #expect(await consumer.checksum() == clean)
                #expect(await consumer.counters.daErrors > 0)

                let (_, report) = try await rebuilder(da, maxAttempts: 60).rebuild(expectedChecksum: clean)
                #expect(report.daRetries > 0)
                #expect(report.counts.blobsDuplicate == 0)
            }
        }
    }

    @Test func slowResponsesOnlySlowThingsDown() async throws {
        try await withServer(faults: CelestiaFaults(latency: .milliseconds(5))) { server in
            try await withClient(server) { da in
                let events = Array(self.events.prefix(100))
                try await publish(events, to: da)
                let (_, report) = try await rebuilder(da).rebuild(expectedChecksum: try directChecksum(events))
                #expect(report.counts.blobsApplied == 2)
            }
        }
    }

    // MARK: - Pruned history

    /// A namespace whose history begins after a light node's Tail: with its genesis height as
    /// `from-height`, rebuilding and following start there and reach the clean run's state; without it
    /// the first read is refused in one line that names the Tail and what to do.
    @Test func aGenesisHeightAfterTheTailIsFollowedFromThere() async throws {
        let clean = try await cleanRunChecksum()
        try await withServer { server in
            var genesis: UInt64 = 0
            while genesis < 8 { genesis = await server.produceBlock() }
            _ = try await withClient(server) { da in try await publish(self.events, to: da) }
            await server.setTail(genesis)
            var options = testOptions()
            options.fromHeight = genesis + 1
            try await withClient(server, options: options) { da in
                #expect(da.firstHeight == genesis + 1)
                let head = try await da.head()
                var machine = StateMachine()
                let report = try await rebuilder(da).rebuild(into: &machine, to: head)
                #expect(report.fromHeight == genesis + 1)
                #expect(machine.state.checksum() == clean)
                let consumer = try await consume(da, through: head)
                #expect(await consumer.checksum() == clean)
            }
            try await withClient(server) { da in
                let error = await runtimeError { try await consume(da, through: try await da.head()) }
                #expect(error?.code == .prunedHistory)
                #expect(error?.message.contains("from height \(genesis) on") == true, "\(String(describing: error))")
                #expect(error?.message.contains("from-height=H") == true)
                #expect(error?.message.contains("\n") == false)
            }
        }
    }

    /// Below the node's tail the rebuild stops with the explicit pruned error naming the height and
    /// the tail; it never skips ahead. From the tail on, the rest reads fine.
    @Test func prunedHistoryIsReportedAndNeverSkipped() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                let publisher = try await publish(events, to: da)
                #expect(await publisher.counters.blobsPublished == 12)
                let head = try await da.head()
                let tail = head - 3
                await server.setTail(tail)

                let read = await daError { try await da.blobs(of: celestiaTestNamespace, at: 1) }
                #expect(read?.code == .pruned)
                #expect(read?.message.contains("requested header (1) is below Tail (\(tail))") == true)

                do throws(RuntimeError) {
                    var machine = StateMachine()
                    _ = try await rebuilder(da).rebuild(into: &machine, to: head)
                    Issue.record("the rebuild of pruned history succeeded")
                } catch {
                    #expect(error.code == .prunedHistory)
                    #expect(error.height == 1)
                    #expect(error.message.contains("height 1 is pruned"))
                    #expect(error.message.contains("below Tail (\(tail))"))
                }
                // Nothing was applied past the gap: the rebuild stopped at its first height.
                let progressHeights = Mutex<[UInt64]>([])
                let partial = try? await rebuilder(da).rebuild(to: head) { progress in
                    progressHeights.withLock { $0.append(progress.height) }
                }
                #expect(partial == nil)
                #expect(progressHeights.withLock { $0.isEmpty })

                let consumerError = await runtimeError { try await consume(da, through: head) }
                #expect(consumerError?.code == .prunedHistory)

                // The retained part is readable.
                let (_, report) = try await rebuilder(da).rebuild(from: tail, to: head)
                #expect(report.heightsRead == 4)
                #expect(await server.statistics().prunedReads >= 3)
            }
        }
    }

    // MARK: - Auth

    static let rejected = "rejected the auth token (HTTP 401); check --token-file / CELESTIA_AUTH_TOKEN"

    @Test func aBadTokenIsOneClearLine() async throws {
        try await withServer { server in
            try await withClient(server, token: "not-the-token") { da in
                let expected = "celestia node at 127.0.0.1:\(server.port) \(Self.rejected)"
                let head = await daError { try await da.head() }
                #expect(head?.code == .unauthorized)
                #expect(head?.message == expected)
                #expect(head?.message.contains("\n") == false)
                #expect(head?.isRetryable == false)

                let submit = await daError { try await da.submit(sampleBlob(1), to: celestiaTestNamespace) }
                #expect(submit == head)
                let read = await daError { try await da.blobs(of: celestiaTestNamespace, at: 1) }
                #expect(read == head)

                let health = await da.health()
                #expect(!health.isReady)
                #expect(health.detail == expected)

                // The runtime stops instead of retrying forever, with the same line.
                let consumerError = await runtimeError { try await consume(da, through: 1) }
                #expect(consumerError?.code == .daFailure)
                #expect(consumerError?.message.contains(expected) == true)
                let publishError = await runtimeError { try await publish([celestiaHistory[0]], to: da) }
                #expect(publishError?.code == .daFailure)
                #expect(publishError?.message.contains(expected) == true)
                // Fail fast: one HTTP request per refused operation, no retries (the direct submit and
                // the publisher's each sent one blob.Submit, refused).
                #expect(await da.counters.submitCalls == 2)
            }
        }
    }

    @Test func a401ForEverythingIsTheSameLine() async throws {
        try await withServer { server in
            await server.setUnauthorized(true)
            try await withClient(server) { da in
                let error = await daError { try await da.head() }
                #expect(error == DAError(.unauthorized, "celestia node at 127.0.0.1:\(server.port) \(Self.rejected)"))
            }
            await server.setUnauthorized(false)
            try await withClient(server) { da in
                let head = try await da.head()
                #expect(head >= 1)
            }
        }
    }

    @Test func missingOrReadOnlyTokensSayWhatToFix() async throws {
        try await withServer(readToken: "reader") { server in
            try await withClient(server, token: nil) { da in
                let error = await daError { try await da.head() }
                #expect(error?.code == .unauthorized)
                #expect(error?.message.contains("missing permission to invoke 'LocalHead' (need 'read')") == true)
                #expect(error?.message.contains("no auth token was given") == true)
            }
            try await withClient(server, token: "reader") { da in
                let head = try await da.head()
                #expect(head >= 1)
                let error = await daError { try await da.submit(sampleBlob(3), to: celestiaTestNamespace) }
                #expect(error?.code == .unauthorized)
                #expect(error?.message.contains("(need 'write')") == true)
                #expect(error?.message.contains("celestia light auth write") == true)
                #expect(await server.statistics().calls("blob.Submit") == 1)
            }
        }
    }

    // MARK: - Classification of node messages (docs/celestia.md §6, §7)

    @Test(arguments: [
        ("blob: not found", DAError.Code.unavailable, true),
        ("header: given height is from the future: networkHeight: 5, requestedHeight: 9", .heightFromFuture, false),
        ("header: syncing in progress: localHeadHeight: 5, requestedHeight: 6", .unavailable, false),
        ("requested header (3) is below Tail (10)", .pruned, false),
        ("account sequence mismatch, expected 12, got 11: incorrect account sequence", .unavailable, false),
        ("tx already in mempool", .unavailable, true),
        ("context deadline exceeded", .unavailable, true),
        ("exceeds max gas price", .unavailable, false),
        ("insufficient minimum gas price for this node", .unavailable, false),
        ("blob(s) too large", .blobTooLarge, false),
        ("total blob size too large", .blobTooLarge, false),
        ("transaction size exceeds maximum", .blobTooLarge, false),
        ("out of gas in location: ReadFlat", .unavailable, false),
        ("node is running without state access", .unauthorized, false),
        ("missing permission to invoke 'Submit' (need 'write')", .unauthorized, false),
        ("invalid namespace length: 28. Must be 29 bytes", .invalidNamespace, false),
        ("namespace ID must start with 18 leading zeros", .invalidNamespace, false),
        ("invalid data namespace: reserved data is forbidden", .invalidNamespace, false),
    ])
    func nodeMessagesAreClassified(message: String, code: DAError.Code, ambiguous: Bool) {
        let classifier = ErrorClassifier(endpoint: "node:26658", hasToken: true)
        let classified = classifier.classify(.rpc(code: 1, message: message), method: "blob.Submit")
        #expect(classified.error.code == code)
        #expect(classified.ambiguous == ambiguous)
        #expect(classified.error.message.contains(message))
    }

    @Test func protocolErrorsAreClassified() {
        let classifier = ErrorClassifier(endpoint: "node:26658", hasToken: true)
        #expect(classifier.classify(.rpc(code: -32601, message: "method 'x' not found"), method: "x").error.code == .invalidRequest)
        #expect(classifier.classify(.rpc(code: -32602, message: "wrong param count"), method: "x").error.code == .invalidRequest)
        #expect(
            classifier.classify(.rpc(code: -32700, message: "request bigger than maximum 16777216 allowed"), method: "x").error.code
                == .blobTooLarge)
        #expect(classifier.classify(.rpc(code: 0, message: "panic in rpc method 'blob.Submit'"), method: "x").error.code == .invalidRequest)
        let timeout = classifier.classify(.timedOut(.seconds(90)), method: "blob.Submit")
        #expect(timeout.ambiguous)
        #expect(timeout.error.message == "blob.Submit to celestia node at node:26658 timed out after 90 s")
        #expect(!classifier.classify(.unreachable("refused"), method: "blob.Submit").ambiguous)
        #expect(classifier.classify(.httpStatus(502, "(empty body)"), method: "x").error.code == .unavailable)
        #expect(ErrorClassifier.tail(in: "requested header (3) is below Tail (10)") == 10)
    }

    @Test func anUnreachableNodeIsUnavailable() async throws {
        // Port 1 (tcpmux) is privileged and unused on any machine these tests run on: connections are refused.
        let port = 1
        let address = CelestiaAddress(host: "127.0.0.1", port: port, namespace: celestiaTestNamespace, options: testOptions())
        let da = CelestiaDA(address: address, token: nil, logger: quietLogger)
        let error = await daError { try await da.head() }
        #expect(error?.code == .unavailable)
        #expect(error?.message.hasPrefix("cannot reach celestia node at 127.0.0.1:\(port)") == true)
        let health = await da.health()
        #expect(!health.isReady)
        await da.close()
        let closed = await daError { try await da.head() }
        #expect(closed?.message.contains("is closed") == true)
    }
}
