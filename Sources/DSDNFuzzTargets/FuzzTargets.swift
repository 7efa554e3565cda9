import DSDNAPI
import DSDNCore
import DSDNInterchange
import DSDNJSON
import DSDNScheduler
import Foundation

/// The fuzz targets: each takes arbitrary bytes, must never crash, and checks a round trip wherever its
/// input is accepted. `dsdn-fuzz` runs them under libFuzzer (scripts/fuzz.sh); the test suite replays the
/// committed corpus (`Fuzz/corpus/<target>/`) through them.
public enum FuzzTargets {
    /// The targets by name, in a fixed order.
    public static let all: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("blob-decoder", blobDecoder),
        ("json-lines", jsonLines),
        ("policy-declaration", policyDeclaration),
        ("api-bodies", apiBodies),
    ]

    /// The target called `name`, if there is one.
    public static func target(named name: String) -> (@Sendable ([UInt8]) -> Void)? {
        all.first { $0.name == name }?.run
    }

    /// The blob decoder: anything it accepts encodes back to a blob that decodes to the same envelope.
    @Sendable public static func blobDecoder(_ bytes: [UInt8]) {
        guard let envelope = try? BlobCodec.decode(bytes) else { return }
        guard let again = try? BlobCodec.encode(envelope) else {
            fatalError("a decoded blob does not encode again")
        }
        guard let decoded = try? BlobCodec.decode(again), decoded == envelope else {
            fatalError("a re-encoded blob decodes to another envelope")
        }
    }

    /// The JSON Lines reader: every event it reads is written canonically and read back unchanged.
    @Sendable public static func jsonLines(_ bytes: [UInt8]) {
        guard let events = try? EventJSON.decodeLines(String(decoding: bytes, as: UTF8.self)) else { return }
        let text = EventJSON.encodeLines(events)
        guard let again = try? EventJSON.decodeLines(text), again == events else {
            fatalError("canonical JSON Lines do not read back to the same events")
        }
    }

    /// The policy declaration reader: any source loads or fails with a classified error, within budget.
    @Sendable public static func policyDeclaration(_ bytes: [UInt8]) {
        _ = try? Policy.load(source: String(decoding: bytes, as: UTF8.self), fileName: "fuzz.lua")
    }

    /// The HTTP request bodies: the preview body, the events array form, and free JSON.
    @Sendable public static func apiBodies(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let preview = try? APIJSON.decode(PreviewRequest.self, from: text) {
            guard let encoded = try? APIJSON.encode(preview), let again = try? APIJSON.decode(PreviewRequest.self, from: encoded),
                again == preview
            else { fatalError("a preview body does not round-trip") }
        }
        _ = try? EventJSON.decodeArray(text)
        if let value = try? APIJSON.decode(JSONValue.self, from: text) {
            guard let encoded = try? APIJSON.encode(value), (try? APIJSON.decode(JSONValue.self, from: encoded)) != nil else {
                fatalError("a JSON value does not encode to JSON")
            }
        }
    }
}
