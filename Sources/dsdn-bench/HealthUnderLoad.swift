import DSDNCore
import DSDNDA
import DSDNFileLog
import DSDNRuntime
import DSDNScheduler
import DSDNService
import Foundation
import Logging
import Synchronization

/// `/health` latency on a real socket while a coordinator with `nodes` registered nodes places a burst of
/// `chunks` new chunks (replication factor 3) with `weighted-score`, while preview clients ask for
/// explained previews as fast as they are answered, and while idle and half-sent connections stay open.
/// Baseline: the same probes against the same coordinator with nothing else going on.
func healthUnderLoad(nodes nodeCount: Int, chunks chunkCount: Int, policyPath: String) async throws {
    let directory = NSTemporaryDirectory() + "dsdn-bench-health-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let namespace = DANamespace(name: "bench-health")
    let log = try FileLogDA(directory: directory + "/da")
    defer { log.close() }
    let registrations = (0..<nodeCount).map { index in
        Event.nodeRegistered(
            nodeID: "node-\(index)", zone: "zone-\(index % 10)", addr: "10.0.\(index / 250).\(index % 250):7000",
            capacityBytes: UInt64(1 + index % 7) << 40)
    }
    for blob in try registrations.encodedBlobs(publisher: "bench-seed", batchSize: 1_000) {
        _ = try await log.submit(blob, to: namespace)
    }

    let source = try String(contentsOfFile: policyPath, encoding: .utf8)
    let policy = try Policy.load(source: source, fileName: (policyPath as NSString).lastPathComponent)
    var logger = Logger(label: "dsdn-bench")
    logger.logLevel = .error
    let token = "bench-token"
    let configuration = CoordinatorConfiguration(
        dataDirectory: directory + "/coordinator", namespace: namespace, publisherID: "bench-coordinator", defaultPolicy: policy,
        publisher: EventPublisher.Options(batchSize: 100, flushInterval: .milliseconds(50)),
        api: APIConfiguration(host: "127.0.0.1", port: 0, token: token))
    let node = try CoordinatorNode(configuration: configuration, da: log, logger: logger)
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let application = CoordinatorAPI.application(node: node, logger: logger) { port in portContinuation.yield(port) }
    let group = node.serviceGroup(with: [application])

    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw BenchFailure("the API never listened") }
        await node.waitUntilReady()

        let idle = try await LoadThread.run { try HealthProbe.probe(port: port, count: 300, pause: .milliseconds(5)) }

        // The load: idle and half-sent connections, preview clients, then the burst.
        var held: [Int32] = []
        for index in 0..<250 {
            let descriptor = try RawHTTP.connect(port: port)
            if index % 5 == 0 { try RawHTTP.send(descriptor, "GET /health HTTP/1.1\r\nHost: bench\r\n") }
            held.append(descriptor)
        }
        defer { for descriptor in held { close(descriptor) } }
        let stop = Atomic(false)
        let previewBody = #"{"size_bytes": 1048576, "replication_factor": 3, "explain": true}"#
        let previewClients = (0..<3).map { _ in
            LoadThread.start {
                var answered = 0
                var refused = 0
                while !stop.load(ordering: .relaxed) {
                    let status = (try? RawHTTP.exchange(port: port, method: "POST", path: "/v1/placement/preview", body: previewBody)) ?? 0
                    if status == 200 { answered += 1 } else if status == 429 { refused += 1 }
                    if status != 200 { Thread.sleep(forTimeInterval: 0.005) }
                }
                return (answered, refused)
            }
        }
        let probes = LoadThread.start { () throws -> [HealthProbe.Sample] in
            var samples: [HealthProbe.Sample] = []
            while !stop.load(ordering: .relaxed) {
                samples += try HealthProbe.probe(port: port, count: 1, pause: .milliseconds(20))
            }
            return samples
        }

        let declarations = (0..<chunkCount).map { index in
            Event.chunkDeclared(
                hash: sha256(Array("bench-health-chunk-\(index)".utf8)), sizeBytes: 1 << 20, replicationFactor: 3,
                uploaderID: "bench", daCommitment: nil)
        }
        let burstStart = ContinuousClock.now
        _ = try await node.submit(declarations, waitForInclusion: false)
        while true {
            let summary = await node.status().summary
            if summary.chunks == chunkCount, summary.underReplicatedChunks == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let burst = ContinuousClock.now - burstStart
        stop.store(true, ordering: .relaxed)
        let loaded = try await probes.value()
        var previews = (answered: 0, refused: 0)
        for client in previewClients {
            let (answered, refused) = try await client.value()
            previews.answered += answered
            previews.refused += refused
        }

        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()

        let baseline = HealthProbe.Summary(idle)
        let measured = HealthProbe.Summary(loaded)
        say(
            "health      /health at \(nodeCount) nodes while \(chunkCount) chunks are placed (RF 3, \(policy.name)), 3 preview clients, 200 idle and 50 half-sent connections"
        )
        say("  idle                 \(baseline.text)   (baseline)")
        benchReport.record(["health", "idle_p99_ms"], baseline.p99)
        benchReport.record(["health", "loaded_p50_ms"], measured.p50)
        benchReport.record(["health", "loaded_p99_ms"], measured.p99)
        benchReport.record(["health", "burst_seconds"], burst.seconds)
        say("  under load           \(measured.text)")
        say(
            "  burst                \(chunkCount * 3) replicas decided in \(String(format: "%.1f", burst.seconds)) s; previews answered \(previews.answered), refused 429 \(previews.refused)"
        )
        say(
            "  target p99 100 ms    ratio \(String(format: "%.2f", measured.p99 / 100)) (below 1 meets it); ratio to idle p99 \(String(format: "%.1f", measured.p99 / max(baseline.p99, 0.001)))"
        )
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Blocking work on a thread of its own (the probes must not wait behind Swift's cooperative pool).
final class LoadThread<Value: Sendable>: Sendable {
    private let result = Mutex<Result<Value, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    static func start(_ work: @escaping @Sendable () throws -> Value) -> LoadThread {
        let thread = LoadThread()
        Thread.detachNewThread {
            let outcome = Result { try work() }
            thread.result.withLock { $0 = outcome }
            thread.done.signal()
        }
        return thread
    }

    static func run(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await start(work).value()
    }

    func value() async throws -> Value {
        let done = done
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                done.wait()
                continuation.resume()
            }
        }
        return try result.withLock { $0! }.get()
    }
}

