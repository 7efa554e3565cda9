import DSDNFuzzTargets
import Foundation

#if FUZZING
    /// The target libFuzzer drives, named by `DSDN_FUZZ_TARGET` (scripts/fuzz.sh sets it).
    let selected: @Sendable ([UInt8]) -> Void = {
        let name = ProcessInfo.processInfo.environment["DSDN_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTargets.target(named: name) else {
            let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("dsdn-fuzz: set DSDN_FUZZ_TARGET to one of: \(names)\n".utf8))
            exit(2)
        }
        return target
    }()

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        guard let data else { return 0 }
        selected(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    /// libFuzzer's own driver (its `main`, callable).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's `main` to `<module>_main`; here that hands over to libFuzzer.
    @_cdecl("dsdn_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
        var count = argc
        var arguments = argv
        return runDriver(&count, &arguments, fuzzOneInput)
    }
#else
    /// Without libFuzzer: `dsdn-fuzz TARGET FILE...` runs each file through the target once (a crash
    /// reproducer, or the corpus by hand).
    @main struct Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTargets.target(named: name) else {
                let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
                FileHandle.standardError.write(Data("usage: dsdn-fuzz TARGET FILE... (TARGET: \(names))\n".utf8))
                exit(2)
            }
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("dsdn-fuzz: cannot read \(path)\n".utf8))
                    exit(1)
                }
                target(Array(data))
            }
            print("dsdn-fuzz: \(arguments.count - 1) input(s) ran through \(name) without a crash")
        }
    }
#endif
