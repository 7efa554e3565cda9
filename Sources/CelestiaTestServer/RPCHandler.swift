import DSDNCelestia
import DSDNDA

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The permissions of celestia-node's auth tokens.
enum Permission: String, Sendable, Comparable {
    case read, write, admin

    private var rank: Int {
        switch self {
        case .read: 1
        case .write: 2
        case .admin: 3
        }
    }

    static func < (lhs: Permission, rhs: Permission) -> Bool { lhs.rank < rhs.rank }
}

/// What one HTTP request gets back.
struct HTTPAnswer: Sendable {
    var status: Int
    var body: [UInt8]

    static func empty(_ status: Int) -> HTTPAnswer { HTTPAnswer(status: status, body: []) }
}

/// A JSON-RPC error as go-jsonrpc writes it, with the HTTP status it goes out with.
struct RPCFailure: Error, Sendable {
    var code: Int
    var message: String
    var httpStatus: Int

    /// An application error: HTTP 200, `code: 1`.
    static func app(_ message: String) -> RPCFailure { RPCFailure(code: 1, message: message, httpStatus: 200) }
}

/// Outcome of one call: a result, an error, or "answer the whole request with this bare HTTP status".
enum CallResult: Sendable {
    case result(JSON)
    case failure(RPCFailure)
    case bareStatus(Int)
}

/// Decodes, authorizes and executes JSON-RPC requests against the simulated chain, with the wire
/// behaviour of celestia-node (go-jsonrpc): positional params, `-32602 wrong param count`,
/// `-32601` unknown methods, `-32700` parse errors and oversized bodies (HTTP 500), `code: 1`
/// application errors with HTTP 200, HTTP 401 with an empty body for a bad token.
struct RPCHandler: Sendable {
    let chain: Chain
    let configuration: CelestiaTestServer.Configuration

    struct Method: Sendable {
        var permission: Permission
        var params: Int
    }

    static let methods: [String: Method] = [
        "blob.Submit": Method(permission: .write, params: 2),
        "blob.Get": Method(permission: .read, params: 3),
        "blob.GetAll": Method(permission: .read, params: 2),
        "header.LocalHead": Method(permission: .read, params: 0),
        "header.NetworkHead": Method(permission: .read, params: 0),
        "header.GetByHeight": Method(permission: .read, params: 1),
        "header.WaitForHeight": Method(permission: .read, params: 1),
        "node.Ready": Method(permission: .read, params: 0),
        "state.Balance": Method(permission: .read, params: 0),
        "testserver.SetFaults": Method(permission: .admin, params: 1),
        "testserver.ProduceBlock": Method(permission: .admin, params: 0),
        "testserver.ReleaseStalls": Method(permission: .admin, params: 0),
    ]

    // MARK: - HTTP level

    func handle(body: [UInt8]?, bodyTooLarge: Bool, authorization: String?, queryToken: String?) async -> HTTPAnswer {
        if bodyTooLarge {
            return errorAnswer(
                id: .null,
                RPCFailure(
                    code: -32700, message: "request bigger than maximum \(configuration.maxBodyBytes) allowed", httpStatus: 500))
        }
        // Authentication (go-jsonrpc's auth handler): a present but wrong token is HTTP 401, empty body.
        let permission: Permission?
        switch authenticate(authorization: authorization, queryToken: queryToken) {
        case let .granted(level): permission = level
        case .rejected:
            await chain.record { $0.unauthorizedResponses += 1 }
            return .empty(401)
        }
        return await process(body ?? [], permission: permission)
    }

    /// Authenticates a WebSocket upgrade request the way ``handle(body:bodyTooLarge:authorization:queryToken:)``
    /// authenticates a POST: a present but wrong token (or the `unauthorized` fault) is a refusal, to be
    /// answered with HTTP 401 and an empty body; the permission holds for the whole connection.
    func authenticateUpgrade(authorization: String?, queryToken: String?) async -> Authentication {
        let result = authenticate(authorization: authorization, queryToken: queryToken)
        let refused: Bool
        if case .rejected = result {
            refused = true
        } else {
            refused = await chain.faults.unauthorized
        }
        if refused {
            await chain.record { $0.unauthorizedResponses += 1 }
            return .rejected
        }
        return result
    }

