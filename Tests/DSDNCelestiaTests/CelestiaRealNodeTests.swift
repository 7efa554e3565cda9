import DSDNCelestia
import DSDNDA
import Foundation
import Testing

@testable import DSDNCelestia

/// Against a real celestia-node, only when `CELESTIA_RPC_URL` (e.g. `http://127.0.0.1:26658`) and
/// `CELESTIA_AUTH_TOKEN` are set. Reads the head, checks health and reads the namespace at the head;
/// with `CELESTIA_TEST_SUBMIT=1` it also submits a small blob (this spends fees) and reads it back.
@Suite struct CelestiaRealNodeTests {
    static let environment = ProcessInfo.processInfo.environment
    static let configured = environment["CELESTIA_RPC_URL"] != nil && environment["CELESTIA_AUTH_TOKEN"] != nil

    /// `celestia://HOST:PORT?namespace=…` from `http(s)://HOST:PORT`.
    static func address() throws -> CelestiaAddress {
        let url = try #require(URL(string: environment["CELESTIA_RPC_URL"] ?? ""))
        let host = try #require(url.host)
        let namespace = environment["CELESTIA_TEST_NAMESPACE"] ?? "dsdn-celestia-tests"
        var options = CelestiaOptions()
        options.useTLS = url.scheme == "https"
        return CelestiaAddress(
            host: host, port: url.port ?? CelestiaAddress.defaultPort, namespace: try DANamespace(parsing: namespace),
            namespaceText: namespace, options: options)
    }

    @Test(.enabled(if: configured, "set CELESTIA_RPC_URL and CELESTIA_AUTH_TOKEN to run against a real node"))
    func readsFromARealNode() async throws {
        let token = try CelestiaAuthToken.resolve(tokenFile: nil)
        let da = CelestiaDA(address: try Self.address(), token: token, logger: quietLogger)
        do {
            let head = try await da.head()
            #expect(head > 1)
            let health = await da.health()
            #expect(health.isReady, "\(health.detail)")
            _ = try await da.blobs(of: da.namespace, at: head)

            if Self.environment["CELESTIA_TEST_SUBMIT"] == "1" {
                let blob = Array("dsdn celestia test \(UInt64.random(in: 0...UInt64.max))".utf8)
                let reference = try await da.submit(blob, to: da.namespace)
                #expect(reference.commitment == ShareCommitment.compute(namespace: da.namespace, data: blob))
                let read = try await da.blobs(of: da.namespace, at: reference.height)
                #expect(read.contains { $0.data == blob && $0.reference == reference })
            }
        } catch {
            await da.close()
            throw error
        }
        await da.close()
    }
}
