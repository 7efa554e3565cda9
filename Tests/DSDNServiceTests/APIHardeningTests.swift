import DSDNAPI
import DSDNCore
import DSDNDA
import DSDNInterchange
import DSDNScheduler
import DSDNTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import DSDNService

#if canImport(Glibc)
    import Glibc
#endif

/// The API against hostile or careless clients: methods, HEAD, the bearer scheme, token comparison,
/// malformed HTTP, idle and excess connections, preview admission, and bodies that never show paths.
@Suite struct APIHardeningTests {
    let handlerTests = APIHandlerTests()

    @Test func aWrongMethodIs405WithTheAllowedOnes() async throws {
        try await handlerTests.withRouter { _, client in
            let get = try await client.execute(uri: "/v1/events", method: .get)
            #expect(get.status == .methodNotAllowed)
            #expect(get.headers[.allow] == "POST")
            #expect(try APIHandlerTests.error(get).code == "method_not_allowed")

            let post = try await client.execute(uri: "/v1/nodes/n1", method: .post)
            #expect(post.status == .methodNotAllowed)
            #expect(post.headers[.allow] == "GET, HEAD")

            let unknown = try await client.execute(uri: "/v1/nodes/n1/extra", method: .get)
            #expect(unknown.status == .notFound)
        }
    }

    /// Every route of the one table answers a method it does not take with 405 and exactly its own
    /// methods in `Allow`: registration and the 405 answers cannot drift apart.
    @Test func everyRouteAnswersAForeignMethodWith405() async throws {
        try await handlerTests.withRouter { _, client in
            for route in CoordinatorAPI.routes {
                let path = route.path.split(separator: "/", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix(":") ? "x" : String($0) }.joined(separator: "/")
                // Every method any route of this path takes (GET brings HEAD), in table order.
                let expected = CoordinatorAPI.routes.filter { $0.path == route.path }
                    .map { $0.method == .get ? "GET, HEAD" : $0.method.rawValue }.joined(separator: ", ")
                let answer = try await client.execute(uri: path, method: .delete)
                #expect(answer.status == .methodNotAllowed, "\(path)")
                #expect(answer.headers[.allow] == expected, "\(path)")
            }
        }
    }

    @Test func headIsServedWhereverGetIs() async throws {
        try await handlerTests.withRouter { _, client in
            let get = try await client.execute(uri: "/health", method: .get)
            let head = try await client.execute(uri: "/health", method: .head)
            #expect(head.status == get.status)
            #expect(head.body.readableBytes == 0)
            #expect(head.headers[.contentType] == "application/json")
            #expect(head.headers[.contentLength] == "\(get.body.readableBytes)")
        }
    }

    @Test func theBearerSchemeNameIsCaseInsensitive() async throws {
        #expect(bearerToken(in: "Bearer abc") == "abc")
        #expect(bearerToken(in: "bearer abc") == "abc")
        #expect(bearerToken(in: "BEARER   abc  ") == "abc")
        #expect(bearerToken(in: "Basic abc") == nil)
        #expect(bearerToken(in: "Bearer ") == nil)
        #expect(bearerToken(in: "Bearerabc") == nil)
        try await handlerTests.withRouter { _, client in
            let body = EventJSON.encode(Fixtures.register("n1"))
            let lower = try await client.execute(
                uri: "/v1/events", method: .post, headers: [.authorization: "bearer \(APIHandlerTests.token)"],
                body: ByteBuffer(string: body))
            #expect(lower.status == .accepted, "\(String(buffer: lower.body))")
            let basic = try await client.execute(
                uri: "/v1/events", method: .post, headers: [.authorization: "Basic \(APIHandlerTests.token)"],
                body: ByteBuffer(string: body))
            #expect(basic.status == .unauthorized)
        }
    }

    /// A length difference of 256 (or any multiple) used to vanish in an 8-bit accumulator: the token
    /// followed by 256 NUL bytes matched.
    @Test func tokensOfDifferentLengthsNeverMatch() {
        let token = "secret-token"
        #expect(constantTimeEquals(token, token))
        #expect(!constantTimeEquals(token + String(repeating: "\0", count: 256), token))
        #expect(!constantTimeEquals(token, token + String(repeating: "\0", count: 512)))
        #expect(!constantTimeEquals("", token))
        #expect(!constantTimeEquals("secret-tokeN", token))
    }