    /// Executes one authenticated JSON-RPC message (a request or a batch): the HTTP path's answer after
    /// authentication, which the WebSocket path also uses for every frame.
    func process(_ body: [UInt8], permission: Permission?) async -> HTTPAnswer {
        let trimmed = body.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard !trimmed.isEmpty else {
            return errorAnswer(id: .null, RPCFailure(code: -32600, message: "Invalid request", httpStatus: 400))
        }
        let parsed: JSON
        do {
            parsed = try JSONDecoder().decode(JSON.self, from: Data(body))
        } catch {
            return errorAnswer(id: .null, RPCFailure(code: -32700, message: "Parse error", httpStatus: 500))
        }
        let faults = await chain.faults
        if faults.unauthorized && !isControl(parsed) {
            await chain.record { $0.unauthorizedResponses += 1 }
            return .empty(401)
        }
        if faults.latency > .zero { try? await Task.sleep(for: faults.latency) }

        if case let .array(requests) = parsed {
            guard !requests.isEmpty else {
                return errorAnswer(id: .null, RPCFailure(code: -32600, message: "Invalid request", httpStatus: 400))
            }
            var responses: [JSON] = []
            for request in requests {
                let id = request["id"] ?? .null
                switch await call(request, permission: permission) {
                case let .result(value): responses.append(Self.envelope(id: id, result: value))
                case let .failure(failure): responses.append(Self.envelope(id: id, error: failure))
                case .bareStatus:
                    responses.append(Self.envelope(id: id, error: .app("context deadline exceeded")))
                }
            }
            return HTTPAnswer(status: 200, body: JSON.encodeData(.array(responses)))
        }
        let id = parsed["id"] ?? .null
        switch await call(parsed, permission: permission) {
        case let .result(value):
            return HTTPAnswer(status: 200, body: JSON.encodeData(Self.envelope(id: id, result: value)))
        case let .failure(failure):
            return errorAnswer(id: id, failure)
        case let .bareStatus(status):
            return .empty(status)
        }
    }

    /// The outcome of authentication: the permission granted (`nil`: no token on a protected server, so
    /// every method answers "missing permission"), or a refusal (HTTP 401).
    enum Authentication {
        case granted(Permission?)
        case rejected
    }

    private func authenticate(authorization: String?, queryToken: String?) -> Authentication {
        let presented: String?
        if let authorization {
            guard authorization.hasPrefix("Bearer ") else { return .rejected }
            presented = String(authorization.dropFirst("Bearer ".count))
        } else {
            presented = queryToken
        }
        guard configuration.token != nil || configuration.readToken != nil else {
            // An open server: every method is allowed, any token is accepted.
            return .granted(.admin)
        }
        guard let presented else { return .granted(nil) }
        if presented == configuration.token { return .granted(.admin) }
        if presented == configuration.readToken { return .granted(.read) }
        return .rejected
    }

    private func isControl(_ request: JSON) -> Bool {
        func control(_ item: JSON) -> Bool {
            if case let .string(method)? = item["method"] { return method.hasPrefix("testserver.") }
            return false
        }
        if case let .array(items) = request { return !items.isEmpty && items.allSatisfy(control) }
        return control(request)
    }

    private func errorAnswer(id: JSON, _ failure: RPCFailure) -> HTTPAnswer {
        HTTPAnswer(status: failure.httpStatus, body: JSON.encodeData(Self.envelope(id: id, error: failure)))
    }

    static func envelope(id: JSON, result: JSON) -> JSON {
        .object(["jsonrpc": .string("2.0"), "id": id, "result": result])
    }

