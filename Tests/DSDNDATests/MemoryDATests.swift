import DSDNCore
import DSDNDA
import DSDNTestSupport
import Testing

private let alpha = DANamespace(name: "alpha")
private let beta = DANamespace(name: "beta")

/// Runs `body` and captures its outcome, so tests can compare outcomes and inspect errors. (Closures
/// infer `any Error`, so a non-`DAError` is recorded as an issue rather than rejected by the compiler.)
private func capture<T>(_ body: () async throws -> T) async -> Result<T, DAError> {
    do {
        return .success(try await body())
    } catch let error as DAError {
        return .failure(error)
    } catch {
        Issue.record("expected a DAError, got \(error)")
        return .failure(DAError(.invalidRequest, "not a DAError: \(error)"))
    }
}

private func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] })
}

@Suite struct MemoryDATests {
    // MARK: - Basics

    @Test func submitAndReadBackRoundTrip() async throws {
        let da = MemoryDA()
        #expect(try await da.head() == 0)

        let reference = try await da.submit(Array("abc".utf8), to: alpha)
        #expect(reference.height == 1)
        #expect(reference.index == 0)
        // SHA-256("abc"), the FIPS 180-2 test vector.
        #expect(hex(reference.commitment) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try await da.head() == 1)

        let blobs = try await da.blobs(of: alpha, at: 1)
        #expect(blobs == [DABlob(reference: reference, data: Array("abc".utf8))])
    }

    @Test func eachSubmitCreatesTheNextHeightInOrder() async throws {
        let da = MemoryDA()
        var references: [BlobReference] = []
        for i in 0..<5 {
            references.append(try await da.submit([UInt8(i), 0xAA], to: alpha))
        }
        #expect(references.map(\.height) == [1, 2, 3, 4, 5])
        #expect(references.allSatisfy { $0.index == 0 })
        #expect(try await da.head() == 5)
        for (i, reference) in references.enumerated() {
            let blobs = try await da.blobs(of: alpha, at: reference.height)
            #expect(blobs.map(\.data) == [[UInt8(i), 0xAA]])
            #expect(blobs.map(\.reference) == [reference])
        }
        #expect(await da.allBlobs(of: alpha).map(\.reference) == references)
    }

    @Test func namespacesAreIsolated() async throws {
        let da = MemoryDA()
        let a = try await da.submit([1], to: alpha)
        let b = try await da.submit([2], to: beta)
        #expect(try await da.blobs(of: alpha, at: a.height).map(\.data) == [[1]])
        #expect(try await da.blobs(of: beta, at: a.height).isEmpty)
        #expect(try await da.blobs(of: alpha, at: b.height).isEmpty)
        #expect(try await da.blobs(of: beta, at: b.height).map(\.data) == [[2]])
        #expect(await da.allBlobs(of: alpha).map(\.data) == [[1]])
        #expect(await da.allBlobs(of: beta).map(\.data) == [[2]])
        #expect(await da.allBlobs(of: DANamespace(name: "gamma")).isEmpty)
    }

    @Test func foreignBlobsAndEmptyHeights() async throws {
        let da = MemoryDA(maxBlobSize: 2)
        let empty = await da.appendEmptyHeight()
        #expect(empty == 1)
        #expect(try await da.blobs(of: alpha, at: 1).isEmpty)

        // Foreign blobs bypass the size cap: someone else may post anything.
        let foreign = await da.appendForeignBlob([9, 9, 9, 9], to: alpha)
        #expect(foreign.height == 2)
        let mixed = await da.appendHeight([(alpha, [1]), (beta, [2]), (alpha, [3])])
        #expect(mixed.map(\.height) == [3, 3, 3])
        #expect(mixed.map(\.index) == [0, 0, 1])
        let read = try await da.blobs(of: alpha, at: 3)
        #expect(read.map(\.data) == [[1], [3]])
        #expect(read.map(\.reference) == [mixed[0], mixed[2]])
        #expect(try await da.head() == 3)
    }

    // MARK: - Errors

    @Test func heightsBeyondTheHeadAndHeightZeroAreRejected() async throws {
        let da = MemoryDA()
        #expect(await daError { try await da.blobs(of: alpha, at: 1) }?.code == .heightFromFuture)
        _ = try await da.submit([1], to: alpha)
        let future = await daError { try await da.blobs(of: alpha, at: 2) }
        #expect(future?.code == .heightFromFuture)
        #expect(future?.isRetryable == true)
        let zero = await daError { try await da.blobs(of: alpha, at: 0) }
        #expect(zero?.code == .invalidRequest)
        #expect(zero?.isRetryable == false)
    }