    @Test func previewSizesMustBePositive() async throws {
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("policies/weighted-score.lua"), encoding: .utf8)
        let policy = try Policy.load(source: source, fileName: "weighted-score.lua")
        try await handlerTests.withRouter(policy: policy) { _, client in
            let negative = try await APIHandlerTests.post(client, "/v1/placement/preview", #"{"size_bytes": -1, "replication_factor": 1}"#)
            #expect(negative.status == .badRequest)
            #expect(
                try APIHandlerTests.error(negative).message == "size_bytes must be a non-negative integer",
                "\(String(buffer: negative.body))")
            let zero = try await APIHandlerTests.post(client, "/v1/placement/preview", #"{"size_bytes": 0, "replication_factor": 1}"#)
            #expect(zero.status == .badRequest)
        }
    }

    @Test func previewAdmissionBoundsAllAndEachClient() {
        let admission = PreviewAdmission(limit: 3, perClient: 2)
        #expect(admission.admit("a") == nil)
        #expect(admission.admit("a") == nil)
        #expect(admission.admit("a") == .clientLimit)
        #expect(admission.admit("b") == nil)
        #expect(admission.admit("c") == .busy)
        admission.release("a")
        #expect(admission.inUse == 2)
        #expect(admission.admit("c") == nil)
        #expect(admission.admit("a") == .busy)
        for client in ["a", "b", "c"] { admission.release(client) }
        #expect(admission.inUse == 0)
    }

    /// Submissions past a client's rate are refused with 429 and `Retry-After`; failed authentications
    /// use up the same allowance.
    @Test func submissionsBeyondTheClientsRateAre429() async throws {
        try await handlerTests.withRouter(configureAPI: { api in
            api.submissionsPerSecond = 0.0001
            api.submissionBurst = 3
        }) { _, client in
            let body = EventJSON.encode(Fixtures.register("n1"))
            let guess = try await APIHandlerTests.post(client, "/v1/events", body, token: "guess-1")
            #expect(guess.status == .unauthorized)
            #expect(try await APIHandlerTests.post(client, "/v1/events", body, token: "guess-2").status == .unauthorized)
            #expect(try await APIHandlerTests.post(client, "/v1/events", body).status == .accepted)
            let limited = try await APIHandlerTests.post(client, "/v1/events", EventJSON.encode(Fixtures.register("n2")))
            #expect(limited.status == .tooManyRequests)
            let error = try APIHandlerTests.error(limited)
            #expect(error.code == "rate_limited")
            #expect(
                error.message.hasPrefix("too many submissions from this client (at most 0.0001 per second with bursts of 3)"),
                "\(error.message)")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
            // Reads are not limited.
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }

    @Test func theSubmissionRateIsAllowedPerClientAndRefills() {
        let clock = ManualMonotonicClock()
        let limit = SubmissionRateLimit(rate: 2, burst: 2, maxClients: 2, now: clock.read)
        #expect(limit.admit("a") == nil)
        #expect(limit.admit("a") == nil)
        #expect(limit.admit("a") == 500, "one token refills in 500 ms")
        #expect(limit.admit("b") == nil, "another client has its own allowance")
        clock.advance(.milliseconds(250))
        #expect(limit.admit("a") == 250)
        clock.advance(.milliseconds(250))
        #expect(limit.admit("a") == nil)
        // Two clients are tracked at most: a third evicts the fullest bucket (b's), never an empty one.
        #expect(limit.admit("c") == nil)
        #expect(limit.admit("a") != nil, "a's empty bucket was kept")
        #expect(limit.admit("b") == nil, "b starts again with a full bucket")
    }

