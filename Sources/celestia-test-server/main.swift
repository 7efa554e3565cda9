import ArgumentParser
import CelestiaTestServer
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `celestia-test-server`: a Celestia-compatible JSON-RPC server with injectable faults.
struct CelestiaTestServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "celestia-test-server",
        abstract: "A Celestia-compatible JSON-RPC server (celestia-node's wire format) with injectable faults.",
        discussion: """
            Prints exactly one line, `listening on http://HOST:PORT`, once it accepts connections, and \
            exits cleanly on SIGTERM or SIGINT. Blocks are produced every --block-time-ms (heights start \
            at 1); a submitted blob lands in the next block. Faults can also be changed while it runs \
            with the admin method testserver.SetFaults (params: [{"failRate":0.5,"seed":7,"tail":10,…}]).
            """)

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The port to bind; 0 picks a free one.")
    var port = 0

    @Option(name: .customLong("block-time-ms"), help: "Milliseconds between blocks.")
    var blockTimeMs = 1000

    @Option(help: "The admin (read + write) auth token. Without --token and --read-token every request is allowed.")
    var token: String?

    @Option(name: .customLong("read-token"), help: "A read-only auth token.")
    var readToken: String?

    @Option(name: .customLong("fail-rate"), help: "Fraction (0…1) of calls that fail at random.")
    var failRate = 0.0

    @Option(help: "Seed of the random failures.")
    var seed: UInt64 = 0

    @Option(help: "Reads below this height answer `requested header (H) is below Tail (T)`.")
    var tail: UInt64?

    @Option(name: .customLong("latency-ms"), help: "Delay before every call, in milliseconds.")
    var latencyMs = 0

    @Option(name: .customLong("submit-timeouts"), help: "The next N submits land and then time out.")
    var submitTimeouts = 0

    @Option(name: .customLong("submit-timeout-mode"), help: "stall (hold the response) or error (answer `context deadline exceeded`).")
    var submitTimeoutMode = "stall"

    @Option(name: .customLong("stall-ms"), help: "How long a stalled submit response is held, in milliseconds.")
    var stallMs = 600_000

    @Option(name: .customLong("sequence-mismatches"), help: "The next N submits fail with `incorrect account sequence`.")
    var sequenceMismatches = 0

    @Flag(help: "Answer every request with HTTP 401 and an empty body.")
    var unauthorized = false

    @Flag(help: "The signing key has no account on chain: every submit answers `account for signer … not found`.")
    var unfundedKey = false

    @Option(name: .customLong("execution-rejections"), help: "The next N submits are rejected with an execution code.")
    var executionRejections = 0

    @Option(
        name: .customLong("execution-code"),
        help: "The code of those rejections (11 out of gas, 13 insufficient fee, 5 insufficient funds).")
    var executionCode: UInt32 = 11

    @Option(name: .customLong("local-head-lag"), help: "Act as a light node this many heights behind the chain.")
    var localHeadLag: UInt64 = 0

    @Option(name: .customLong("max-body-bytes"), help: "The largest request body.")
    var maxBodyBytes = 16 * 1024 * 1024

    @Option(name: .customLong("max-wait-ms"), help: "How long header.WaitForHeight waits, in milliseconds.")
    var maxWaitMs = 300_000

    @Option(name: .customLong("chain-id"), help: "The chain id in headers.")
    var chainID = "dsdn-test"

    @Flag(help: "Log server diagnostics (debug level) to standard error.")
    var verbose = false

    func validate() throws {
        guard blockTimeMs > 0 else { throw ValidationError("--block-time-ms must be positive") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
        guard (0...1).contains(failRate) else { throw ValidationError("--fail-rate must be in 0…1") }
        guard latencyMs >= 0, stallMs >= 0, maxWaitMs > 0 else {
            throw ValidationError("--latency-ms and --stall-ms must not be negative; --max-wait-ms must be positive")
        }
        guard submitTimeouts >= 0, sequenceMismatches >= 0, executionRejections >= 0 else {
            throw ValidationError("--submit-timeouts, --sequence-mismatches and --execution-rejections must not be negative")
        }
        guard CelestiaFaults.SubmitTimeoutMode(rawValue: submitTimeoutMode) != nil else {
            throw ValidationError("--submit-timeout-mode must be stall or error")
        }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
    }

    func run() async throws {
        // Standard output carries only the "listening on" line; logs go to standard error.
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "celestia-test-server")
        logger.logLevel = verbose ? .debug : .critical
        let faults = CelestiaFaults(
            seed: seed,
            failurePerMillion: CelestiaFaults.perMillion(fraction: failRate),
            latency: .milliseconds(latencyMs),
            tail: tail,
            unauthorized: unauthorized,
            submitTimeouts: submitTimeouts,
            // validate() checked the mode.
            submitTimeoutMode: CelestiaFaults.SubmitTimeoutMode(rawValue: submitTimeoutMode) ?? .stall,
            stallDuration: .milliseconds(stallMs),
            sequenceMismatches: sequenceMismatches, unfundedKey: unfundedKey, executionRejections: executionRejections,
            executionCode: executionCode, localHeadLag: localHeadLag)
        let configuration = CelestiaTestServer.Configuration(
            host: host, port: port, blockTime: .milliseconds(blockTimeMs), token: token, readToken: readToken,
            maxBodyBytes: maxBodyBytes, maxWait: .milliseconds(maxWaitMs), chainID: chainID, faults: faults,
            logger: logger)
        let signals = TerminationSignals()
        let server: CelestiaTestServer
        do {
            server = try await CelestiaTestServer.start(configuration)
        } catch {
            throw ValidationError("\(error)")
        }
        print("listening on \(server.url)")
        fflush(nil)  // flush standard output now: a parent process waits for this line
        await signals.wait()
        await server.stop()
    }
}

/// Waits for SIGTERM or SIGINT. Installed before the server starts, so an early signal is not lost.
final class TerminationSignals: Sendable {
    /// The latch the signal handlers trip.
    private final class Latch: Sendable {
        private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        func fire() {
            let waiter = state.withLock { state in
                state.fired = true
                let waiter = state.waiter
                state.waiter = nil
                return waiter
            }
            waiter?.resume()
        }

        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let fired = state.withLock { state in
                    if state.fired { return true }
                    state.waiter = continuation
                    return false
                }
                if fired { continuation.resume() }
            }
        }
    }

    private let latch = Latch()
    /// Kept alive for as long as the process waits; a released source stops delivering.
    private let sources: Mutex<[any DispatchSourceSignal]>

    init() {
        let latch = self.latch
        var made: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            // Dispatch sources see a signal only once its default action (terminate) is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { latch.fire() }
            source.resume()
            made.append(source)
        }
        sources = Mutex(made)
    }

    /// Returns once a termination signal arrived.
    func wait() async { await latch.wait() }
}

// `AsyncParsableCommand.main()` is ambiguous with the synchronous `main()` in top-level code, so parse
// and run explicitly (the same steps it performs).
do {
    let command = try CelestiaTestServerCommand.parse()
    try await command.run()
} catch {
    CelestiaTestServerCommand.exit(withError: error)
}