    static func envelope(id: JSON, error: RPCFailure) -> JSON {
        .object([
            "jsonrpc": .string("2.0"), "id": id,
            "error": .object(["code": .int(Int64(error.code)), "message": .string(error.message)]),
        ])
    }

    // MARK: - Call level

    func call(_ request: JSON, permission: Permission?) async -> CallResult {
        guard case .object = request, case let .string(method)? = request["method"] else {
            return .failure(RPCFailure(code: -32600, message: "Invalid request", httpStatus: 400))
        }
        await chain.count(method)
        guard let spec = Self.methods[method] else {
            return .failure(RPCFailure(code: -32601, message: "method '\(method)' not found", httpStatus: 500))
        }
        let params: [JSON]
        switch request["params"] {
        case nil, .null?: params = []
        case let .array(values)?: params = values
        case let other?:
            return .failure(
                RPCFailure(
                    code: -32700,
                    message: "unmarshaling param array: json: cannot unmarshal \(other.goKind) into Go value of type []jsonrpc.param",
                    httpStatus: 500))
        }
        guard params.count == spec.params else {
            return .failure(
                RPCFailure(
                    code: -32602, message: "wrong param count (method '\(method)'): \(params.count) != \(spec.params)",
                    httpStatus: 500))
        }
        do {
            let decoded = try decode(params, for: method)
            let short = method.split(separator: ".").last.map(String.init) ?? method
            guard let permission, permission >= spec.permission else {
                throw RPCFailure.app("missing permission to invoke '\(short)' (need '\(spec.permission.rawValue)')")
            }
            if !method.hasPrefix("testserver.") {
                if let bare = try await randomFailure(method: method, decoded: decoded) { return .bareStatus(bare) }
            }
            return .result(try await execute(method, decoded))
        } catch let failure as RPCFailure {
            return .failure(failure)
        } catch {
            return .failure(.app("\(error)"))
        }
    }

    /// Parameters after Go-style decoding.
    enum Params: Sendable {
        case none
        case height(UInt64)
        case submit(blobs: [SubmittedBlob], txConfig: JSON)
        case get(height: UInt64, namespace: [UInt8], commitment: [UInt8])
        case getAll(height: UInt64, namespaces: [[UInt8]])
        case faults(JSON)
    }

    struct SubmittedBlob: Sendable {
        var namespace: [UInt8]
        var data: [UInt8]
        var shareVersion: Int
        var signer: JSON?
    }

    private func decode(_ params: [JSON], for method: String) throws(RPCFailure) -> Params {
        func unmarshal(_ index: Int, _ goType: String, _ value: JSON, reason: String? = nil) -> RPCFailure {
            RPCFailure(
                code: -32700,
                message: "unmarshaling params for '\(method)' (param: *\(goType)): "
                    + (reason ?? "json: cannot unmarshal \(value.goKind) into Go value of type \(goType)"),
                httpStatus: 500)
        }
        func height(_ index: Int) throws(RPCFailure) -> UInt64 {
            let value = params[index]
            switch value {
            case let .uint(height): return height
            case let .int(number):
                throw unmarshal(index, "uint64", value, reason: "json: cannot unmarshal number \(number) into Go value of type uint64")
            case let .double(number):
                throw unmarshal(index, "uint64", value, reason: "json: cannot unmarshal number \(number) into Go value of type uint64")
            default: throw unmarshal(index, "uint64", value)
            }
        }
        func bytes(_ index: Int, _ goType: String, _ value: JSON) throws(RPCFailure) -> [UInt8] {
            guard case let .string(text) = value else { throw unmarshal(index, goType, value) }
            guard let bytes = Base64.decode(text) else {
                throw unmarshal(index, goType, value, reason: "illegal base64 data at input byte 0")
            }
            return bytes
        }
        switch method {
        case "blob.Submit":
            guard case let .array(items) = params[0] else { throw unmarshal(0, "[]*blob.Blob", params[0]) }
            var blobs: [SubmittedBlob] = []
            for item in items {
                guard case .object = item else { throw unmarshal(0, "[]*blob.Blob", item) }
                let namespace = try bytes(0, "[]*blob.Blob", item["namespace"] ?? .null)
                let data: [UInt8]
                switch item["data"] {
                case nil, .null?: data = []
                case let value?: data = try bytes(0, "[]*blob.Blob", value)
                }
                var shareVersion = 0
                if case let .uint(version)? = item["share_version"] { shareVersion = Int(version) }
                blobs.append(SubmittedBlob(namespace: namespace, data: data, shareVersion: shareVersion, signer: item["signer"]))
            }
            switch params[1] {
            case .object, .null: break
            default: throw unmarshal(1, "state.TxConfig", params[1])
            }
            return .submit(blobs: blobs, txConfig: params[1])
        case "blob.Get":
            return .get(
                height: try height(0), namespace: try bytes(1, "share.Namespace", params[1]),
                commitment: try bytes(2, "blob.Commitment", params[2]))
        case "blob.GetAll":
            guard case let .array(items) = params[1] else { throw unmarshal(1, "[]share.Namespace", params[1]) }
            var namespaces: [[UInt8]] = []
            for item in items { namespaces.append(try bytes(1, "[]share.Namespace", item)) }
            return .getAll(height: try height(0), namespaces: namespaces)
        case "header.GetByHeight", "header.WaitForHeight":
            return .height(try height(0))
        case "testserver.SetFaults":
            guard case .object = params[0] else { throw unmarshal(0, "testserver.Faults", params[0]) }
            return .faults(params[0])
        default:
            return .none
        }
    }

