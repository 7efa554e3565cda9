// The standard policy pack, built into the executables: the Lua files of this directory, embedded by
// the package manager (`Package.swift`, `embedInCode`). A file here is only needed to change a policy.

/// The standard policy pack.
public enum PolicyPack {
    /// The pack's policies by file name without `.lua`, sorted by name.
    public static let sources: [(name: String, source: String)] = [
        ("balanced", PackageResources.balanced_lua),
        ("bin-pack", PackageResources.bin_pack_lua),
        ("consistent-hash", PackageResources.consistent_hash_lua),
        ("rendezvous", PackageResources.rendezvous_lua),
        ("weighted-score", PackageResources.weighted_score_lua),
        ("zone-spread", PackageResources.zone_spread_lua),
    ].map { ($0.0, String(decoding: $0.1, as: UTF8.self)) }

    /// The policy a first start publishes when none is named.
    public static let defaultName = "weighted-score"

    /// The source of the pack policy `name`, if there is one.
    public static func source(named name: String) -> String? { sources.first { $0.name == name }?.source }
}
