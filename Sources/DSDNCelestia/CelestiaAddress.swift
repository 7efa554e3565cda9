import DSDNDA
import DSDNJSON

/// Gas and fee settings sent with every `blob.Submit` as its TxConfig. Everything is optional: an empty
/// TxConfig (`{}`) lets the node estimate gas and price.
public struct CelestiaTxOptions: Sendable, Hashable {
    /// How fast a transaction should be included, when the node picks the gas price.
    public enum Priority: Int, Sendable, Hashable, CaseIterable {
        /// Lowest price.
        case low = 1
        /// The node's default.
        case medium = 2
        /// Highest price.
        case high = 3
    }

    /// A fixed gas price in utia per gas unit (sent with `is_gas_price_set: true`).
    public var gasPrice: Double?
    /// The most the node may pay per gas unit when it estimates the price.
    public var maxGasPrice: Double?
    /// A fixed gas limit instead of the node's estimate.
    public var gas: UInt64?
    /// The inclusion priority.
    public var priority: Priority?
    /// The keyring key that signs (the node's default key when `nil`).
    public var keyName: String?
    /// The signer's bech32 address (instead of `keyName`).
    public var signerAddress: String?
    /// An account that granted a fee allowance to the signer.
    public var feeGranterAddress: String?

    /// Creates options; all `nil` means an empty TxConfig.
    public init(
        gasPrice: Double? = nil, maxGasPrice: Double? = nil, gas: UInt64? = nil, priority: Priority? = nil,
        keyName: String? = nil, signerAddress: String? = nil, feeGranterAddress: String? = nil
    ) {
        self.gasPrice = gasPrice
        self.maxGasPrice = maxGasPrice
        self.gas = gas
        self.priority = priority
        self.keyName = keyName
        self.signerAddress = signerAddress
        self.feeGranterAddress = feeGranterAddress
    }

    /// The TxConfig object: `{}` when nothing is set, never `null`.
    var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if let gasPrice {
            object["gas_price"] = .double(gasPrice)
            object["is_gas_price_set"] = .bool(true)
        }
        if let maxGasPrice { object["max_gas_price"] = .double(maxGasPrice) }
        if let gas { object["gas"] = .uint(gas) }
        if let priority { object["tx_priority"] = .int(Int64(priority.rawValue)) }
        if let keyName { object["key_name"] = .string(keyName) }
        if let signerAddress { object["signer_address"] = .string(signerAddress) }
        if let feeGranterAddress { object["fee_granter_address"] = .string(feeGranterAddress) }
        return .object(object)
    }
}

/// Tuning of a ``CelestiaDA``. Every value can also be set as a query item of a `celestia://` address
/// (see ``CelestiaAddress``).
public struct CelestiaOptions: Sendable, Hashable {
    /// Which header the backend calls "the head".
    public enum HeadSource: String, Sendable, Hashable {
        /// `header.LocalHead`: the newest header this node has synced, so every height up to it can be
        /// read right away (the default).
        case local
        /// `header.NetworkHead`: the newest header the node heard of; reads may wait for the sync.
        case network
    }

    /// The default blob-size cap: 2 MiB.
    public static let defaultMaxBlobBytes = 2 * 1024 * 1024

    /// Client timeout of one `blob.Submit` (it blocks until inclusion). Default 90 s.
    public var submitTimeout: Duration = .seconds(90)
    /// Client timeout of every other call. Default 30 s.
    public var requestTimeout: Duration = .seconds(30)
    /// How long a read of the height right after the head waits for it (`header.WaitForHeight`) before
    /// reporting `.heightFromFuture`. Default 15 s.
    public var heightWaitTimeout: Duration = .seconds(15)
    /// After an ambiguous submit failure, how long the publisher waits for a newer block (so a
    /// transaction still in the mempool can land) before it checks for the blob (`DAOptions` hands it to
    /// the `EventPublisher`, which owns the recovery). Default 60 s.
    public var landingTimeout: Duration = .seconds(60)
    /// How often ``CelestiaDA/newHeights()`` polls the head. Default 1 s.
    public var pollInterval: Duration = .seconds(1)
    /// The largest blob ``CelestiaDA/submit(_:to:)`` accepts, checked before anything is sent.
    public var maxBlobBytes: Int = CelestiaOptions.defaultMaxBlobBytes
    /// The largest response body accepted (a height's blobs of the namespace). Default 128 MiB.
    public var maxResponseBytes: Int = 128 * 1024 * 1024
    /// First delay between submit attempts; doubles per attempt up to ``retryBackoffMaximum``.
    public var retryBackoffInitial: Duration = .milliseconds(100)
    /// Largest delay between submit attempts (about a block time). Default 6 s.
    public var retryBackoffMaximum: Duration = .seconds(6)
    /// Which head ``CelestiaDA/head()`` reports.
    public var headSource: HeadSource = .local
    /// The height the namespace's history begins at (`from-height`): readers start there. A light node
    /// keeps about 7 days, so a network's genesis height must be at or after the node's Tail.
    public var fromHeight: UInt64 = 1
    /// Gas and fee settings of every submit.
    public var tx = CelestiaTxOptions()
    /// Use HTTPS to reach the node (for a node behind a TLS proxy).
    public var useTLS = false