    @Test func heightsBelowTheRetainedRangeArePruned() async throws {
        let da = MemoryDA(retainHeights: 3)
        for i in 0..<5 { _ = try await da.submit([UInt8(i)], to: alpha) }
        // Head 5, retaining 3: heights 3, 4 and 5 are readable.
        for height: UInt64 in [1, 2] {
            let error = try #require(await daError { try await da.blobs(of: alpha, at: height) })
            #expect(error.code == .pruned)
            #expect(error.isRetryable == false)
            #expect(error.message.contains("height \(height)"))
            #expect(error.message.contains("oldest retained height is 3"))
        }
        #expect(try await da.blobs(of: alpha, at: 3).map(\.data) == [[2]])
        #expect(try await da.blobs(of: alpha, at: 5).map(\.data) == [[4]])
        // Inspection still sees everything.
        #expect(await da.allBlobs(of: alpha).count == 5)
    }

    @Test func oversizedBlobsAreRejected() async throws {
        #expect(MemoryDA.defaultMaxBlobSize == 2 * 1024 * 1024)
        #expect(MemoryDA().maxBlobSize == 2 * 1024 * 1024)

        let da = MemoryDA(maxBlobSize: 4)
        let error = await daError { try await da.submit([1, 2, 3, 4, 5], to: alpha) }
        #expect(error?.code == .blobTooLarge)
        #expect(try await da.head() == 0)
        #expect(try await da.submit([1, 2, 3, 4], to: alpha).height == 1)
    }

    @Test func defaultCapAcceptsExactly2MiB() async throws {
        let da = MemoryDA()
        let limit = 2 * 1024 * 1024
        #expect(try await da.submit([UInt8](repeating: 7, count: limit), to: alpha).height == 1)
        let error = await daError { try await da.submit([UInt8](repeating: 7, count: limit + 1), to: alpha) }
        #expect(error?.code == .blobTooLarge)
    }

    // MARK: - New heights stream

    @Test func everySubscriberReceivesEveryNewHeight() async throws {
        let da = MemoryDA()
        let first = da.newHeights()
        let second = da.newHeights()
        #expect(da.subscriberCount == 2)

        _ = try await da.submit([1], to: alpha)
        await da.appendEmptyHeight()
        await da.appendForeignBlob([2], to: beta)

        for stream in [first, second] {
            var seen: [UInt64] = []
            for await height in stream {
                seen.append(height)
                if seen.count == 3 { break }
            }
            #expect(seen == [1, 2, 3])
        }
    }