enum HealthProbe {
    struct Sample: Sendable {
        var milliseconds: Double
        var status: Int
    }

    /// `count` probes of `GET /health`, each on a new connection (as a load balancer's probe would),
    /// with `pause` between them.
    static func probe(port: Int, count: Int, pause: Duration) throws -> [Sample] {
        var samples: [Sample] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            let status = try RawHTTP.exchange(port: port, method: "GET", path: "/health", body: nil)
            samples.append(Sample(milliseconds: (ContinuousClock.now - start).seconds * 1_000, status: status))
            Thread.sleep(forTimeInterval: pause.seconds)
        }
        return samples
    }

    struct Summary {
        let p50: Double
        let p99: Double
        let max: Double
        let count: Int
        let notReady: Int

        init(_ samples: [Sample]) {
            let sorted = samples.map(\.milliseconds).sorted()
            func percentile(_ p: Double) -> Double {
                sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
            }
            p50 = percentile(0.50)
            p99 = percentile(0.99)
            max = sorted.last ?? 0
            count = samples.count
            notReady = samples.count { $0.status != 200 }
        }

        var text: String {
            String(format: "p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%d probes, %d not 200)", p50, p99, max, count, notReady)
        }
    }
}

/// Minimal blocking HTTP/1.1 over a loopback socket.
enum RawHTTP {
    static func connect(port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw BenchFailure("connect: errno \(errno)")
        }
        return descriptor
    }

    static func send(_ descriptor: Int32, _ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw BenchFailure("send: errno \(errno)") }
            sent += count
        }
    }

    /// One request on a new connection; the response's status code.
    static func exchange(port: Int, method: String, path: String, body: String?) throws -> Int {
        let descriptor = try connect(port: port)
        defer { close(descriptor) }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            request += "\r\n"
        }
        try send(descriptor, request)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        let head = String(decoding: received.prefix(12), as: UTF8.self)
        guard head.hasPrefix("HTTP/1.1 "), let status = Int(head.dropFirst(9).prefix(3)) else {
            throw BenchFailure("no HTTP answer to \(method) \(path)")
        }
        return status
    }
}