    /// Draws the seeded random failure for a call; returns a bare HTTP status to answer with, throws the
    /// JSON-RPC error to answer with, or returns `nil` to go on.
    private func randomFailure(method: String, decoded: Params) async throws(RPCFailure) -> Int? {
        if method == "blob.Submit" {
            guard let kind = await chain.drawFailure(kinds: 3) else { return nil }
            switch kind {
            case 0:
                await chain.record { $0.sequenceMismatches += 1 }
                throw sequenceMismatch()
            case 1:
                if case let .submit(blobs, _) = decoded, let valid = try? await validate(blobs) {
                    _ = await chain.enqueue(valid)
                    await chain.record { $0.timedOutSubmits += 1 }
                }
                throw .app("context deadline exceeded")
            default:
                return 500
            }
        }
        guard let kind = await chain.drawFailure(kinds: 2) else { return nil }
        if kind == 0 { throw .app("context deadline exceeded") }
        return 500
    }

    private func sequenceMismatch() -> RPCFailure {
        .app("account sequence mismatch, expected 12, got 11: incorrect account sequence")
    }

    // MARK: - Methods

    private func execute(_ method: String, _ params: Params) async throws(RPCFailure) -> JSON {
        switch (method, params) {
        case let ("blob.Submit", .submit(blobs, txConfig)):
            return try await submit(blobs, txConfig: txConfig)
        case let ("blob.Get", .get(height, namespace, commitment)):
            let ns = try validNamespace(namespace)
            try await checkReadable(height, waitForNext: true)
            guard let block = await chain.block(at: height),
                let blob = block.blobs.first(where: { $0.namespace == ns && $0.commitment == commitment })
            else { throw .app("blob: not found") }
            return Self.blobJSON(blob)
        case let ("blob.GetAll", .getAll(height, namespaces)):
            var valid: [DANamespace] = []
            for namespace in namespaces { valid.append(try validNamespace(namespace)) }
            try await checkReadable(height, waitForNext: true)
            guard let block = await chain.block(at: height) else { throw .app("context deadline exceeded") }
            var result: [JSON] = []
            for namespace in valid {
                result += block.blobs.filter { $0.namespace == namespace }.map(Self.blobJSON)
            }
            return result.isEmpty ? .null : .array(result)
        case ("header.LocalHead", _):
            guard let block = await chain.block(at: await chain.localHead) else { throw .app("header: not found") }
            return headerJSON(block)
        case ("header.NetworkHead", _):
            guard let block = await chain.block(at: await chain.head) else { throw .app("header: not found") }
            return headerJSON(block)
        case let ("header.GetByHeight", .height(height)):
            try await checkReadable(height, waitForNext: true)
            guard let block = await chain.block(at: height) else { throw .app("context deadline exceeded") }
            return headerJSON(block)
        case let ("header.WaitForHeight", .height(height)):
            try checkPositive(height)
            try await checkTail(height)
            guard await chain.waitForLocalHeight(height, timeout: configuration.maxWait),
                let block = await chain.block(at: height)
            else { throw .app("context deadline exceeded") }
            return headerJSON(block)
        case ("node.Ready", _):
            return .bool(true)
        case ("state.Balance", _):
            return .object(["denom": .string("utia"), "amount": .string(String(await chain.balance))])
        case let ("testserver.SetFaults", .faults(object)):
            let current = await chain.faults
            let updated = try Self.faults(from: object, base: current)
            await chain.setFaults(updated, reseed: object["seed"] != nil)
            return .bool(true)
        case ("testserver.ProduceBlock", _):
            return .uint(await chain.produceBlock(atNanos: unixNanos()))
        case ("testserver.ReleaseStalls", _):
            await chain.releaseStalls()
            return .bool(true)
        default:
            throw .app("method '\(method)' is not implemented by the test server")
        }
    }

