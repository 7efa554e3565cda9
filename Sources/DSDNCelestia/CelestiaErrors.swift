import DSDNDA

/// How a failed call is classified (docs/celestia.md §6, §7): the `DAError` to surface, and — for writes —
/// whether the transaction may still land.
struct Classified: Sendable {
    var error: DAError
    /// For `blob.Submit`: the blob may have landed (timeouts, mempool, lost connections, unknown
    /// errors), so a retry must check for it before resubmitting.
    var ambiguous: Bool
}

/// Classifies call failures into `DAError`s, with messages that name the node and say what to do.
struct ErrorClassifier: Sendable {
    /// `HOST:PORT`, for messages.
    let endpoint: String
    /// Whether a token was configured (changes the advice for auth failures).
    let hasToken: Bool
    /// Where the operator sets the token, for messages.
    var credentialsHint = CelestiaDA.defaultCredentialsHint

    /// The exact line for a rejected token.
    var rejectedTokenMessage: String {
        "celestia node at \(endpoint) rejected the auth token (HTTP 401); check \(credentialsHint)"
    }

    func classify(_ failure: CallFailure, method: String) -> Classified {
        switch failure {
        case let .rejectedToken(status):
            if status == 401 {
                if hasToken { return Classified(error: DAError(.unauthorized, rejectedTokenMessage), ambiguous: false) }
                return Classified(
                    error: DAError(.unauthorized, "celestia node at \(endpoint) requires an auth token (HTTP 401); set \(credentialsHint)"),
                    ambiguous: false)
            }
            return Classified(
                error: DAError(
                    .unauthorized, "celestia node at \(endpoint) refused the request (HTTP \(status)); check \(credentialsHint)"),
                ambiguous: false)
        case let .timedOut(timeout):
            return Classified(
                error: DAError(.unavailable, "\(method) to celestia node at \(endpoint) timed out after \(Self.seconds(timeout))"),
                ambiguous: true)
        case let .unreachable(reason):
            return Classified(
                error: DAError(.unavailable, "cannot reach celestia node at \(endpoint): \(reason)"), ambiguous: false)
        case let .transport(reason):
            return Classified(
                error: DAError(.unavailable, "\(method) to celestia node at \(endpoint) failed: \(reason)"), ambiguous: true)
        case let .httpStatus(status, body):
            return Classified(
                error: DAError(.unavailable, "celestia node at \(endpoint) answered \(method) with HTTP \(status): \(body)"),
                ambiguous: true)
        case let .malformed(reason):
            return Classified(
                error: DAError(.unavailable, "malformed \(method) response from celestia node at \(endpoint): \(reason)"),
                ambiguous: true)
        case let .rpc(code, message):
            return classifyRPC(code: code, message: message, method: method)
        }
    }

