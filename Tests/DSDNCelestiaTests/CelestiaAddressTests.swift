import DSDNDA
import Foundation
import Testing

@testable import DSDNCelestia

/// `celestia://` addresses, options and tokens.
@Suite struct CelestiaAddressTests {
    @Test func parsesHostPortAndNamespace() throws {
        let address = try CelestiaAddress(parsing: "celestia://127.0.0.1:26658?namespace=dsdn")
        #expect(address.host == "127.0.0.1")
        #expect(address.port == 26658)
        #expect(address.namespace == DANamespace(name: "dsdn"))
        #expect(address.rpcURL == "http://127.0.0.1:26658/")
        #expect(address.redacted == "celestia://127.0.0.1:26658?namespace=dsdn")
        #expect("\(address)" == address.redacted)
        #expect(address.options == CelestiaOptions())

        let defaultPort = try CelestiaAddress(parsing: "celestia://node.example.com?namespace=dsdn")
        #expect(defaultPort.port == 26658)
        let ipv6 = try CelestiaAddress(parsing: "celestia://[::1]:9000/?namespace=dsdn")
        #expect(ipv6.host == "::1")
        #expect(ipv6.endpoint == "[::1]:9000")
        #expect(ipv6.rpcURL == "http://[::1]:9000/")
    }

    @Test func namespacesInEveryForm() throws {
        let hex = "0x" + String(repeating: "00", count: 19) + "0102030405060708090a"
        let fromHex = try CelestiaAddress(parsing: "celestia://h:1?namespace=\(hex)")
        #expect(fromHex.namespace.bytes.suffix(10) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        let fromBase64 = try CelestiaAddress(parsing: "celestia://h:1?namespace=base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE%3D")
        #expect(fromBase64.namespace.base64 == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAc3dpZnQtZGE=")
        #expect(throws: DAError.self) { try CelestiaAddress(parsing: "celestia://h:1") }
        #expect(throws: DAError.self) { try CelestiaAddress(parsing: "celestia://h:1?namespace=") }
        #expect(throws: DAError.self) { try CelestiaAddress(parsing: "celestia://h:1?namespace=0x00") }
    }

