import ArgumentParser
import DSDNCore
import Foundation

/// `dsdn-coordinator node …`: publish node events through a running coordinator's API.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Register, unregister and report stats of storage nodes through a running coordinator.",
        discussion: """
            Each subcommand builds one event (docs/events.md) and posts it to the coordinator's API \
            (POST /v1/events, with the bearer token). The coordinator checks it against its current state \
            first: an event it would refuse is answered with one line and nothing is published.

            Examples:
              dsdn-coordinator node register ams-1 --zone eu-west \\
                  --addr 10.1.0.11:7000 --capacity 8TiB
              dsdn-coordinator node stats ams-1 --cpu-free-milli 800 --ram-free-mb 16000 \\
                  --gpu-free-milli 0 --latency-us 5000 --io-pressure-milli 100 \\
                  --used-bytes 123456789 --wait
              dsdn-coordinator node unregister ams-1 --api http://10.0.0.5:45831 \\
                  --token-file token.txt
            """,
        subcommands: [NodeRegisterCommand.self, NodeUnregisterCommand.self, NodeStatsCommand.self]
    )
}

/// `node register ID --zone Z --addr HOST:PORT --capacity BYTES`: a `NodeRegistered` event.
struct NodeRegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register a storage node (or update its zone, address and capacity).",
        discussion: """
            Publishes NodeRegistered. A registered node keeps its status and stats; a different --zone \
            moves it. BYTES is a plain number of bytes or one with a unit: KiB, MiB, GiB, TiB, PiB \
            (powers of 1024) or KB, MB, GB, TB, PB (powers of 1000).

            Examples:
              dsdn-coordinator node register ams-1 --zone eu-west \\
                  --addr 10.1.0.11:7000 --capacity 8796093022208
              dsdn-coordinator node register ams-1 --zone eu-west \\
                  --addr 10.1.0.11:7000 --capacity 8TiB --wait --json
            """
    )

    @Argument(help: "The node id (1 to 128 printable ASCII characters, no whitespace).")
    var id: String

    @Option(help: "The node's zone.")
    var zone: String

    @Option(help: ArgumentHelp("The node's address.", valueName: "host:port"))
    var addr: String

    @Option(help: ArgumentHelp("The node's storage capacity, e.g. 8796093022208 or 8TiB.", valueName: "bytes"))
    var capacity: String

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        try validateIdentifier(id, "node id")
        try validateIdentifier(zone, "--zone")
        do {
            try Validation.address(addr)
        } catch {
            throw ValidationError("--addr: \(error.message)")
        }
        _ = try parseBytes(capacity, option: "--capacity")
    }

    func run() async throws {
        let bytes = try parseBytes(capacity, option: "--capacity")
        try await submitSingleEvent(
            .nodeRegistered(nodeID: id, zone: zone, addr: addr, capacityBytes: bytes),
            describing: "NodeRegistered \(id) in \(zone) at \(addr), \(formatBytes(bytes))", api: api, options: submit)
    }
}

/// `node unregister ID`: a `NodeUnregistered` event.
struct NodeUnregisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unregister",
        abstract: "Unregister a storage node; its replicas are marked lost.",
        discussion: """
            Publishes NodeUnregistered. Every live replica the node held is marked lost (so repair can \
            place it elsewhere) and the node leaves its zone. An unknown id is a no-op.

            Example:
              dsdn-coordinator node unregister ams-1 --wait
            """
    )

    @Argument(help: "The node id.")
    var id: String

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        try validateIdentifier(id, "node id")
    }

    func run() async throws {
        try await submitSingleEvent(.nodeUnregistered(nodeID: id), describing: "NodeUnregistered \(id)", api: api, options: submit)
    }
}

/// `node stats ID --cpu-free-milli … --used-bytes … [--reported-at MS]`: a `NodeStatsReported` event.
struct NodeStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Report a storage node's workload figures.",
        discussion: """
            Publishes NodeStatsReported with the figures in the event's integer units: thousandths for \
            CPU, GPU and I/O pressure (0.8 cores free → 800), MiB for RAM, microseconds for latency \
            (5 ms → 5000), bytes for used storage. --reported-at (Unix milliseconds) defaults to now, read \
            from this machine's clock; the coordinator itself never reads a clock.

            Example:
              dsdn-coordinator node stats ams-1 --cpu-free-milli 800 --ram-free-mb 16000 \\
                  --gpu-free-milli 0 --latency-us 5000 --io-pressure-milli 100 \\
                  --used-bytes 123456789 --reported-at 1767225600123
            """
    )

    @Argument(help: "The node id.")
    var id: String

    @Option(help: "Free CPU in thousandths of a core.")
    var cpuFreeMilli: UInt32

    @Option(help: "Free RAM in MiB.")
    var ramFreeMb: UInt64

    @Option(help: "Free GPUs in thousandths.")
    var gpuFreeMilli: UInt32

    @Option(help: "Round-trip latency in microseconds.")
    var latencyUs: UInt32

    @Option(help: "I/O pressure in thousandths.")
    var ioPressureMilli: UInt32

    @Option(help: "Bytes used on the node's storage.")
    var usedBytes: UInt64

    @Option(help: ArgumentHelp("When the figures were measured, Unix milliseconds (default: now).", valueName: "ms"))
    var reportedAt: UInt64?

    @OptionGroup var api: APIOptions
    @OptionGroup var submit: SubmitOptions

    func validate() throws {
        try validateIdentifier(id, "node id")
    }

    func run() async throws {
        let now = UInt64(max(0, (Date().timeIntervalSince1970 * 1000).rounded(.down)))
        let stats = NodeStats(
            cpuFreeMilli: cpuFreeMilli, ramFreeMB: ramFreeMb, gpuFreeMilli: gpuFreeMilli, latencyMicros: latencyUs,
            ioPressureMilli: ioPressureMilli, usedBytes: usedBytes, reportedAtMillis: reportedAt ?? now)
        try await submitSingleEvent(
            .nodeStatsReported(nodeID: id, stats: stats), describing: "NodeStatsReported \(id)", api: api, options: submit)
    }
}

/// Parses a byte count: digits, optionally followed by a unit (KiB…PiB in powers of 1024, KB…PB in
/// powers of 1000, B). Refuses anything that does not fit in 64 bits.
func parseBytes(_ text: String, option: String) throws -> UInt64 {
    let digits = text.prefix { $0.isASCII && $0.isNumber }
    let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
    let multipliers: [String: UInt64] = [
        "": 1, "B": 1,
        "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
        "KB": 1_000, "MB": 1_000_000, "GB": 1_000_000_000, "TB": 1_000_000_000_000, "PB": 1_000_000_000_000_000,
    ]
    guard !digits.isEmpty, let value = UInt64(digits), let multiplier = multipliers[unit] else {
        throw ValidationError(
            "\(option) must be a number of bytes, optionally with a unit (KiB, MiB, GiB, TiB, PiB, KB, MB, GB, TB, PB), got \(text.debugDescription)"
        )
    }
    let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
    guard !overflow else { throw ValidationError("\(option) \(text) is more than 2^64-1 bytes") }
    return product
}
