import DSDNDA

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A blob as the test server stores it.
public struct CelestiaStoredBlob: Sendable, Hashable {
    /// The height it was included at.
    public var height: UInt64
    /// Its position among its namespace's blobs at that height (0, 1, …).
    public var index: Int
    /// Its first share's index in the (simulated) square, as `blob.GetAll` reports it.
    public var shareIndex: Int
    /// Its namespace.
    public var namespace: DANamespace
    /// Its bytes.
    public var data: [UInt8]
    /// Its share commitment.
    public var commitment: [UInt8]
}

/// The simulated chain: blocks, the mempool, waiters and the fault state. All mutable server state lives
/// here, so one actor orders every call.
actor Chain {
    struct Block {
        var height: UInt64
        var timeNanos: Int64
        var blobs: [CelestiaStoredBlob]
    }

    struct PendingTx {
        var id: UInt64
        var blobs: [(namespace: DANamespace, data: [UInt8], commitment: [UInt8])]
    }

    let chainID: String
    private(set) var blocks: [Block] = []
    private(set) var statistics = CelestiaServerStatistics()
    private(set) var faults: CelestiaFaults
    private(set) var balance: UInt64 = 1_000_000_000_000
    private var generator: FaultGenerator
    private var mempool: [PendingTx] = []
    private var inclusionWaiters: [UInt64: CheckedContinuation<UInt64?, Never>] = [:]
    private var includedTxs: [UInt64: UInt64] = [:]
    private var heightWaiters: [UInt64: (height: UInt64, continuation: CheckedContinuation<Bool, Never>)] = [:]
    private var stalls: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var timers: [UInt64: Task<Void, Never>] = [:]
    private var nextID: UInt64 = 0
    private(set) var stopped = false

    init(chainID: String, faults: CelestiaFaults) {
        self.chainID = chainID
        self.faults = faults
        self.generator = FaultGenerator(seed: faults.seed)
    }

    var head: UInt64 { UInt64(blocks.count) }

    /// The light node's own head: the chain's less ``CelestiaFaults/localHeadLag``.
    var localHead: UInt64 { head > faults.localHeadLag ? head - faults.localHeadLag : 0 }

    /// Waits until the light node's own head reaches `height`.
    func waitForLocalHeight(_ height: UInt64, timeout: Duration) async -> Bool {
        await waitForHeight(height + faults.localHeadLag, timeout: timeout)
    }

    func block(at height: UInt64) -> Block? {
        guard height >= 1, height <= head else { return nil }
        return blocks[Int(height - 1)]
    }

    // MARK: - Faults and statistics

    func setFaults(_ faults: CelestiaFaults, reseed: Bool) {
        if reseed || faults.seed != self.faults.seed { generator = FaultGenerator(seed: faults.seed) }
        self.faults = faults
        if faults.stallDuration == .zero { releaseStalls() }
    }

    func updateFaults(_ body: @Sendable (inout CelestiaFaults) -> Void) {
        var copy = faults
        body(&copy)
        setFaults(copy, reseed: false)
    }

    func count(_ method: String) { statistics.calls[method, default: 0] += 1 }

    func record(_ body: @Sendable (inout CelestiaServerStatistics) -> Void) { body(&statistics) }

    /// Two draws, always: whether the call fails, and which kind of failure (`0..<kinds`).
    func drawFailure(kinds: UInt64) -> UInt64? {
        let fail = generator.below(CelestiaFaults.perMillion) < faults.failurePerMillion
        let kind = generator.below(kinds)
        guard fail else { return nil }
        statistics.randomFailures += 1
        return kind
    }

    /// Takes one injected sequence mismatch, if any is left.
    /// Takes one injected execution rejection, if any is left, with its code.
    func takeExecutionRejection() -> UInt32? {
        guard faults.executionRejections > 0 else { return nil }
        faults.executionRejections -= 1
        return faults.executionCode
    }

    func takeSequenceMismatch() -> Bool {
        guard faults.sequenceMismatches > 0 else { return false }
        faults.sequenceMismatches -= 1
        return true
    }

    /// Takes one injected submit timeout, if any is left.
    func takeSubmitTimeout() -> CelestiaFaults.SubmitTimeoutMode? {
        guard faults.submitTimeouts > 0 else { return nil }
        faults.submitTimeouts -= 1
        return faults.submitTimeoutMode
    }

    func charge(_ amount: UInt64) { balance = balance > amount ? balance - amount : 0 }

    // MARK: - Blocks

    /// Produces the next block with every transaction in the mempool; blobs are ordered by namespace
    /// (then arrival), as in a Celestia square.
    @discardableResult
    func produceBlock(atNanos now: Int64) -> UInt64 {
        let height = head + 1
        var entries: [(namespace: DANamespace, data: [UInt8], commitment: [UInt8], arrival: Int)] = []
        for tx in mempool {
            for blob in tx.blobs { entries.append((blob.namespace, blob.data, blob.commitment, entries.count)) }
        }
        entries.sort { lhs, rhs in
            lhs.namespace.bytes == rhs.namespace.bytes
                ? lhs.arrival < rhs.arrival
                : lhs.namespace.bytes.lexicographicallyPrecedes(rhs.namespace.bytes)
        }
        var blobs: [CelestiaStoredBlob] = []
        var perNamespace: [DANamespace: Int] = [:]
        var shareIndex = 1  // share 0 holds the pay-for-blob transactions
        for entry in entries {
            let index = perNamespace[entry.namespace, default: 0]
            perNamespace[entry.namespace] = index + 1
            blobs.append(
                CelestiaStoredBlob(
                    height: height, index: index, shareIndex: shareIndex, namespace: entry.namespace,
                    data: entry.data, commitment: entry.commitment))
            shareIndex += Self.shareCount(entry.data.count)
        }
        let time = max(now, (blocks.last?.timeNanos ?? 0) + 1)
        blocks.append(Block(height: height, timeNanos: time, blobs: blobs))
        statistics.blobsIncluded += blobs.count
        let txs = mempool
        mempool.removeAll()
        for tx in txs {
            if let waiter = inclusionWaiters.removeValue(forKey: tx.id) {
                waiter.resume(returning: height)
            } else {
                includedTxs[tx.id] = height
            }
        }
        for (id, waiter) in heightWaiters where waiter.height <= height {
            heightWaiters.removeValue(forKey: id)
            timers.removeValue(forKey: id)?.cancel()
            waiter.continuation.resume(returning: true)
        }
        return height
    }

    static func shareCount(_ bytes: Int) -> Int {
        bytes <= 478 ? 1 : 1 + (bytes - 478 + 481) / 482
    }

    /// Adds a transaction to the mempool; it lands in the next block. Returns its id.
    func enqueue(_ blobs: [(namespace: DANamespace, data: [UInt8], commitment: [UInt8])]) -> UInt64 {
        nextID += 1
        mempool.append(PendingTx(id: nextID, blobs: blobs))
        return nextID
    }

    /// Waits until transaction `id` is included; `nil` when the server stops first.
    func awaitInclusion(_ id: UInt64) async -> UInt64? {
        if let height = includedTxs.removeValue(forKey: id) { return height }
        if stopped { return nil }
        return await withCheckedContinuation { continuation in
            inclusionWaiters[id] = continuation
        }
    }

    /// Waits until `height` exists, at most `timeout`. Returns whether it exists.
    func waitForHeight(_ height: UInt64, timeout: Duration) async -> Bool {
        if height <= head { return true }
        if stopped { return false }
        nextID += 1
        let id = nextID
        return await withCheckedContinuation { continuation in
            heightWaiters[id] = (height, continuation)
            timers[id] = Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.expireHeightWaiter(id)
            }
        }
    }

    private func expireHeightWaiter(_ id: UInt64) {
        timers.removeValue(forKey: id)
        heightWaiters.removeValue(forKey: id)?.continuation.resume(returning: false)
    }

    /// Holds a response back for `duration`, until ``releaseStalls()`` or until the server stops.
    func stall(for duration: Duration) async {
        if stopped || duration == .zero { return }
        nextID += 1
        let id = nextID
        await withCheckedContinuation { continuation in
            stalls[id] = continuation
            timers[id] = Task { [weak self] in
                try? await Task.sleep(for: duration)
                await self?.endStall(id)
            }
        }
    }

    private func endStall(_ id: UInt64) {
        timers.removeValue(forKey: id)
        stalls.removeValue(forKey: id)?.resume()
    }

    /// Lets every stalled response go.
    func releaseStalls() {
        let pending = stalls
        stalls.removeAll()
        for (id, continuation) in pending {
            timers.removeValue(forKey: id)?.cancel()
            continuation.resume()
        }
    }

    var stalledCount: Int { stalls.count }

    /// Wakes every waiter (they see "stopped") and refuses new waits.
    func shutdown() {
        stopped = true
        releaseStalls()
        for (_, waiter) in inclusionWaiters { waiter.resume(returning: nil) }
        inclusionWaiters.removeAll()
        for (id, waiter) in heightWaiters {
            timers.removeValue(forKey: id)?.cancel()
            waiter.continuation.resume(returning: false)
        }
        heightWaiters.removeAll()
        for (_, timer) in timers { timer.cancel() }
        timers.removeAll()
    }

    // MARK: - Inspection

    func storedBlobs(of namespace: DANamespace?) -> [CelestiaStoredBlob] {
        blocks.flatMap { block in block.blobs.filter { namespace == nil || $0.namespace == namespace } }
    }
}

/// Wall-clock nanoseconds since 1970, for header times.
func unixNanos() -> Int64 {
    let seconds = Date().timeIntervalSince1970
    return Int64(seconds * 1_000_000_000)
}

/// RFC 3339 with nanoseconds in UTC, e.g. `2024-05-01T12:00:00.123456789Z`.
func rfc3339(nanos: Int64) -> String {
    let seconds = nanos >= 0 ? nanos / 1_000_000_000 : (nanos - 999_999_999) / 1_000_000_000
    let fraction = nanos - seconds * 1_000_000_000
    var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = seconds - days * 86_400
    // Civil-from-days (Howard Hinnant's algorithm).
    days += 719_468
    let era = (days >= 0 ? days : days - 146_096) / 146_097
    let dayOfEra = days - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return
        "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 9))Z"
}
