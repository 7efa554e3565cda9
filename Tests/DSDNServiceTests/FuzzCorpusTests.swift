import DSDNFuzzTargets
import DSDNTestSupport
import Foundation
import Testing

/// The committed fuzz corpus (`Fuzz/corpus/<target>/`, with every crash ever found kept as a regression
/// input) runs through each fuzz target on every test run; scripts/fuzz.sh drives the same targets with
/// libFuzzer for millions of inputs.
@Suite struct FuzzCorpusTests {
    /// The corpus of `target`, plus the repository's own policies and histories where they fit.
    static func inputs(of target: String) throws -> [URL] {
        let manager = FileManager.default
        var directories = [repositoryRoot.appendingPathComponent("Fuzz/corpus/\(target)")]
        if target == "policy-declaration" { directories.append(repositoryRoot.appendingPathComponent("policies")) }
        if target == "json-lines" { directories.append(repositoryRoot.appendingPathComponent("examples")) }
        return try directories.flatMap { directory in
            try manager.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }
        }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func theCorpusRunsThroughEachTarget(target: String) throws {
        let run = try #require(FuzzTargets.target(named: target))
        let inputs = try Self.inputs(of: target)
        #expect(inputs.count >= 3, "the \(target) corpus is too small")
        for input in inputs { run(Array(try Data(contentsOf: input))) }
    }
}