    private func submit(_ blobs: [SubmittedBlob], txConfig: JSON) async throws(RPCFailure) -> JSON {
        if case .null = txConfig {
            throw RPCFailure(
                code: 0,
                message:
                    "fatal error calling 'blob.Submit': panic in rpc method 'blob.Submit': runtime error: invalid memory address or nil pointer dereference",
                httpStatus: 500)
        }
        let valid = try await validate(blobs)
        if await chain.faults.unfundedKey {
            await chain.record { $0.unfundedSubmits += 1 }
            throw .app("account for signer \(Self.signerAddress) not found")
        }
        if let code = await chain.takeExecutionRejection() {
            await chain.record { $0.executionRejections += 1 }
            let log: String
            switch code {
            case 5: log = "insufficient funds"
            case 11: log = "out of gas in location: blob; gasWanted: 65000, gasUsed: 71240: out of gas"
            case 13: log = "insufficient fee"
            default: log = "execution failed"
            }
            throw .app(
                "tx with hash \(Self.hex(valid[0].commitment[...]).uppercased()) was rejected by the node with execution code: \(code) and log: \(log)"
            )
        }
        if await chain.takeSequenceMismatch() {
            await chain.record { $0.sequenceMismatches += 1 }
            throw sequenceMismatch()
        }
        let timeout = await chain.takeSubmitTimeout()
        let id = await chain.enqueue(valid)
        if timeout == .error {
            await chain.record { $0.timedOutSubmits += 1 }
            throw .app("context deadline exceeded")
        }
        guard let height = await chain.awaitInclusion(id) else {
            throw .app("context canceled")
        }
        await chain.charge(UInt64(2_000 + valid.reduce(0) { $0 + $1.data.count } / 100))
        if timeout == .stall {
            await chain.record { $0.stalledSubmits += 1 }
            await chain.stall(for: await chain.faults.stallDuration)
        }
        return .uint(height)
    }

    private func validate(_ blobs: [SubmittedBlob]) async throws(RPCFailure) -> [(
        namespace: DANamespace, data: [UInt8], commitment: [UInt8]
    )] {
        guard !blobs.isEmpty else { throw .app("cannot submit an empty list of blobs") }
        var valid: [(namespace: DANamespace, data: [UInt8], commitment: [UInt8])] = []
        var total = 0
        for blob in blobs {
            let namespace = try validNamespace(blob.namespace)
            guard !blob.data.isEmpty else { throw .app("cannot use zero blob size") }
            guard blob.shareVersion == 0 else {
                throw .app("unsupported share version \(blob.shareVersion) (the test server accepts share version 0)")
            }
            if let signer = blob.signer, signer != .null {
                throw .app("share version 0 blobs must not carry a signer")
            }
            total += blob.data.count
            valid.append((namespace, blob.data, ShareCommitment.compute(namespace: namespace, data: blob.data)))
        }
        guard total <= configuration.maxBlobBytesPerSubmit else {
            throw .app("total blob size too large: \(total) bytes exceeds the maximum of \(configuration.maxBlobBytesPerSubmit) bytes")
        }
        return valid
    }