    /// Default options.
    public init() {}
}

/// A parsed `celestia://HOST:PORT?namespace=NAME&…` address.
///
/// - `HOST` is a name, an IPv4 address or a bracketed IPv6 address; `PORT` defaults to 26658.
/// - `namespace` (required) is a name (its 10 user bytes are the first 10 bytes of SHA-256(name)),
///   `0x` followed by 58 hex digits (29 bytes) or `base64:` followed by the 29 bytes in base64.
/// - Optional query items, durations as `90s`, `500ms`, `2m` or plain seconds:
///   `submit-timeout`, `request-timeout`, `wait-timeout`, `landing-timeout`, `poll`, `max-blob-bytes`,
///   `max-response-bytes`, `gas-price`, `max-gas-price`, `gas`,
///   `priority` (`low|medium|high`), `key-name`, `signer`, `fee-granter`, `head` (`local|network`), `tls`.
/// - A token is never part of the address: a `token` query item is refused (use a token file or
///   `CELESTIA_AUTH_TOKEN`), so a printed address never leaks it.
public struct CelestiaAddress: Sendable, Hashable, CustomStringConvertible {
    /// The default celestia-node RPC port.
    public static let defaultPort = 26658

    /// The node's host.
    public var host: String
    /// The node's RPC port.
    public var port: Int
    /// The namespace read and written.
    public var namespace: DANamespace
    /// The namespace as written in the address (for messages).
    public var namespaceText: String
    /// Tuning.
    public var options: CelestiaOptions

    /// Creates an address from parts.
    public init(
        host: String, port: Int = CelestiaAddress.defaultPort, namespace: DANamespace, namespaceText: String? = nil,
        options: CelestiaOptions = CelestiaOptions()
    ) {
        self.host = host
        self.port = port
        self.namespace = namespace
        self.namespaceText = namespaceText ?? "0x" + namespace.description
        self.options = options
    }

    /// `HOST:PORT` (IPv6 hosts in brackets).
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The JSON-RPC URL, e.g. `http://127.0.0.1:26658/`.
    public var rpcURL: String { "\(options.useTLS ? "https" : "http")://\(endpoint)/" }

    /// The address without any secret: `celestia://HOST:PORT?namespace=NAME`. (Addresses never hold a
    /// token, so this is also ``description``.)
    public var redacted: String { "celestia://\(endpoint)?namespace=\(namespaceText)" }

    /// Same as ``redacted``.
    public var description: String { redacted }

    /// Parses `text`.
    ///
    /// - Throws: `DAError(.invalidRequest, …)` with a one-line reason for a malformed address, a
    ///   missing or malformed namespace (`.invalidNamespace`), an unknown query item or a token in the
    ///   address.
    public init(parsing text: String) throws(DAError) {
        let scheme = "celestia://"
        guard text.hasPrefix(scheme) else {
            throw DAError(.invalidRequest, "a Celestia address starts with celestia://, got \(text.debugDescription)")
        }
        let rest = text.dropFirst(scheme.count)
        let (authority, query) = Self.split(rest, at: "?")
        var authorityText = String(authority)
        if authorityText.hasSuffix("/") { authorityText.removeLast() }
        let (host, port) = try Self.parseAuthority(authorityText)
        var options = CelestiaOptions()
        var namespaceText: String?
        var namespace: DANamespace?
        for item in (query.map { $0.split(separator: "&", omittingEmptySubsequences: true) } ?? []) {
            let (rawKey, rawValue) = Self.split(item, at: "=")
            let key = String(rawKey).lowercased()
            let value = Self.percentDecoded(String(rawValue ?? ""))
            switch key {
            case "namespace":
                namespaceText = value
                namespace = try parseCelestiaNamespace(value)
            case "token", "auth", "auth-token", "jwt":
                throw DAError(
                    .invalidRequest,
                    "a Celestia address must not carry the auth token; put it in a token file or \(CelestiaAuthToken.environmentVariable)")
            case "submit-timeout": options.submitTimeout = try Self.duration(value, key)
            case "request-timeout", "timeout": options.requestTimeout = try Self.duration(value, key)
            case "wait-timeout": options.heightWaitTimeout = try Self.duration(value, key)
            case "from-height": options.fromHeight = UInt64(try Self.integer(value, key, range: 1...Int.max))
            case "landing-timeout": options.landingTimeout = try Self.duration(value, key)
            case "poll": options.pollInterval = try Self.duration(value, key)
            case "max-blob-bytes": options.maxBlobBytes = try Self.integer(value, key, range: 1...(8 * 1024 * 1024))
            case "max-response-bytes": options.maxResponseBytes = try Self.integer(value, key, range: 1024...(1 << 30))
            case "gas-price": options.tx.gasPrice = try Self.decimal(value, key)
            case "max-gas-price": options.tx.maxGasPrice = try Self.decimal(value, key)
            case "gas": options.tx.gas = UInt64(try Self.integer(value, key, range: 1...Int.max))
            case "priority":
                switch value.lowercased() {
                case "low", "1": options.tx.priority = .low
                case "medium", "2": options.tx.priority = .medium
                case "high", "3": options.tx.priority = .high
                default: throw DAError(.invalidRequest, "priority must be low, medium or high, got \(value.debugDescription)")
                }
            case "key-name": options.tx.keyName = try Self.nonEmpty(value, key)
            case "signer": options.tx.signerAddress = try Self.nonEmpty(value, key)
            case "fee-granter": options.tx.feeGranterAddress = try Self.nonEmpty(value, key)
            case "head":
                guard let source = CelestiaOptions.HeadSource(rawValue: value.lowercased()) else {
                    throw DAError(.invalidRequest, "head must be local or network, got \(value.debugDescription)")
                }
                options.headSource = source
            case "tls":
                switch value.lowercased() {
                case "", "1", "true", "yes", "on": options.useTLS = true
                case "0", "false", "no", "off": options.useTLS = false
                default: throw DAError(.invalidRequest, "tls must be true or false, got \(value.debugDescription)")
                }
            default:
                throw DAError(
                    .invalidRequest,
                    "unknown Celestia address option \(key.debugDescription) (known: namespace, submit-timeout, request-timeout, wait-timeout, landing-timeout, poll, max-blob-bytes, max-response-bytes, gas-price, max-gas-price, gas, priority, key-name, signer, fee-granter, head, tls)"
                )
            }
        }
        guard let namespace, let namespaceText else {
            throw DAError(
                .invalidNamespace, "a Celestia address needs a namespace, e.g. celestia://\(Self.display(host, port))?namespace=dsdn")
        }
        self.init(host: host, port: port, namespace: namespace, namespaceText: namespaceText, options: options)
    }