    @Test func aLateSubscriberOnlySeesLaterHeights() async throws {
        let da = MemoryDA()
        _ = try await da.submit([1], to: alpha)
        let stream = da.newHeights()
        _ = try await da.submit([2], to: alpha)
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next() == 2)
    }

    @Test func duplicatesAreDeliveredAsTheirOwnHeights() async throws {
        let da = MemoryDA(faults: .init(seed: 1, duplicatePerMillion: MemoryDA.Faults.perMillion))
        let stream = da.newHeights()
        _ = try await da.submit([1], to: alpha)
        var seen: [UInt64] = []
        for await height in stream {
            seen.append(height)
            if seen.count == 2 { break }
        }
        #expect(seen == [1, 2])
    }

    @Test func aCancelledSubscriberIsUnregistered() async {
        let da = MemoryDA()
        let stream = da.newHeights()
        #expect(da.subscriberCount == 1)
        let consumer = Task { for await _ in stream {} }
        consumer.cancel()
        await consumer.value
        #expect(da.subscriberCount == 0)
        // Producing a height with no subscribers left is fine.
        #expect(await da.appendEmptyHeight() == 1)
    }

    @Test func streamsFinishWhenTheBackendIsReleased() async throws {
        /// Makes a backend, subscribes, produces one height and drops the backend.
        func streamOfATemporaryBackend() async throws -> AsyncStream<UInt64> {
            let da = MemoryDA()
            let stream = da.newHeights()
            _ = try await da.submit([1], to: alpha)
            return stream
        }
        let stream = try await streamOfATemporaryBackend()
        var seen: [UInt64] = []
        for await height in stream { seen.append(height) }
        #expect(seen == [1])
    }

    // MARK: - Health

    @Test func healthReflectsTheDownState() async throws {
        let da = MemoryDA()
        _ = try await da.submit([1], to: alpha)
        let up = await da.health()
        #expect(up.isReady)
        #expect(up.head == 1)

        await da.setDown("maintenance window")
        let down = await da.health()
        #expect(!down.isReady)
        #expect(down.head == 1)
        #expect(down.detail.contains("maintenance window"))
        #expect(await daError { try await da.submit([2], to: alpha) }?.code == .unavailable)
        #expect(await daError { try await da.blobs(of: alpha, at: 1) }?.code == .unavailable)
        #expect(await daError { try await da.head() }?.code == .unavailable)
        #expect(await da.allBlobs(of: alpha).count == 1)

        await da.setDown(nil)
        #expect(await da.health().isReady)
        #expect(try await da.submit([2], to: alpha).height == 2)
    }

    // MARK: - Faults

    @Test func noFaultsByDefault() async throws {
        let da = MemoryDA()
        for i in 0..<50 {
            let reference = try await da.submit([UInt8(i)], to: alpha)
            #expect(try await da.blobs(of: alpha, at: reference.height).map(\.data) == [[UInt8(i)]])
        }
        #expect(await da.injectedFaults.isEmpty)
        #expect(try await da.head() == 50)
    }

    @Test func injectedSubmitFailureStoresNothing() async throws {
        let da = MemoryDA(faults: .init(seed: 7, failurePerMillion: MemoryDA.Faults.perMillion))
        let error = try #require(await daError { try await da.submit([1, 2], to: alpha) })
        #expect(error.code == .unavailable)
        #expect(error.isRetryable)
        #expect(error.message.contains("injected failure"))
        #expect(try await da.head() == 0)
        #expect(await da.allBlobs(of: alpha).isEmpty)
        #expect(await da.injectedFaults == [.submitFailed(call: 1)])
    }

    @Test func injectedReadFailure() async throws {
        let da = MemoryDA(faults: .init(seed: 7, failurePerMillion: MemoryDA.Faults.perMillion))
        await da.appendForeignBlob([1], to: alpha)
        let error = await daError { try await da.blobs(of: alpha, at: 1) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("injected failure") == true)
        #expect(await da.injectedFaults == [.readFailed(call: 1)])
    }

    @Test func failButLandStoresTheBlobAndStillThrows() async throws {
        let da = MemoryDA(faults: .init(seed: 7, failButLandPerMillion: MemoryDA.Faults.perMillion))
        let error = try #require(await daError { try await da.submit([4, 2], to: alpha) })
        #expect(error.code == .unavailable)
        #expect(error.message.contains("injected failure"))
        #expect(try await da.head() == 1)
        #expect(await da.allBlobs(of: alpha).map(\.data) == [[4, 2]])
        #expect(await da.injectedFaults == [.submitFailedButLanded(call: 1, height: 1)])

        // A caller that retries lands a second copy: what a real ambiguous failure does.
        _ = await daError { try await da.submit([4, 2], to: alpha) }
        let stored = await da.allBlobs(of: alpha)
        #expect(stored.map(\.data) == [[4, 2], [4, 2]])
        #expect(stored.map(\.reference.height) == [1, 2])
        #expect(stored[0].reference.commitment == stored[1].reference.commitment)
    }

    @Test func duplicateAppendsAnIdenticalCopyAtTheNextHeight() async throws {
        let da = MemoryDA(faults: .init(seed: 7, duplicatePerMillion: MemoryDA.Faults.perMillion))
        let reference = try await da.submit([5, 6, 7], to: alpha)
        #expect(reference.height == 1)
        #expect(try await da.head() == 2)
        let original = try await da.blobs(of: alpha, at: 1)
        let copy = try await da.blobs(of: alpha, at: 2)
        #expect(original.map(\.data) == [[5, 6, 7]])
        #expect(copy.map(\.data) == [[5, 6, 7]])
        #expect(copy.map(\.reference.commitment) == [reference.commitment])
        #expect(await da.injectedFaults == [.duplicated(call: 1, height: 2)])
    }

    @Test func corruptedReadsFlipOneByteAndLeaveTheStoredCopyIntact() async throws {
        let da = MemoryDA(faults: .init(seed: 7, corruptionPerMillion: MemoryDA.Faults.perMillion))
        let data: [UInt8] = Array(0..<64)
        let reference = try await da.submit(data, to: alpha)

        for _ in 0..<5 {
            let read = try #require(try await da.blobs(of: alpha, at: 1).first)
            #expect(read.reference == reference)
            #expect(read.data.count == data.count)
            let differing = zip(read.data, data).enumerated().filter { $0.element.0 != $0.element.1 }
            #expect(differing.count == 1)
            if let flipped = differing.first {
                #expect(flipped.element.0 == flipped.element.1 ^ 0xFF)
            }
        }
        // The stored copy (and its commitment) is untouched.
        let stored = await da.allBlobs(of: alpha)
        #expect(stored == [DABlob(reference: reference, data: data)])
        #expect(await da.injectedFaults.count == 5)

        // An empty blob has no byte to flip.
        await da.appendForeignBlob([], to: beta)
        #expect(try await da.blobs(of: beta, at: 2).map(\.data) == [[]])
    }

    @Test func latencyDelaysButDoesNotChangeResults() async throws {
        let da = MemoryDA(faults: .init(seed: 7, latency: .milliseconds(1)))
        let reference = try await da.submit([1], to: alpha)
        #expect(try await da.blobs(of: alpha, at: reference.height).map(\.data) == [[1]])
        #expect(await da.injectedFaults.isEmpty)
    }

    /// What one call of the scripted workload returned.
    private enum Outcome: Hashable {
        case submit(Result<UInt64, DAError>)
        case read(Result<[DABlob], DAError>)
    }

    /// A fixed call sequence against a backend with realistic fault rates.
    private func runScript(seed: UInt64, calls: Int = 400) async throws
        -> (outcomes: [Outcome], faults: [MemoryDA.InjectedFault], stored: [DABlob])
    {
        let da = MemoryDA(
            faults: .init(
                seed: seed,
                failurePerMillion: 50_000,
                failButLandPerMillion: 20_000,
                duplicatePerMillion: 30_000,
                corruptionPerMillion: 50_000))
        var outcomes: [Outcome] = []
        for i in 0..<calls {
            let payload = Array("blob \(i)".utf8)
            outcomes.append(.submit(await capture { try await da.submit(payload, to: alpha).height }))
            let head = try await da.head()
            if head > 0 {
                outcomes.append(.read(await capture { try await da.blobs(of: alpha, at: head) }))
            }
        }
        return (outcomes, await da.injectedFaults, await da.allBlobs(of: alpha))
    }

    @Test func theSameSeedGivesTheSameFaults() async throws {
        let first = try await runScript(seed: 42)
        let second = try await runScript(seed: 42)
        // Compared as booleans: a failure would otherwise print hundreds of outcomes.
        let sameOutcomes = first.outcomes == second.outcomes
        let sameFaults = first.faults == second.faults
        let sameStorage = first.stored == second.stored
        #expect(sameOutcomes)
        #expect(sameFaults)
        #expect(sameStorage)
        #expect(first.faults.count > 10)

        // Every kind of fault actually happened at these rates.
        var kinds: Set<String> = []
        for fault in first.faults {
            switch fault {
            case .submitFailed: kinds.insert("submitFailed")
            case .submitFailedButLanded: kinds.insert("submitFailedButLanded")
            case .duplicated: kinds.insert("duplicated")
            case .readFailed: kinds.insert("readFailed")
            case .corrupted: kinds.insert("corrupted")
            }
        }
        #expect(kinds == ["submitFailed", "submitFailedButLanded", "duplicated", "readFailed", "corrupted"])
    }

    @Test func aDifferentSeedGivesDifferentFaults() async throws {
        let first = try await runScript(seed: 42)
        let other = try await runScript(seed: 43)
        let sameFaults = first.faults == other.faults
        let sameOutcomes = first.outcomes == other.outcomes
        #expect(!sameFaults)
        #expect(!sameOutcomes)
    }

    @Test func scriptedFaultsAreConsistentWithWhatIsStored() async throws {
        let run = try await runScript(seed: 42)
        let storedHeights = Set(run.stored.map(\.reference.height))
        // Every acknowledged submit, fail-but-land and duplicate is stored; nothing else is.
        var expected: Set<UInt64> = []
        for outcome in run.outcomes {
            if case .submit(.success(let height)) = outcome { expected.insert(height) }
        }
        for fault in run.faults {
            switch fault {
            case .submitFailedButLanded(_, let height), .duplicated(_, let height): expected.insert(height)
            default: break
            }
        }
        #expect(storedHeights == expected)
        // Stored blobs always match their commitments' source: reads were corrupted, storage was not.
        for blob in run.stored {
            #expect(String(decoding: blob.data, as: UTF8.self).hasPrefix("blob "))
        }
    }
}
