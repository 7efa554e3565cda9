import AsyncHTTPClient
import CelestiaTestServer
import DSDNCelestia
import DSDNDA
import DSDNJSON
import DSDNTestSupport
import Foundation
import NIOCore
import Testing

@testable import DSDNCelestia

/// One raw HTTP exchange with the test server.
struct RawAnswer {
    var status: Int
    var body: String
    var json: JSONValue? {
        try? parseJSON(body)
    }
    var errorCode: Int? { json?["error"]?["code"]?.int64.map { Int($0) } }
    var errorMessage: String? { json?["error"]?["message"]?.string }
}

/// Posts `body` to the server as-is.
func post(_ body: String, to server: CelestiaTestServer, token: String? = "test-token", path: String = "/") async throws -> RawAnswer {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    do {
        var request = HTTPClientRequest(url: server.url + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
        try await client.shutdown()
        return RawAnswer(status: Int(response.status.code), body: String(buffer: bytes))
    } catch {
        try? await client.shutdown()
        throw error
    }
}

func rpc(_ method: String, _ params: String, id: Int = 1) -> String {
    #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(params)}"#
}

/// The wire format of celestia-node, as the test server speaks it and the client relies on.
@Suite struct CelestiaWireTests {
    let namespaceB64 = celestiaTestNamespace.base64

    @Test func headerHeightsAreStringsAndEmptyGetAllIsNull() async throws {
        try await withServer { server in
            let head = try await post(rpc("header.LocalHead", "[]"), to: server)
            #expect(head.status == 200)
            let header = head.json?["result"]?["header"]
            #expect(header?["height"]?.string != nil)
            #expect(header?["time"]?.string != nil)
            #expect(head.body.contains(#""height":""#))

            let empty = try await post(rpc("blob.GetAll", #"[1,["\#(namespaceB64)"]]"#), to: server)
            #expect(empty.status == 200)
            #expect(empty.body.contains(#""result":null"#))

            let network = try await post(rpc("header.NetworkHead", "[]"), to: server)
            #expect(network.status == 200)
            let byHeight = try await post(rpc("header.GetByHeight", "[1]"), to: server)
            #expect(byHeight.body.contains(#""height":"1""#))
            let ready = try await post(rpc("node.Ready", "[]"), to: server)
            #expect(ready.body.contains(#""result":true"#))
            let balance = try await post(rpc("state.Balance", "[]"), to: server)
            #expect(balance.body.contains(#""denom":"utia""#))
            #expect((balance.json?["result"]?["amount"])?.string != nil)
        }
    }

    @Test func submitAnswersAHeightAndBlobsCarryTheirFields() async throws {
        try await withServer { server in
            let data = Data("some data to store on blockchain".utf8).base64EncodedString()
            let submit = try await post(
                rpc("blob.Submit", #"[[{"namespace":"\#(namespaceB64)","data":"\#(data)","share_version":0}],{}]"#), to: server)
            #expect(submit.status == 200)
            let height = submit.json?["result"]?.int64
            #expect((height ?? 0) >= 2)  // heights start at 1; a submit lands in the next block

            let all = try await post(rpc("blob.GetAll", #"[\#(height ?? 0),["\#(namespaceB64)"]]"#), to: server)
            let blobs = all.json?["result"]?.array
            #expect(blobs?.count == 1)
            let blob = blobs?.first
            #expect(blob?["namespace"]?.string == namespaceB64)
            #expect(blob?["data"]?.string == data)
            #expect(blob?["share_version"]?.int64 == 0)
            #expect(blob?["index"]?.int64 != nil)
            #expect(blob?["signer"] == nil)
            let commitment = ShareCommitment.compute(namespace: celestiaTestNamespace, data: Array("some data to store on blockchain".utf8))
            #expect(blob?["commitment"]?.string == Data(commitment).base64EncodedString())

            let get = try await post(
                rpc("blob.Get", #"[\#(height ?? 0),"\#(namespaceB64)","\#(Data(commitment).base64EncodedString())"]"#), to: server)
            #expect(get.json?["result"]?["data"]?.string == data)
            let missing = try await post(
                rpc("blob.Get", #"[\#(height ?? 0),"\#(namespaceB64)","\#(Data(repeating: 0, count: 32).base64EncodedString())"]"#),
                to: server)
            #expect(missing.status == 200)
            #expect(missing.errorCode == 1)
            #expect(missing.errorMessage == "blob: not found")
        }
    }

    @Test func positionalParamsAreEnforced() async throws {
        try await withServer { server in
            let count = try await post(rpc("blob.GetAll", "[1]"), to: server)
            #expect(count.status == 500)
            #expect(count.errorCode == -32602)
            #expect(count.errorMessage == "wrong param count (method 'blob.GetAll'): 1 != 2")

            let named = try await post(rpc("blob.GetAll", #"{"height":1}"#), to: server)
            #expect(named.errorCode == -32700)

            let stringHeight = try await post(rpc("blob.GetAll", #"["1",["\#(namespaceB64)"]]"#), to: server)
            #expect(stringHeight.status == 500)
            #expect(stringHeight.errorCode == -32700)
            #expect(stringHeight.errorMessage?.contains("cannot unmarshal string into Go value of type uint64") == true)

            let unknown = try await post(rpc("blob.Subscribe", #"["\#(namespaceB64)"]"#), to: server)
            #expect(unknown.status == 500)
            #expect(unknown.errorCode == -32601)
            #expect(unknown.errorMessage == "method 'blob.Subscribe' not found")

            let nullConfig = try await post(
                rpc("blob.Submit", #"[[{"namespace":"\#(namespaceB64)","data":"AQID","share_version":0}],null]"#), to: server)
            #expect(nullConfig.errorCode == 0)
            #expect(nullConfig.errorMessage?.contains("panic in rpc method") == true)

            let garbage = try await post("{not json", to: server)
            #expect(garbage.status == 500)
            #expect(garbage.errorCode == -32700)

            let future = try await post(rpc("header.GetByHeight", "[1000000]"), to: server)
            #expect(future.status == 200)
            #expect(future.errorCode == 1)
            #expect(future.errorMessage?.hasPrefix("header: given height is from the future") == true)

            let badNamespace = try await post(rpc("blob.GetAll", #"[1,["AAAA"]]"#), to: server)
            #expect(badNamespace.errorCode == 1)
            #expect(badNamespace.errorMessage?.contains("Must be 29 bytes") == true)
            let reserved = Data([UInt8](repeating: 0, count: 28) + [1]).base64EncodedString()
            let reservedAnswer = try await post(rpc("blob.GetAll", #"[1,["\#(reserved)"]]"#), to: server)
            #expect(reservedAnswer.errorMessage?.contains("reserved data is forbidden") == true)
        }
    }

    @Test func batchesAnswerInOrder() async throws {
        try await withServer { server in
            let batch = "[" + rpc("node.Ready", "[]", id: 7) + "," + rpc("nope.Nope", "[]", id: 8) + "]"
            let answer = try await post(batch, to: server)
            #expect(answer.status == 200)
            let items = (try? parseJSON(answer.body))?.array
            #expect(items?.count == 2)
            #expect(items?.first?["id"]?.int64 == 7)
            #expect(items?.first?["result"]?.bool == true)
            #expect(items?.last?["error"]?["code"]?.int64 == -32601)
        }
    }

    @Test func authIsBearerOrQueryTokenAndABadTokenIs401WithAnEmptyBody() async throws {
        try await withServer(readToken: "reader") { server in
            let bad = try await post(rpc("header.LocalHead", "[]"), to: server, token: "wrong")
            #expect(bad.status == 401)
            #expect(bad.body.isEmpty)

            let query = try await post(rpc("header.LocalHead", "[]"), to: server, token: nil, path: "/?token=test-token")
            #expect(query.status == 200)
            #expect(query.errorCode == nil)

            let none = try await post(rpc("blob.GetAll", #"[1,["\#(namespaceB64)"]]"#), to: server, token: nil)
            #expect(none.status == 200)
            #expect(none.errorCode == 1)
            #expect(none.errorMessage == "missing permission to invoke 'GetAll' (need 'read')")

            let readOnly = try await post(
                rpc("blob.Submit", #"[[{"namespace":"\#(namespaceB64)","data":"AQID","share_version":0}],{}]"#), to: server,
                token: "reader")
            #expect(readOnly.errorMessage == "missing permission to invoke 'Submit' (need 'write')")
            #expect(await server.statistics().unauthorizedResponses == 1)
        }
    }

    @Test func oversizedBodiesAreParseErrors() async throws {
        try await withServer(maxBodyBytes: 1024) { server in
            let padding = String(repeating: "A", count: 2048)
            let answer = try await post(rpc("blob.GetAll", #"[1,["\#(padding)"]]"#), to: server)
            #expect(answer.status == 500)
            #expect(answer.errorCode == -32700)
            #expect(answer.errorMessage == "request bigger than maximum 1024 allowed")
        }
    }

    /// The client's decoding is lenient where celestia-node versions differ.
    @Test func lenientHeightsAndResults() throws {
        let decoder = JSONDecoder()
        #expect(try decoder.decode(LenientUInt64.self, from: Data(#""67374""#.utf8)).value == 67374)
        #expect(try decoder.decode(LenientUInt64.self, from: Data("67374".utf8)).value == 67374)
        #expect(throws: DecodingError.self) { try decoder.decode(LenientUInt64.self, from: Data(#""x""#.utf8)) }
        let null = try decoder.decode(RPCResponse<[RPCBlob]>.self, from: Data(#"{"jsonrpc":"2.0","id":1,"result":null}"#.utf8))
        #expect(null.result == nil)
        #expect(null.error == nil)
        let header = try decoder.decode(
            RPCHeader.self, from: Data(#"{"header":{"height":"42","time":"2024-01-01T00:00:00Z"},"commit":{}}"#.utf8))
        #expect(header.height == 42)
    }

    /// The client's TxConfig is `{}` by default and carries only what is configured.
    @Test func txConfigIsNeverNull() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(CelestiaTxOptions().json), as: UTF8.self) == "{}")
        let options = CelestiaTxOptions(gasPrice: 0.004, gas: 100_000, priority: .high, keyName: "my_celes_key")
        let text = String(decoding: try encoder.encode(options.json), as: UTF8.self)
        #expect(text == #"{"gas":100000,"gas_price":0.004,"is_gas_price_set":true,"key_name":"my_celes_key","tx_priority":3}"#)
    }
}