    private func classifyRPC(code: Int, message: String, method: String) -> Classified {
        let lower = message.lowercased()
        let quoted = "\(method) on celestia node at \(endpoint)"
        func has(_ needle: String) -> Bool { lower.contains(needle) }

        switch code {
        case -32601:
            return Classified(
                error: DAError(
                    .invalidRequest,
                    "celestia node at \(endpoint) does not know \(method) (\(message)); is it a celestia-node of a supported version?"),
                ambiguous: false)
        case -32602:
            return Classified(error: DAError(.invalidRequest, "\(quoted) rejected the parameters: \(message)"), ambiguous: false)
        case -32700, -32600:
            if has("bigger than maximum") || has("too large") {
                return Classified(error: DAError(.blobTooLarge, "\(quoted) refused the request body: \(message)"), ambiguous: false)
            }
            return Classified(error: DAError(.invalidRequest, "\(quoted) could not parse the request: \(message)"), ambiguous: false)
        case 0 where has("panic"):
            return Classified(error: DAError(.invalidRequest, "\(quoted) failed inside the node: \(message)"), ambiguous: false)
        default:
            break
        }

        if has("missing permission") {
            let advice =
                hasToken
                ? "the auth token lacks the permission; create one with `celestia light auth write` (or `admin`)"
                : "no auth token was given; create one with `celestia light auth write` and pass it with \(credentialsHint)"
            return Classified(error: DAError(.unauthorized, "\(quoted) was refused (\(message)): \(advice)"), ambiguous: false)
        }
        if has("without state access") || has("no state access") || has("state access") {
            return Classified(
                error: DAError(
                    .unauthorized,
                    "celestia node at \(endpoint) cannot submit blobs: it runs without state access (\(message)); start it with a core endpoint (--core.ip) or point --da at a node that has one"
                ),
                ambiguous: false)
        }
        if has("below tail") {
            let tail = Self.tail(in: message).map { "height \($0)" } ?? "its Tail"
            return Classified(
                error: DAError(
                    .pruned,
                    "celestia node at \(endpoint) keeps headers only from \(tail) on (\(message)); if the namespace's history begins at or after that, give its genesis height as from-height=H in the address; otherwise use an archival node"
                ), ambiguous: false)
        }
        if has("from the future") {
            return Classified(error: DAError(.heightFromFuture, "\(quoted): \(message)"), ambiguous: false)
        }
        if has("syncing in progress") {
            return Classified(error: DAError(.unavailable, "celestia node at \(endpoint) is still syncing: \(message)"), ambiguous: false)
        }
        if has("too large") || has("exceeds maximum") || has("exceeds the maximum") || has("max tx bytes") {
            return Classified(
                error: DAError(.blobTooLarge, "\(quoted): \(message); lower the blob-size cap or split the batch"), ambiguous: false)
        }
        if has("zero blob size") || has("empty blob") {
            return Classified(error: DAError(.invalidRequest, "\(quoted): \(message)"), ambiguous: false)
        }
        if has("must be 29 bytes") || has("leading zeros") || has("reserved data is forbidden") || has("invalid namespace")
            || has("unsupported namespace")
        {
            return Classified(error: DAError(.invalidNamespace, "\(quoted) refused the namespace: \(message)"), ambiguous: false)
        }
        // Definite refusals: nothing landed, and resubmitting the same transaction fails the same way.
        // celestia-node `state/core_access.go`: "account for signer %s not found" (the key was never funded).
        if has("account for signer") && has("not found") {
            return Classified(
                error: DAError(
                    .unauthorized,
                    "\(quoted): the node's signing key has no account on chain (\(message)); fund that address (see `celestia state account-address`), then publish again"
                ), ambiguous: false)
        }
        // celestia-app `pkg/user/tx_client.go`: "tx with hash %s was rejected by the node with execution code:
        // %d and log: %s" (rejected) and "tx execution failed with code %d: %s" (executed and failed).
        if has("was rejected by the node with execution code") || has("tx execution failed with code") {
            let code = Self.executionCode(in: message).map { " \($0)" } ?? ""
            return Classified(
                error: DAError(
                    .invalidRequest,
                    "\(quoted): the transaction failed with execution code\(code) and nothing landed (\(message)); fix the cause (gas, fee, balance) before publishing again"
                ), ambiguous: false)
        }
        if has("incorrect account sequence") || has("account sequence mismatch") {
            return Classified(
                error: DAError(
                    .unavailable, "\(quoted): account sequence mismatch (another submission from the same account?): \(message)"),
                ambiguous: false)
        }
        if has("tx already in mempool") || has("tx already exists in cache") {
            return Classified(
                error: DAError(.unavailable, "\(quoted): the transaction is already in the mempool and may still land: \(message)"),
                ambiguous: true)
        }
        // celestia-app `TxClient.ConfirmTx` returns the context's error when it ends while the
        // transaction is pending: it may still land.
        if has("context deadline") || has("deadline exceeded") {
            let note = method == "blob.Submit" ? "timed out inside the node; the blob may still land" : "timed out inside the node"
            return Classified(error: DAError(.unavailable, "\(quoted) \(note): \(message)"), ambiguous: true)
        }
        if has("exceeds max gas price") || has("max gas price") {
            return Classified(
                error: DAError(
                    .unavailable,
                    "\(quoted): the network's gas price is above the configured cap (\(message)); raise max-gas-price or pin gas-price"),
                ambiguous: false)
        }
        if has("insufficient") && (has("gas price") || has("fee")) {
            return Classified(
                error: DAError(.unavailable, "\(quoted): the fee is too low (\(message)); raise gas-price / max-gas-price"),
                ambiguous: false)
        }
        if has("insufficient funds") || has("insufficient balance") {
            return Classified(
                error: DAError(.unavailable, "\(quoted): the signing account cannot pay the fee (\(message)); fund it"), ambiguous: false)
        }
        if has("out of gas") {
            return Classified(
                error: DAError(.unavailable, "\(quoted): the transaction ran out of gas (\(message)); set a higher gas limit (gas=)"),
                ambiguous: false)
        }
        // Unknown: retry with backoff; for a write, the transaction may have been broadcast.
        return Classified(error: DAError(.unavailable, "\(quoted) failed: \(message) (code \(code))"), ambiguous: true)
    }

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if millis % 1000 == 0 { return "\(millis / 1000) s" }
        return "\(millis) ms"
    }

    /// The code in `… execution code: N …` or `… failed with code N: …`.
    static func executionCode(in message: String) -> UInt32? {
        let text = Array(message.utf8)
        for marker in ["execution code: ", "failed with code "].map({ Array($0.utf8) }) where text.count >= marker.count {
            for start in 0...(text.count - marker.count) where Array(text[start..<(start + marker.count)]) == marker {
                let digits = text[(start + marker.count)...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                if let code = UInt32(String(decoding: digits, as: UTF8.self)) { return code }
            }
        }
        return nil
    }

    /// The tail height in a `requested header (H) is below Tail (T)` message.
    static func tail(in message: String) -> UInt64? {
        let lower = Array(message.lowercased().utf8)
        let marker = Array("tail (".utf8)
        guard lower.count >= marker.count else { return nil }
        for start in 0...(lower.count - marker.count) where Array(lower[start..<(start + marker.count)]) == marker {
            let digits = lower[(start + marker.count)...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            return UInt64(String(decoding: digits, as: UTF8.self))
        }
        return nil
    }
}