    /// Error bodies name no file of the coordinator's: the data directory reads DATA_DIR, other hidden
    /// paths their label.
    @Test func bodiesNeverShowTheDataDirectory() async throws {
        try await handlerTests.withRouter { node, _ in
            var api = node.configuration.api
            api.hiddenPaths["/srv/dsdn/da"] = "DA_LOG"
            let handlers = Handlers(node: node, api: api)
            let directory = node.configuration.dataDirectory
            let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
            #expect(
                handlers.redact("outbox \(absolute)/outbox.log: cannot append: No space left on device")
                    == "outbox DATA_DIR/outbox.log: cannot append: No space left on device")
            #expect(handlers.redact("cannot read /srv/dsdn/da/segment-1.log") == "cannot read DA_LOG/segment-1.log")
            #expect(!handlers.redact("lock \(directory)/lock").contains(directory))
        }
    }

    // MARK: - On a real socket

    /// Bytes that are not HTTP get a 400 with the API's JSON error, and the connection is closed.
    @Test func malformedHTTPGetsA400WithABody() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await RunningCoordinator(directory: directory)
        let port = try #require(coordinator.port)
        let answer = try await RawConnection.exchange(port: port, send: "THIS IS NOT HTTP\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
        #expect(answer.contains(#"{"error":{"code":"bad_request","message":"malformed HTTP request"#), "\(answer)")
        try await coordinator.stop()
    }

    /// A connection that sends nothing is closed after the idle timeout.
    @Test func idleConnectionsAreClosed() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await RunningCoordinator(directory: directory, configureAPI: { api in api.idleTimeout = .milliseconds(300) })
        let port = try #require(coordinator.port)
        // Nothing sent: the server closes it (the read ends) long before the 20 s receive timeout.
        let answer = try await RawConnection.exchange(port: port, send: "")
        #expect(answer.isEmpty)
        let health = try await coordinator.client.get("/health")
        #expect(health.status == 200)
        try await coordinator.stop()
    }

    /// Beyond the connection cap a new connection is not served until an open one closes.
    @Test func connectionsBeyondTheCapWaitForOneToClose() async throws {
        let directory = try TemporaryDirectory()
        let coordinator = try await RunningCoordinator(directory: directory, configureAPI: { api in api.maxConnections = 2 })
        let port = try #require(coordinator.port)
        let first = try RawConnection(port: port)
        let second = try RawConnection(port: port)
        // Let the server take both before the third arrives.
        try first.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try second.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await first.readResponseHead().hasPrefix("HTTP/1.1 200"))
        #expect(try await second.readResponseHead().hasPrefix("HTTP/1.1 200"))
        let third = try RawConnection(port: port)
        try third.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        // Not served while two are open (a served request would answer at once).
        #expect(try third.poll(milliseconds: 500) == false)
        first.close()
        #expect(try await third.readResponseHead().hasPrefix("HTTP/1.1 200"))
        second.close()
        third.close()
        try await coordinator.stop()
    }
}

/// A blocking TCP connection to 127.0.0.1 for tests that need bytes no HTTP client sends; reads run on
/// their own thread and give up after 20 s.
final class RawConnection: @unchecked Sendable {
    private let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ServeProcessError("socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw ServeProcessError("connect: errno \(errno)")
        }
    }

    deinit { Glibc.close(descriptor) }

    func close() { shutdown(descriptor, Int32(SHUT_RDWR)) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return }
        guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw ServeProcessError("send: errno \(errno)")
        }
    }

    /// Whether bytes arrive within `milliseconds`.
    func poll(milliseconds: Int32) throws -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = Glibc.poll(&entry, 1, milliseconds)
        guard ready >= 0 else { throw ServeProcessError("poll: errno \(errno)") }
        return ready > 0
    }

    /// Everything up to the end of the response head (or what arrived before the peer closed).
    func readResponseHead() async throws -> String {
        try await read { $0.contains("\r\n\r\n") }
    }

    /// Everything until the peer closes.
    func readToEnd() async throws -> String {
        try await read { _ in false }
    }

    private func read(until done: @escaping @Sendable (String) -> Bool) async throws -> String {
        let descriptor = descriptor
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var received: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = recv(descriptor, &buffer, buffer.count, 0)
                    if count < 0 {
                        continuation.resume(throwing: ServeProcessError("recv: errno \(errno) after \(received.count) bytes"))
                        return
                    }
                    if count == 0 { break }
                    received += buffer[0..<count]
                    if done(String(decoding: received, as: UTF8.self)) { break }
                }
                continuation.resume(returning: String(decoding: received, as: UTF8.self))
            }
        }
    }

    /// Connects, sends `text`, and reads until the server closes.
    static func exchange(port: Int, send text: String) async throws -> String {
        let connection = try RawConnection(port: port)
        try connection.send(text)
        return try await connection.readToEnd()
    }
}

