import DSDNCore
import DSDNDA
import DSDNRuntime
import Foundation

/// A MemoryDA with the helpers the service tests need.
struct MemoryDAForTests {
    let memory = MemoryDA()
    let namespace = DANamespace(name: "dsdn-service-tests")

    var layer: any DALayer { memory }

    /// Every blob of the namespace, decoded, in canonical order.
    func allEnvelopes() async throws -> [BlobEnvelope] {
        var envelopes: [BlobEnvelope] = []
        let head = try await memory.head()
        guard head > 0 else { return [] }
        for height in 1...head {
            for blob in try await memory.blobs(of: namespace, at: height) {
                envelopes.append(try BlobCodec.decode(blob.data))
            }
        }
        return envelopes
    }
}
