import Synchronization

/// A token bucket per client (by remote address) for event submissions: a client may submit `rate`
/// requests per second on average with bursts of `burst`. Failed authentications count too, so guessing
/// tokens is as slow as submitting. At most `maxClients` buckets are kept: a bucket that has refilled is
/// the same as none, and when every bucket is in use the fullest one is dropped first.
public final class SubmissionRateLimit: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Duration
    }

    /// Requests per second per client.
    public let rate: Double
    /// The limit in words, for refusals: "20 per second with bursts of 40".
    public var summary: String {
        let perSecond = rate == rate.rounded() && rate < 1e15 ? "\(Int(rate))" : "\(rate)"
        return "\(perSecond) per second with bursts of \(Int(burst))"
    }
    /// The most requests one client may make at once after being idle.
    public let burst: Double
    private let maxClients: Int
    private let now: @Sendable () -> Duration
    private let buckets = Mutex<[String: Bucket]>([:])  // lookup only; never iterated for output

    /// Creates a limit of `rate` submissions per second per client with bursts of `burst`; `now` is a
    /// monotonic reading (injected for tests).
    public init(rate: Double, burst: Int, maxClients: Int = 4_096, now: @escaping @Sendable () -> Duration = SubmissionRateLimit.monotonic)
    {
        precondition(rate > 0 && burst >= 1, "a submission rate limit needs a positive rate and burst")
        self.rate = rate
        self.burst = Double(burst)
        self.maxClients = max(1, maxClients)
        self.now = now
    }

    /// The time since an arbitrary fixed instant of this process.
    public static let monotonic: @Sendable () -> Duration = {
        let start = ContinuousClock.now
        return { ContinuousClock.now - start }
    }()

    /// Takes one submission from `client`'s bucket: `nil` when admitted, otherwise the milliseconds
    /// until the next one would be.
    public func admit(_ client: String) -> Int? {
        let time = now()
        return buckets.withLock { buckets -> Int? in
            var bucket = buckets[client] ?? Bucket(tokens: burst, updated: time)
            bucket.tokens = min(burst, bucket.tokens + max(0, Self.seconds(time - bucket.updated)) * rate)
            bucket.updated = time
            guard bucket.tokens >= 1 else {
                buckets[client] = bucket
                return max(1, Int(((1 - bucket.tokens) / rate * 1_000).rounded(.up)))
            }
            bucket.tokens -= 1
            if buckets[client] == nil, buckets.count >= maxClients { makeRoom(&buckets, at: time) }
            buckets[client] = bucket
            return nil
        }
    }

    /// Drops every bucket that has refilled by `time`; if none has, the fullest one.
    private func makeRoom(_ buckets: inout [String: Bucket], at time: Duration) {
        func level(_ bucket: Bucket) -> Double { bucket.tokens + Self.seconds(time - bucket.updated) * rate }
        buckets = buckets.filter { level($0.value) < burst }
        guard buckets.count >= maxClients else { return }
        if let fullest = buckets.max(by: { level($0.value) < level($1.value) })?.key { buckets[fullest] = nil }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
