/// A small, fast, seeded pseudo-random generator (SplitMix64).
///
/// Its output is a pure function of the seed on every platform, unlike `SystemRandomNumberGenerator`,
/// so anything built from it (synthetic histories, fault schedules, property tests) is reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose whole output is determined by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 pseudo-random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<upperBound` without modulo bias worth caring about for tests and workloads, and,
    /// unlike the standard library's `random(in:using:)`, with a documented algorithm that cannot change
    /// between Swift versions.
    public mutating func below(_ upperBound: UInt64) -> UInt64 {
        precondition(upperBound > 0, "upper bound must be positive")
        return UInt64((UInt128(next()) &* UInt128(upperBound)) >> 64)
    }

    /// `true` with probability `numerator / denominator`.
    public mutating func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool {
        below(denominator) < numerator
    }
}
