/// Faults a ``CelestiaTestServer`` injects. Set them at start (``CelestiaTestServer/Configuration``,
/// the `celestia-test-server` flags) or change them while it runs (``CelestiaTestServer/setFaults(_:)``
/// and the `testserver.SetFaults` admin method).
///
/// Random failures are drawn from a generator seeded with ``seed``, two draws per eligible call in the
/// order the calls arrive, so a sequential client sees the same faults for the same seed.
public struct CelestiaFaults: Sendable, Hashable {
    /// How a submit that "times out but lands" behaves.
    public enum SubmitTimeoutMode: String, Sendable, Hashable, CaseIterable {
        /// The blob lands in the next block, then the response stalls (past any client timeout) until
        /// ``CelestiaFaults/stallDuration`` passes, the stall is released or the server stops.
        case stall
        /// The call answers at once with `context deadline exceeded` (what celestia-app's
        /// `TxClient.ConfirmTx` returns when its context ends while the transaction is pending), and the
        /// blob still lands in the next block.
        case error
    }

    /// The denominator of ``failurePerMillion``.
    public static let perMillion: UInt64 = 1_000_000

    /// No faults.
    public static let none = CelestiaFaults()

    /// Seeds the generator of random failures.
    public var seed: UInt64 = 0
    /// Per million JSON-RPC calls, how many fail at random. A failed `blob.Submit` is one of:
    /// `incorrect account sequence` (nothing lands), `context deadline exceeded` (the blob lands in the
    /// next block anyway) or an HTTP 500 with an empty body (nothing lands). Any other failed call
    /// answers `context deadline exceeded` or an HTTP 500 with an empty body.
    public var failurePerMillion: UInt64 = 0
    /// A delay before every JSON-RPC call is handled (slow responses).
    public var latency: Duration = .zero
    /// The oldest height served: reads below it answer `requested header (H) is below Tail (T)`.
    public var tail: UInt64?
    /// Answer every request with HTTP 401 and an empty body, whatever the token.
    public var unauthorized = false
    /// The next this-many submits land and then time out (see ``submitTimeoutMode``).
    public var submitTimeouts = 0
    /// How the injected submit timeouts behave.
    public var submitTimeoutMode: SubmitTimeoutMode = .stall
    /// How long a stalled submit response waits before it is sent anyway.
    public var stallDuration: Duration = .seconds(600)
    /// The next this-many submits fail with `incorrect account sequence` (nothing lands).
    public var sequenceMismatches = 0
    /// The node's signing key has no account on chain (never funded): every submit answers
    /// `account for signer <address> not found`, as celestia-node's `state/core_access.go` does.
    public var unfundedKey = false
    /// The next this-many submits are rejected after execution: `tx with hash H was rejected by the node
    /// with execution code: C and log: L` (celestia-app's `pkg/user/tx_client.go`); nothing lands.
    public var executionRejections = 0
    /// The execution code of those rejections (11: out of gas, 13: insufficient fee, 5: insufficient funds).
    public var executionCode: UInt32 = 11
    /// A light node behind the consensus node: its own head (`header.LocalHead`, the heights its reads and
    /// `header.WaitForHeight` serve) is this many heights below the chain's, which `blob.Submit` and
    /// `header.NetworkHead` report.
    public var localHeadLag: UInt64 = 0

    /// No faults.
    public init() {}

    /// Creates a fault set.
    public init(
        seed: UInt64 = 0, failurePerMillion: UInt64 = 0, latency: Duration = .zero, tail: UInt64? = nil,
        unauthorized: Bool = false, submitTimeouts: Int = 0, submitTimeoutMode: SubmitTimeoutMode = .stall,
        stallDuration: Duration = .seconds(600), sequenceMismatches: Int = 0, unfundedKey: Bool = false,
        executionRejections: Int = 0, executionCode: UInt32 = 11, localHeadLag: UInt64 = 0
    ) {
        precondition(failurePerMillion <= Self.perMillion, "failurePerMillion must not exceed one million")
        self.seed = seed
        self.failurePerMillion = failurePerMillion
        self.latency = latency
        self.tail = tail
        self.unauthorized = unauthorized
        self.submitTimeouts = submitTimeouts
        self.submitTimeoutMode = submitTimeoutMode
        self.stallDuration = stallDuration
        self.sequenceMismatches = sequenceMismatches
        self.unfundedKey = unfundedKey
        self.executionRejections = executionRejections
        self.executionCode = executionCode
        self.localHeadLag = localHeadLag
    }

    /// A failure rate given as a fraction in 0…1 (e.g. 0.5), in parts per million.
    public static func perMillion(fraction: Double) -> UInt64 {
        UInt64((min(max(fraction, 0), 1) * Double(perMillion)).rounded())
    }
}

/// Counts of what a ``CelestiaTestServer`` did, for tests to assert on.
public struct CelestiaServerStatistics: Sendable, Hashable {
    /// JSON-RPC calls handled, by method (unknown methods included).
    public var calls: [String: Int] = [:]
    /// Calls failed at random (``CelestiaFaults/failurePerMillion``).
    public var randomFailures = 0
    /// Submits that landed and then stalled their response.
    public var stalledSubmits = 0
    /// Submits that landed and answered `context deadline exceeded`.
    public var timedOutSubmits = 0
    /// Submits refused with `incorrect account sequence` (injected or random).
    public var sequenceMismatches = 0
    /// Requests answered with HTTP 401.
    public var unauthorizedResponses = 0
    /// Submits refused because the signing key has no account (``CelestiaFaults/unfundedKey``).
    public var unfundedSubmits = 0
    /// Submits rejected with an execution code (``CelestiaFaults/executionRejections``).
    public var executionRejections = 0
    /// Reads refused because the height is below the tail.
    public var prunedReads = 0
    /// Blobs included in blocks.
    public var blobsIncluded = 0

    /// Zero counts.
    public init() {}

    /// Calls of `method`.
    public func calls(_ method: String) -> Int { calls[method, default: 0] }
}

/// SplitMix64: small, fast and identical on every platform.
struct FaultGenerator: Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<bound` (multiply-shift, no modulo bias worth caring about here).
    mutating func below(_ bound: UInt64) -> UInt64 {
        UInt64((UInt128(next()) &* UInt128(bound)) >> 64)
    }
}