    // MARK: - Parsing helpers

    private static func display(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private static func split(_ text: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (text[..<index], text[text.index(after: index)...])
    }

    private static func parseAuthority(_ text: String) throws(DAError) -> (String, Int) {
        guard !text.isEmpty else {
            throw DAError(.invalidRequest, "a Celestia address needs a host, e.g. celestia://127.0.0.1:26658?namespace=dsdn")
        }
        guard !text.contains("@") else {
            throw DAError(
                .invalidRequest,
                "a Celestia address must not carry credentials; put the auth token in a token file or \(CelestiaAuthToken.environmentVariable)"
            )
        }
        guard !text.contains("/") else { throw DAError(.invalidRequest, "a Celestia address has no path: \(text.debugDescription)") }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw DAError(.invalidRequest, "unterminated IPv6 host in \(text.debugDescription)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw DAError(.invalidRequest, "malformed host and port \(text.debugDescription)") }
                portText = after.dropFirst()
            }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else {
                throw DAError(.invalidRequest, "malformed host and port \(text.debugDescription); put IPv6 hosts in brackets")
            }
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
        }
        guard !host.isEmpty else { throw DAError(.invalidRequest, "a Celestia address needs a host, got \(text.debugDescription)") }
        var port = defaultPort
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw DAError(.invalidRequest, "invalid port \(String(portText).debugDescription) in a Celestia address (1…65535)")
            }
            port = value
        }
        return (String(host), port)
    }

    private static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") || text.contains("+") else { return text }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `90s`, `500ms`, `2m`, `1.5s` or a plain number of seconds.
    static func duration(_ text: String, _ key: String) throws(DAError) -> Duration {
        let lower = text.lowercased()
        var number = Substring(lower)
        var scale = 1.0
        if lower.hasSuffix("ms") {
            number = number.dropLast(2)
            scale = 0.001
        } else if lower.hasSuffix("s") {
            number = number.dropLast()
            scale = 1
        } else if lower.hasSuffix("m") {
            number = number.dropLast()
            scale = 60
        }
        guard let value = Double(number), value.isFinite, value > 0 else {
            throw DAError(.invalidRequest, "\(key) must be a positive duration such as 90s or 500ms, got \(text.debugDescription)")
        }
        return .milliseconds(Int64((value * scale * 1000).rounded()))
    }

    private static func integer(_ text: String, _ key: String, range: ClosedRange<Int>) throws(DAError) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw DAError(
                .invalidRequest, "\(key) must be an integer in \(range.lowerBound)…\(range.upperBound), got \(text.debugDescription)")
        }
        return value
    }

    private static func decimal(_ text: String, _ key: String) throws(DAError) -> Double {
        guard let value = Double(text), value.isFinite, value > 0 else {
            throw DAError(.invalidRequest, "\(key) must be a positive number (utia per gas unit), got \(text.debugDescription)")
        }
        return value
    }

    private static func nonEmpty(_ text: String, _ key: String) throws(DAError) -> String {
        guard !text.isEmpty else { throw DAError(.invalidRequest, "\(key) must not be empty") }
        return text
    }
}

/// Parses a namespace as written in an address or on the command line.
func parseCelestiaNamespace(_ text: String) throws(DAError) -> DANamespace {
    guard !text.isEmpty else { throw DAError(.invalidNamespace, "the namespace must not be empty") }
    return try DANamespace(parsing: text)
}