    private func validNamespace(_ bytes: [UInt8]) throws(RPCFailure) -> DANamespace {
        guard bytes.count == 29 else { throw .app("invalid namespace length: \(bytes.count). Must be 29 bytes") }
        guard bytes[0] == 0 else { throw .app("unsupported namespace version \(bytes[0])") }
        guard bytes[1..<19].allSatisfy({ $0 == 0 }) else {
            throw .app("namespace ID \(Self.hex(bytes[1...])) must start with 18 leading zeros")
        }
        do {
            return try DANamespace(bytes: bytes)
        } catch {
            throw .app("invalid data namespace(\(Self.hex(bytes[...]))): reserved data is forbidden")
        }
    }

    private func checkPositive(_ height: UInt64) throws(RPCFailure) {
        if height == 0 { throw .app("height must be bigger than zero") }
    }

    private func checkTail(_ height: UInt64) async throws(RPCFailure) {
        if let tail = await chain.faults.tail, height < tail {
            await chain.record { $0.prunedReads += 1 }
            throw .app("requested header (\(height)) is below Tail (\(tail))")
        }
    }

    /// celestia-node's `header.GetByHeight` rules, which `blob.Get`/`GetAll` share: below the tail is an
    /// error, the next height is waited for, anything later is "from the future".
    private func checkReadable(_ height: UInt64, waitForNext: Bool) async throws(RPCFailure) {
        try checkPositive(height)
        try await checkTail(height)
        let head = await chain.localHead
        if height <= head { return }
        if height > head + 1 {
            throw .app("header: given height is from the future: networkHeight: \(head), requestedHeight: \(height)")
        }
        guard waitForNext, await chain.waitForLocalHeight(height, timeout: configuration.maxWait) else {
            throw .app("context deadline exceeded")
        }
    }

    static func blobJSON(_ blob: CelestiaStoredBlob) -> JSON {
        .object([
            "namespace": .string(Base64.encode(blob.namespace.bytes)),
            "data": .string(Base64.encode(blob.data)),
            "share_version": .uint(0),
            "commitment": .string(Base64.encode(blob.commitment)),
            "index": .int(Int64(blob.shareIndex)),
        ])
    }

    private func headerJSON(_ block: Chain.Block) -> JSON {
        let height = String(block.height)
        let hash = Self.fakeHash(block.height, salt: 1)
        let parts: JSON = .object(["total": .uint(1), "hash": .string(Self.fakeHash(block.height, salt: 2))])
        return .object([
            "header": .object([
                "version": .object(["block": .string("11"), "app": .string("3")]),
                "chain_id": .string(configuration.chainID),
                "height": .string(height),
                "time": .string(rfc3339(nanos: block.timeNanos)),
                "last_block_id": .object([
                    "hash": .string(block.height > 1 ? Self.fakeHash(block.height - 1, salt: 1) : ""),
                    "parts": .object(["total": .uint(0), "hash": .string("")]),
                ]),
                "last_commit_hash": .string(Self.fakeHash(block.height, salt: 3)),
                "data_hash": .string(Self.fakeHash(block.height, salt: 4)),
                "validators_hash": .string(Self.fakeHash(0, salt: 5)),
                "next_validators_hash": .string(Self.fakeHash(0, salt: 5)),
                "consensus_hash": .string(Self.fakeHash(0, salt: 6)),
                "app_hash": .string(Self.fakeHash(block.height, salt: 7)),
                "last_results_hash": .string(Self.fakeHash(block.height, salt: 8)),
                "evidence_hash": .string(Self.fakeHash(0, salt: 9)),
                "proposer_address": .string(String(Self.fakeHash(0, salt: 10).prefix(40))),
            ]),
            "validator_set": .object(["validators": .array([]), "proposer": .null]),
            "commit": .object([
                "height": .string(height),
                "round": .uint(0),
                "block_id": .object(["hash": .string(hash), "parts": parts]),
                "signatures": .array([]),
            ]),
            "dah": .object(["row_roots": .array([]), "column_roots": .array([])]),
        ])
    }

