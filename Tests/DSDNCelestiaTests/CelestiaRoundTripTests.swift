import CelestiaTestServer
import DSDNCelestia
import DSDNCore
import DSDNDA
import DSDNTestSupport
import Testing

@testable import DSDNCelestia

/// Client ↔ server round trips on a real socket.
@Suite struct CelestiaRoundTripTests {
    @Test func submittedBlobsReadBackWithTheirShareCommitment() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                var references: [BlobReference] = []
                for tag in 0..<3 {
                    let blob = sampleBlob(tag, size: 200 + tag * 700)  // 1, 2 and 4 shares
                    let reference = try await da.submit(blob, to: celestiaTestNamespace)
                    #expect(reference.index == 0)
                    #expect(reference.commitment == ShareCommitment.compute(namespace: celestiaTestNamespace, data: blob))
                    references.append(reference)

                    let read = try await da.blobs(of: celestiaTestNamespace, at: reference.height)
                    #expect(read.map(\.data) == [blob])
                    #expect(read.map(\.reference) == [reference])
                }
                #expect(references.map(\.height) == references.map(\.height).sorted())
                #expect(Set(references.map(\.height)).count == 3)

                let stored = await server.storedBlobs(of: celestiaTestNamespace)
                #expect(stored.map(\.data) == (0..<3).map { sampleBlob($0, size: 200 + $0 * 700) })
                #expect(stored.map(\.commitment) == references.map(\.commitment))
                let counters = await da.counters
                #expect(counters.submitCalls == 3)
                #expect(counters.submitted == 3)
                #expect(counters.ambiguousFailures == 0)
            }
        }
    }

    @Test func emptyHeightsAndOtherNamespacesReadAsNoBlobs() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                let reference = try await da.submit(sampleBlob(1), to: celestiaTestNamespace)
                // Nothing else is posted, so the next height is empty: the node answers `null`.
                #expect(await server.waitForHeight(reference.height + 1))
                #expect(try await da.blobs(of: celestiaTestNamespace, at: reference.height + 1).isEmpty)
                // The height with our blob holds nothing in another namespace.
                #expect(try await da.blobs(of: DANamespace(name: "someone-else"), at: reference.height).isEmpty)
                // Height 1 exists from the start and is empty.
                #expect(try await da.blobs(of: celestiaTestNamespace, at: 1).isEmpty)
            }
        }
    }

    @Test func severalBlobsAtOneHeightAreIndexedInShareOrder() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                let other = DANamespace(name: "another-app")
                let first = sampleBlob(10, size: 900)
                let second = sampleBlob(11, size: 30)
                let before = await server.head()
                await server.postForeign([(celestiaTestNamespace, first), (other, sampleBlob(12)), (celestiaTestNamespace, second)])
                #expect(await server.waitForHeight(before + 2))
                var found: [DABlob] = []
                for height in (before + 1)...(before + 2) {
                    found += try await da.blobs(of: celestiaTestNamespace, at: height)
                }
                #expect(found.map(\.data) == [first, second])
                #expect(found.map(\.reference.index) == [0, 1])
                #expect(Set(found.map(\.reference.height)).count == 1)
                #expect(
                    found.map(\.reference.commitment)
                        == [first, second].map {
                            ShareCommitment.compute(namespace: celestiaTestNamespace, data: $0)
                        })
            }
        }
    }

    @Test func headHealthBalanceAndNewHeights() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                let head = try await da.head()
                #expect(head >= 1)
                let health = await da.health()
                #expect(health.isReady)
                #expect((health.head ?? 0) >= head)
                #expect(health.detail.contains("is ready at height"))
                let balance = try await da.balance()
                #expect(balance.denom == "utia")
                #expect(UInt64(balance.amount) != nil)

                // The stream is a wake-up signal: heights only grow.
                var heights = da.newHeights().makeAsyncIterator()
                let firstWake = await heights.next()
                let secondWake = await heights.next()
                #expect(firstWake != nil)
                #expect((secondWake ?? 0) > (firstWake ?? 0))
            }
        }
    }

    @Test func heightsBeyondTheHeadAreFromTheFuture() async throws {
        try await withServer(blockTime: .seconds(60)) { server in
            var options = testOptions()
            options.heightWaitTimeout = .milliseconds(100)
            try await withClient(server, options: options) { da in
                let head = try await da.head()
                let far = await daError { try await da.blobs(of: celestiaTestNamespace, at: head + 5) }
                #expect(far?.code == .heightFromFuture)
                // The next height is waited for (bounded), then reported as from the future.
                let next = await daError { try await da.blobs(of: celestiaTestNamespace, at: head + 1) }
                #expect(next?.code == .heightFromFuture)
                let zero = await daError { try await da.blobs(of: celestiaTestNamespace, at: 0) }
                #expect(zero?.code == .invalidRequest)
                // A block produced by hand is readable.
                let produced = await server.produceBlock()
                #expect(try await da.blobs(of: celestiaTestNamespace, at: produced).isEmpty)
            }
        }
    }

    @Test func tooLargeAndEmptyBlobsAreRefusedBeforeAnythingIsSent() async throws {
        try await withServer { server in
            var options = testOptions()
            options.maxBlobBytes = 4096
            try await withClient(server, options: options) { da in
                let large = await daError { try await da.submit([UInt8](repeating: 7, count: 4097), to: celestiaTestNamespace) }
                #expect(large?.code == .blobTooLarge)
                #expect(large?.message == "blob of 4097 bytes exceeds the 4096-byte cap (max-blob-bytes); split the batch")
                let empty = await daError { try await da.submit([], to: celestiaTestNamespace) }
                #expect(empty?.code == .invalidRequest)
                #expect(await server.statistics().calls("blob.Submit") == 0)
                // Exactly at the cap is fine.
                _ = try await da.submit([UInt8](repeating: 7, count: 4096), to: celestiaTestNamespace)
            }
        }
    }

    @Test func theNodesOwnSizeLimitIsBlobTooLarge() async throws {
        try await withServer(maxBodyBytes: 64 * 1024) { server in
            var options = testOptions()
            options.maxBlobBytes = 1024 * 1024
            try await withClient(server, options: options) { da in
                let error = await daError { try await da.submit([UInt8](repeating: 1, count: 100 * 1024), to: celestiaTestNamespace) }
                #expect(error?.code == .blobTooLarge)
                #expect(error?.message.contains("request bigger than maximum 65536 allowed") == true)
            }
        }
    }

    @Test func submitsAreSerializedAndEachLandsOnce() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                let blobs = (0..<6).map { sampleBlob(100 + $0) }
                let references = try await withThrowingTaskGroup(of: BlobReference.self) { group in
                    for blob in blobs { group.addTask { try await da.submit(blob, to: celestiaTestNamespace) } }
                    var all: [BlobReference] = []
                    for try await reference in group { all.append(reference) }
                    return all
                }
                #expect(references.count == 6)
                // One submission at a time: every blob got a height of its own.
                #expect(Set(references.map(\.height)).count == 6)
                let stored = await server.storedBlobs(of: celestiaTestNamespace)
                #expect(stored.count == 6)
                #expect(Set(stored.map(\.data)) == Set(blobs))
            }
        }
    }

    @Test func publishedEventsRebuildToTheDirectChecksum() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                let events = Array(celestiaHistory.prefix(300))
                let publisher = try await publish(events, to: da)
                #expect(await publisher.counters.blobsPublished == 6)
                let head = try await da.head()
                let consumer = try await consume(da, through: head)
                #expect(await consumer.checksum() == (try directChecksum(events)))
                let (_, report) = try await rebuilder(da).rebuild(to: head, expectedChecksum: try directChecksum(events))
                #expect(report.counts.blobsApplied == 6)
                #expect(report.commitmentRereads == 0)
            }
        }
    }
}
