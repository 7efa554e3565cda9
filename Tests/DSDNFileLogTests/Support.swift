import DSDNCore
import DSDNDA
import DSDNFileLog
import Foundation
import Testing

let alpha = DANamespace(name: "alpha")
let beta = DANamespace(name: "beta")

/// A fresh directory under the system's temporary directory, removed when the value goes away.
/// Options for an exclusive open that must be refused while the lock is held: no wait.
let refuseAtOnce = FileLogDA.Options(openLockWait: .zero)

final class TempDir: Sendable {
    let path: String

    init() {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("dsdn-filelog-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A path inside the directory.
    func file(_ name: String) -> String { path + "/" + name }

    /// The path of segment `number`.
    func segment(_ number: Int) -> String { file(FileLogFormat.segmentName(number)) }

    /// The segment files present, by name, sorted.
    func segmentNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasSuffix(".dsdnlog") }.sorted()
    }
}

/// A deterministic payload for blob `i`, of varying length.
func payload(_ i: Int) -> [UInt8] {
    Array("blob \(i) ".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: i % 7)
}

/// The on-disk size of a record with `payload`.
func recordSize(_ payload: [UInt8]) -> Int64 { Int64(FileLogFormat.headerSize + payload.count) }

func fileSize(_ path: String) -> Int64 {
    guard let handle = FileHandle(forReadingAtPath: path) else { return -1 }
    defer { try? handle.close() }
    return (try? handle.seekToEnd()).map { Int64($0) } ?? -1
}

func readFile(_ path: String) -> [UInt8] {
    Array(FileManager.default.contents(atPath: path) ?? Data())
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// XORs the byte at `offset` of `path` with `mask`, in place (same inode, so open descriptors see it).
/// Records an issue (rather than crashing the run) when the file cannot be changed.
func flipByte(_ path: String, at offset: Int64, mask: UInt8 = 0xFF) {
    do {
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        guard let old = try handle.read(upToCount: 1), let byte = old.first else { throw CocoaError(.fileReadUnknown) }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte ^ mask]))
    } catch {
        Issue.record("cannot flip byte \(offset) of \(path): \(error)")
    }
}

/// Appends `bytes` to `path` in place.
func appendBytes(_ path: String, _ bytes: [UInt8]) {
    do {
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
    } catch {
        Issue.record("cannot append to \(path): \(error)")
    }
}

func truncateFile(_ path: String, to size: Int64) {
    do {
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(size))
    } catch {
        Issue.record("cannot truncate \(path): \(error)")
    }
}

/// Copies the segment files of `source` into a new temporary directory.
func copySegments(of source: TempDir) -> TempDir {
    let copy = TempDir()
    for name in source.segmentNames() {
        #expect(throws: Never.self) { try FileManager.default.copyItem(atPath: source.file(name), toPath: copy.file(name)) }
    }
    return copy
}

/// The single blob of `namespace` at `height`, with its data.
func onlyBlob(_ da: FileLogDA, _ namespace: DANamespace, at height: UInt64) async throws -> [UInt8]? {
    let blobs = try await da.blobs(of: namespace, at: height)
    #expect(blobs.count == 1, "height \(height) should hold exactly one blob of the namespace")
    return blobs.first?.data
}

/// Encodes records by hand for tests that forge damaged logs.
func forge(_ records: [(height: UInt64, namespace: DANamespace, index: UInt32, commits: Bool, payload: [UInt8])])
    -> [UInt8]
{
    records.flatMap {
        FileLogFormat.encodeRecord(
            height: $0.height, namespace: $0.namespace, index: $0.index, commits: $0.commits, payload: $0.payload)
    }
}
