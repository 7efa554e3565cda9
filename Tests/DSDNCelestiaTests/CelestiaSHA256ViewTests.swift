import DSDNCelestia
import CelestiaTestServer
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
}

@Suite struct CelestiaSHA256ViewTests {
    /// The runtime with its default SHA-256 scheme works on Celestia through the view.
    @Test func theRuntimesDefaultSchemeWorksThroughTheView() async throws {
        try await withServer { server in
            try await withClient(server) { celestia in
                let da = CelestiaSHA256View(celestia)
                let events = Array(celestiaHistory.prefix(200))
                let reference = try await da.submit(sampleBlob(1), to: celestiaTestNamespace)
                #expect(reference.commitment == sha256(sampleBlob(1)).bytes)
                let read = try await da.blobs(of: celestiaTestNamespace, at: reference.height)
                #expect(read.map(\.reference) == [reference])

                try await publish(events, to: da, commitment: .sha256)
                let rebuilder = StateRebuilder(
                    da: da, namespace: celestiaTestNamespace,
                    options: .init(sleeper: immediateSleeper, commitment: .sha256))
                let (_, report) = try await rebuilder.rebuild()
                #expect(report.commitmentRereads == 0)
                #expect(report.counts.eventsApplied == UInt64(events.count))
                #expect(report.counts.blobsRejected == 1)  // sampleBlob(1) is not an event blob
            }
        }
    }

    @Test func aBlobThatDoesNotMatchItsShareCommitmentIsCaught() async throws {
        let da = CelestiaSHA256View(LyingDA(data: sampleBlob(3)))
        let blobs = try await da.blobs(of: celestiaTestNamespace, at: 1)
        #expect(blobs.first?.reference.commitment == [UInt8](repeating: 9, count: 32))
        let rebuilder = StateRebuilder(
            da: da, namespace: celestiaTestNamespace, options: .init(sleeper: immediateSleeper, commitment: .sha256, maxRereads: 1))
        let error = await runtimeError { try await rebuilder.rebuild() }
        #expect(error?.code == .commitmentMismatch)
    }
}