/// `/health` and submissions never wait for a policy evaluation: decisions run on evaluator threads of
/// their own, and the loop's actor is free while one runs. (The policy used to run inside the actor that
/// `/health` reads, so a round of 256 chunks at 8,000 nodes held `/health` for 20 s.)
@Suite struct SchedulerResponsivenessTests {
    @Test func healthAnswersWhileAPlacementIsBeingDecided() async throws {
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("policies/weighted-score.lua"), encoding: .utf8)
        let policy = try Policy.load(source: source, fileName: "weighted-score.lua")
        try await APIHandlerTests().withRouter(policy: policy) { node, client in
            // Hold the loop's only evaluation thread until the end of the test.
            let gate = DispatchSemaphore(value: 0)
            let holder = Task { try await node.placementEvaluator.run { gate.wait() } }
            defer { gate.signal() }
            let events = [Fixtures.register("n1"), Fixtures.register("n2"), Fixtures.declare(Fixtures.hash(1), replicationFactor: 2)]
            let posted = try await APIHandlerTests.post(
                client, "/v1/events?wait=true", events.map(EventJSON.encode).joined(separator: "\n"))
            #expect(posted.status == .ok)
            // The round for the new chunk waits for the held thread: two evaluations pending.
            for _ in 0..<2_000 where node.placementEvaluator.pending < 2 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(node.placementEvaluator.pending == 2)
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
            let state = try await client.execute(uri: "/v1/state", method: .get)
            #expect(state.status == .ok)
            let more = try await APIHandlerTests.post(client, "/v1/events", EventJSON.encode(Fixtures.register("n3")))
            #expect(more.status == .accepted)
            gate.signal()
            _ = try await holder.value
        }
    }
}

/// Faults below the coordinator show on `/health` instead of hiding behind a 200.
@Suite struct HealthReportsFaultsTests {
    /// A DA that refuses every submit (down, blocked, timing out): `/health` is 503 and says why, while
    /// the blob is retried; once the DA is back the event lands and `/health` is 200 again.
    @Test func aDAThatRefusesSubmitsIsReported() async throws {
        try await APIHandlerTests().withRouter { node, client in
            let da = try #require(node.da as? MemoryDA)
            await da.setDown("maintenance")
            let posted = try await APIHandlerTests.post(client, "/v1/events", EventJSON.encode(Fixtures.register("n1")))
            #expect(posted.status == .accepted)
            var health = try await client.execute(uri: "/health", method: .get)
            var body = try APIJSON.decode(HealthResponse.self, from: String(buffer: health.body))
            // The first failed submit comes within the batch interval; bounded wait for it.
            for _ in 0..<1_000 where body.publisherDegraded == nil {
                try await Task.sleep(for: .milliseconds(10))
                health = try await client.execute(uri: "/health", method: .get)
                body = try APIJSON.decode(HealthResponse.self, from: String(buffer: health.body))
            }
            #expect(health.status == .serviceUnavailable)
            #expect(body.da.ready == false)
            #expect(body.publisherDegraded?.contains("maintenance") == true, "\(body)")

            await da.setDown(nil)
            try await node.publisher.waitUntilDrained()
            let recovered = try await client.execute(uri: "/health", method: .get)
            #expect(recovered.status == .ok, "\(String(buffer: recovered.body))")
            #expect(await node.publisher.counters.eventsPublished == 1)
            #expect(await node.publisher.submitTrouble == nil)
        }
    }
}

/// A monotonic clock the test moves by hand.
final class ManualMonotonicClock: Sendable {
    private let time = Mutex<Duration>(.zero)

    var read: @Sendable () -> Duration { { [self] in time.withLock { $0 } } }

    func advance(_ by: Duration) { time.withLock { $0 += by } }
}
