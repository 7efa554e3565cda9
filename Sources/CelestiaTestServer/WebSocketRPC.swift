import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// JSON-RPC over WebSocket on the server's one port, as celestia-node (go-jsonrpc) serves it: an HTTP GET
/// with `Upgrade: websocket` on any path upgrades; every text (or binary) message is a JSON-RPC request or
/// batch, executed by the same ``RPCHandler`` logic as a POST and answered with a text message.
///
/// - Auth comes from the upgrade request (`Authorization: Bearer T`, or `?token=T`) and holds for the
///   connection. A wrong token, or the `unauthorized` fault, refuses the upgrade with HTTP 401 and an
///   empty body, like a POST.
/// - Requests on one connection run concurrently (go-jsonrpc does too); answers go out in completion
///   order, matched by `id`.
/// - A call the HTTP path would answer with a bare status (the injected random HTTP 500, or HTTP 401 from
///   the `unauthorized` fault) has no WebSocket answer: the server closes the connection instead (close
///   code 1011), as a dropped connection is what such a failure looks like on a socket.
/// - `blob.Subscribe`/`header.Subscribe` are not implemented (`-32601`).
struct WebSocketRPC: Sendable {
    let handler: RPCHandler
    /// The largest message (reassembled from its frames), like the HTTP body limit.
    let maxMessageBytes: Int

    /// What goes back for one message: an answer, or (for a bare HTTP status) the end of the connection.
    private enum Reply: Sendable {
        case message([UInt8])
        case close(status: Int)
    }

    /// Ends a connection whose call the HTTP path answers with a bare status; hummingbird-websocket closes
    /// it with 1011 (unexpected server error).
    struct BareStatusError: Error, CustomStringConvertible {
        /// The HTTP status the call would have been answered with.
        var status: Int
        var description: String { "closing the WebSocket: the call's HTTP answer would be a bare \(status)" }
    }

    /// The hummingbird-websocket server configuration: frames up to the body limit (a longer answer goes
    /// out in several), and a ping every 5 s like celestia-node.
    static func serverConfiguration(maxBodyBytes: Int) -> HTTP1WebSocketUpgradeChannel.Configuration {
        HTTP1WebSocketUpgradeChannel.Configuration(
            ws: WebSocketServerConfiguration(maxFrameSize: maxBodyBytes, autoPing: .enabled(timePeriod: .seconds(5))))
    }

    /// Decides an upgrade: authenticates it, and either upgrades (any path) or answers HTTP 401.
    func shouldUpgrade(
        _ request: HTTPRequest, channel: any Channel
    ) async throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let authorization = request.headerFields[.authorization]
        let queryToken = Request(head: request, body: RequestBody(buffer: ByteBuffer()))
            .uri.queryParameters["token"].map(String.init)
        switch await handler.authenticateUpgrade(authorization: authorization, queryToken: queryToken) {
        case .rejected:
            // hummingbird-websocket answers every refused upgrade with HTTP 400; celestia-node answers a bad
            // token with 401. This handler, next to the socket, writes the 401 and swallows the 400.
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(RefusedUpgradeHandler(), position: .first)
            }.get()
            return .dontUpgrade
        case let .granted(permission):
            return .upgrade([:]) { inbound, outbound, _ in
                try await serve(inbound: inbound, outbound: outbound, permission: permission)
            }
        }
    }

    /// Serves one upgraded connection until the client closes it (or the server stops, or a call's answer
    /// is a bare status: ``BareStatusError``).
    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, permission: Permission?) async throws {
        let (replies, sink) = AsyncStream<Reply>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // One writer, so a message split into frames is never interleaved with another.
            group.addTask {
                for await reply in replies {
                    switch reply {
                    case let .message(bytes):
                        try await outbound.writeTextMessage(String(decoding: bytes, as: UTF8.self))
                    case let .close(status):
                        throw BareStatusError(status: status)
                    }
                }
            }
            group.addTask {
                // Calls still running when the connection ends finish on their own (their waits are
                // bounded, and released when the server stops); their answers are dropped.
                try await withThrowingTaskGroup(of: Void.self) { calls in
                    defer { sink.finish() }
                    for try await message in inbound.messages(maxSize: maxMessageBytes) {
                        let body: [UInt8] =
                            switch message {
                            case let .text(text): Array(text.utf8)
                            case let .binary(buffer): Array(buffer.readableBytesView)
                            }
                        calls.addTask { sink.yield(await reply(to: body, permission: permission)) }
                    }
                    try await calls.waitForAll()
                }
            }
            // `next()`, not `waitForAll()`: a writer's error must end the reader now, not after it.
            while try await group.next() != nil {}
        }
    }

    private func reply(to body: [UInt8], permission: Permission?) async -> Reply {
        let answer = await handler.process(body, permission: permission)
        return answer.body.isEmpty ? .close(status: answer.status) : .message(answer.body)
    }
}

/// Installed next to the socket on a refused WebSocket upgrade: writes `HTTP/1.1 401 Unauthorized` with an
/// empty body and discards what the HTTP pipeline writes after it (hummingbird-websocket's HTTP 400), so
/// the client sees celestia-node's answer to a bad token. The connection is closed after the refusal.
final class RefusedUpgradeHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    func handlerAdded(context: ChannelHandlerContext) {
        let head = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(string: head))), promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed(())
    }
}
