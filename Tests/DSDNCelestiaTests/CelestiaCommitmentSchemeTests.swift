import CelestiaTestServer
import DSDNCelestia
import DSDNCore
import DSDNDA
import DSDNRuntime
import DSDNTestSupport
import Testing

@testable import DSDNCelestia

/// A backend whose every blob carries a wrong share commitment.
struct LyingDA: DALayer {
    let data: [UInt8]

    func submit(_ blob: [UInt8], to namespace: DANamespace) async throws(DAError) -> BlobReference {
        throw DAError(.invalidRequest, "read-only")
    }

    func blobs(of namespace: DANamespace, at height: UInt64) async throws(DAError) -> [DABlob] {
        guard height == 1 else { throw DAError(.heightFromFuture, "only height 1") }
        return [DABlob(reference: BlobReference(height: 1, index: 0, commitment: [UInt8](repeating: 9, count: 32)), data: data)]
    }

    func head() async throws(DAError) -> UInt64 { 1 }
    func newHeights() -> AsyncStream<UInt64> { AsyncStream { $0.finish() } }
    func health() async -> DAHealth { DAHealth(isReady: true, head: 1, detail: "lying") }
    var commitmentScheme: CommitmentScheme { .celestiaShare }
}

@Suite struct CelestiaCommitmentSchemeTests {
    /// The runtime verifies Celestia blobs with the backend's own scheme, the share commitment.
    @Test func theRuntimeVerifiesWithTheBackendsShareCommitment() async throws {
        try await withServer { server in
            try await withClient(server) { da in
                #expect(da.commitmentScheme.name == "celestia-share")
                let events = Array(celestiaHistory.prefix(200))
                let reference = try await da.submit(sampleBlob(1), to: celestiaTestNamespace)
                #expect(reference.commitment == ShareCommitment.compute(namespace: celestiaTestNamespace, data: sampleBlob(1)))
                #expect(da.commitmentScheme.commitment(of: sampleBlob(1), in: celestiaTestNamespace) == reference.commitment)
                let read = try await da.blobs(of: celestiaTestNamespace, at: reference.height)
                #expect(read.map(\.reference) == [reference])

                try await publish(events, to: da)
                let rebuilder = StateRebuilder(
                    da: da, namespace: celestiaTestNamespace, options: .init(sleeper: immediateSleeper))
                let (_, report) = try await rebuilder.rebuild()
                #expect(report.commitmentRereads == 0)
                #expect(report.counts.eventsApplied == UInt64(events.count))
                #expect(report.counts.blobsRejected == 1)  // sampleBlob(1) is not an event blob
            }
        }
    }

    @Test func aBlobThatDoesNotMatchItsShareCommitmentIsCaught() async throws {
        let rebuilder = StateRebuilder(
            da: LyingDA(data: sampleBlob(3)), namespace: celestiaTestNamespace,
            options: .init(sleeper: immediateSleeper, maxRereads: 1))
        let error = await runtimeError { try await rebuilder.rebuild() }
        #expect(error?.code == .commitmentMismatch)
        #expect(error?.message.contains("celestia-share") == true)
    }
}