    /// A deterministic placeholder hash (upper-case hex, 32 bytes); the test server proves nothing.
    static func fakeHash(_ height: UInt64, salt: UInt64) -> String {
        var generator = FaultGenerator(seed: height &* 0x9E37_79B9_7F4A_7C15 ^ salt)
        var text = ""
        for _ in 0..<4 {
            let word = generator.next()
            let hex = String(word, radix: 16, uppercase: true)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return text
    }

    /// The signer address an unfunded key reports (a bech32 account address of the test chain).
    static let signerAddress = "celestia1qyqszqgpqyqszqgpqyqszqgpqyqszqgp4m6v2x"

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }

    /// Applies the keys of a `testserver.SetFaults` object (the same names as the executable's flags,
    /// camel-cased) to `base`.
    static func faults(from object: JSON, base: CelestiaFaults) throws(RPCFailure) -> CelestiaFaults {
        var faults = base
        guard case let .object(fields) = object else { throw .app("faults must be an object") }
        func number(_ value: JSON) -> Double? {
            switch value {
            case let .uint(v): Double(v)
            case let .int(v): Double(v)
            case let .double(v): v
            default: nil
            }
        }
        for (key, value) in fields {
            switch (key, value) {
            case let ("seed", .uint(seed)): faults.seed = seed
            case ("failRate", _):
                guard let rate = number(value), (0...1).contains(rate) else { throw .app("failRate must be in 0…1") }
                faults.failurePerMillion = CelestiaFaults.perMillion(fraction: rate)
            case ("latencyMs", _):
                guard let ms = number(value), ms >= 0 else { throw .app("latencyMs must be ≥ 0") }
                faults.latency = .milliseconds(Int64(ms))
            case ("tail", .null): faults.tail = nil
            case let ("tail", .uint(tail)): faults.tail = tail
            case let ("unauthorized", .bool(flag)): faults.unauthorized = flag
            case let ("submitTimeouts", .uint(count)): faults.submitTimeouts = Int(count)
            case let ("submitTimeoutMode", .string(mode)):
                guard let parsed = CelestiaFaults.SubmitTimeoutMode(rawValue: mode) else {
                    throw .app("submitTimeoutMode must be stall or error")
                }
                faults.submitTimeoutMode = parsed
            case ("stallMs", _):
                guard let ms = number(value), ms >= 0 else { throw .app("stallMs must be ≥ 0") }
                faults.stallDuration = .milliseconds(Int64(ms))
            case let ("sequenceMismatches", .uint(count)): faults.sequenceMismatches = Int(count)
            case let ("unfundedKey", .bool(flag)): faults.unfundedKey = flag
            case let ("executionRejections", .uint(count)): faults.executionRejections = Int(count)
            case let ("localHeadLag", .uint(lag)): faults.localHeadLag = lag
            case let ("executionCode", .uint(code)) where code <= UInt64(UInt32.max): faults.executionCode = UInt32(code)
            default:
                throw .app(
                    "unknown or mistyped fault \(key.debugDescription) (known: seed, failRate, latencyMs, tail, unauthorized, submitTimeouts, submitTimeoutMode, stallMs, sequenceMismatches, unfundedKey, executionRejections, executionCode, localHeadLag)"
                )
            }
        }
        return faults
    }
}