    @Test func optionsAreQueryItems() throws {
        let address = try CelestiaAddress(
            parsing:
                "celestia://h:1?namespace=n&submit-timeout=120s&request-timeout=500ms&wait-timeout=2m&poll=250ms&max-blob-bytes=1048576&gas-price=0.004&max-gas-price=0.1&gas=200000&priority=high&key-name=k&signer=celestia1xyz&fee-granter=celestia1abc&head=network&tls=true&landing-timeout=30"
        )
        let options = address.options
        #expect(options.submitTimeout == .seconds(120))
        #expect(options.requestTimeout == .milliseconds(500))
        #expect(options.heightWaitTimeout == .seconds(120))
        #expect(options.pollInterval == .milliseconds(250))
        #expect(options.landingTimeout == .seconds(30))
        #expect(options.maxBlobBytes == 1_048_576)
        #expect(
            options.tx
                == CelestiaTxOptions(
                    gasPrice: 0.004, maxGasPrice: 0.1, gas: 200_000, priority: .high, keyName: "k", signerAddress: "celestia1xyz",
                    feeGranterAddress: "celestia1abc"))
        #expect(options.headSource == .network)
        #expect(options.useTLS)
        #expect(address.rpcURL == "https://h:1/")
    }

    @Test(arguments: [
        "http://h:1?namespace=n",
        "celestia://?namespace=n",
        "celestia://h:0?namespace=n",
        "celestia://h:99999?namespace=n",
        "celestia://h:x?namespace=n",
        "celestia://h:1/path?namespace=n",
        "celestia://user:secret@h:1?namespace=n",
        "celestia://h:1?namespace=n&bogus=1",
        "celestia://h:1?namespace=n&submit-timeout=soon",
        "celestia://h:1?namespace=n&max-blob-bytes=0",
        "celestia://h:1?namespace=n&priority=urgent",
        "celestia://h:1?namespace=n&from-height=0",
        "celestia://h:1?namespace=n&from-height=-5",
    ])
    func malformedAddressesAreRefused(text: String) {
        #expect(throws: DAError.self) { try CelestiaAddress(parsing: text) }
    }

    @Test func theGenesisHeightIsAnOption() throws {
        #expect(try CelestiaAddress(parsing: "celestia://h:1?namespace=n").options.fromHeight == 1)
        #expect(try CelestiaAddress(parsing: "celestia://h:1?namespace=n&from-height=4200000").options.fromHeight == 4_200_000)
    }

    @Test func aTokenInTheAddressIsRefusedWithoutEchoingIt() {
        do {
            _ = try CelestiaAddress(parsing: "celestia://h:1?namespace=n&token=SECRET-JWT")
            Issue.record("a token in the address was accepted")
        } catch {
            #expect(error.code == .invalidRequest)
            #expect(!error.message.contains("SECRET-JWT"))
            #expect(error.message.contains("token file or CELESTIA_AUTH_TOKEN"))
        }
    }

    @Test func tokensComeFromAFileOrTheEnvironmentAndAreNeverPrinted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dsdn-celestia-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("token")
        try Data("eyJhbGciOi.secret.part\n".utf8).write(to: file)

        let fromFile = try #require(try CelestiaAuthToken.resolve(tokenFile: file.path, environment: ["CELESTIA_AUTH_TOKEN": "env"]))
        #expect(fromFile.secret == "eyJhbGciOi.secret.part")
        #expect(fromFile.source == .file(file.path))
        #expect("\(fromFile)" == "<redacted>")
        #expect(String(reflecting: fromFile) == "<redacted>")

        let fromEnvironment = try #require(
            try CelestiaAuthToken.resolve(tokenFile: nil, environment: ["CELESTIA_AUTH_TOKEN": " env-token "]))
        #expect(fromEnvironment.secret == "env-token")
        #expect(fromEnvironment.source == .environment)
        #expect(try CelestiaAuthToken.resolve(tokenFile: nil, environment: [:]) == nil)
        #expect(try CelestiaAuthToken.resolve(tokenFile: nil, environment: ["CELESTIA_AUTH_TOKEN": ""]) == nil)

        let missing = directory.appendingPathComponent("absent").path
        do {
            _ = try CelestiaAuthToken.resolve(tokenFile: missing, environment: [:])
            Issue.record("a missing token file was accepted")
        } catch {
            #expect(error.code == .unauthorized)
            #expect(error.message == "cannot read the Celestia auth token file \(missing): no such file")
        }
        let empty = directory.appendingPathComponent("empty")
        try Data().write(to: empty)
        #expect(throws: DAError.self) { try CelestiaAuthToken.resolve(tokenFile: empty.path, environment: [:]) }
    }

    @Test func theBackendNeverShowsTheToken() async throws {
        let da = try CelestiaDA(
            parsing: "celestia://127.0.0.1:1?namespace=dsdn", token: CelestiaAuthToken("SECRET-JWT"), logger: quietLogger)
        #expect(da.redacted == "celestia://127.0.0.1:1?namespace=dsdn")
        #expect(!"\(da.address)".contains("SECRET"))
        await da.close()
        await da.close()  // idempotent
    }

    @Test func durationsParse() throws {
        #expect(try CelestiaAddress.duration("90", "x") == .seconds(90))
        #expect(try CelestiaAddress.duration("1.5s", "x") == .milliseconds(1500))
        #expect(try CelestiaAddress.duration("20ms", "x") == .milliseconds(20))
        #expect(try CelestiaAddress.duration("2m", "x") == .seconds(120))
        #expect(throws: DAError.self) { try CelestiaAddress.duration("0", "x") }
        #expect(throws: DAError.self) { try CelestiaAddress.duration("-1s", "x") }
    }
}
