// swift-tools-version:6.2
import PackageDescription

/// Warnings are errors in CI (`DSDN_WERROR=1`), so a dev build is never blocked by a fresh warning
/// while a submission cannot land with one.
let strictSettings: [SwiftSetting] =
    Context.environment["DSDN_WERROR"] == "1" ? [.treatAllWarnings(as: .error)] : []

/// The policy engine's hot paths (value transport, validation) stay optimized in debug builds, so the
/// test suite's determinism runs (thousands of decisions over 1,000 nodes) take seconds, not minutes.
let optimizedSettings: [SwiftSetting] = strictSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "dsdn-coordinator",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dsdn-coordinator", targets: ["dsdn-coordinator"]),
        .library(name: "DSDNCore", targets: ["DSDNCore"]),
        .library(name: "DSDNDA", targets: ["DSDNDA"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // The system's liblua5.4 with the C shims Swift needs. Only LuaSandbox may import it.
        .systemLibrary(
            name: "CDSDNLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // The sandbox's C half: allocator, hook, deterministic library, value transport, driver.
        // Optimized even in debug builds: policies hash and sort in here.
        .target(
            name: "CDSDNSandbox",
            dependencies: ["CDSDNLua"],
            cSettings: [.unsafeFlags(["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])],
            linkerSettings: [.linkedLibrary("lua5.4")]
        ),
        .target(
            name: "LuaSandbox",
            dependencies: ["CDSDNLua", "CDSDNSandbox", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimizedSettings
        ),
        // The pure deterministic core: events, codec, state, state machine, checksum. No I/O.
        .target(
            name: "DSDNCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: strictSettings
        ),
        // Seeded synthetic histories for tests, benchmarks and `generate`; outside the core product.
        .target(
            name: "DSDNSimulation",
            dependencies: ["DSDNCore"],
            swiftSettings: strictSettings
        ),
        // Policy experiments: a recorded history replayed under several policies, each in its own
        // counterfactual state, with reports (docs/experiments.md).
        .target(
            name: "DSDNExperiment",
            dependencies: ["DSDNCore", "DSDNScheduler", "DSDNSimulation"],
            swiftSettings: strictSettings
        ),
        // The DA protocol and its in-memory backend (with seeded fault injection).
        .target(
            name: "DSDNDA",
            dependencies: [
                "DSDNCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The project's one free-form JSON value (`JSONValue`). No dependencies, no Foundation.
        .target(
            name: "DSDNJSON",
            swiftSettings: strictSettings
        ),
        // The HTTP API's schema: Codable request, response and error types of every endpoint, with the one
        // encoder and decoder configuration. No Hummingbird, so the CLI and tests share it.
        .target(
            name: "DSDNAPI",
            dependencies: ["DSDNJSON"],
            swiftSettings: strictSettings
        ),
        // The embedded, crash-safe file-log DA backend (docs/file-log.md). POSIX I/O through swift-system.
        .target(
            name: "DSDNFileLog",
            dependencies: [
                "DSDNDA",
                "DSDNCore",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // The policy engine and scheduler: declarations, canonical inputs, decisions, validation.
        .target(
            name: "DSDNScheduler",
            dependencies: ["DSDNCore", "LuaSandbox"],
            swiftSettings: optimizedSettings
        ),
        // JSON Lines interchange of events (docs/events.md).
        .target(
            name: "DSDNInterchange",
            dependencies: ["DSDNCore"],
            swiftSettings: strictSettings
        ),
        // The coordinator runtime: DA consumer, event publisher, state rebuilder. No Foundation.
        .target(
            name: "DSDNRuntime",
            dependencies: ["DSDNCore", "DSDNDA", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // The running coordinator: composition of consumer, publisher with its durable outbox, the
        // scheduling loop, metrics and the Hummingbird HTTP API, as services under ServiceLifecycle.
        .target(
            name: "DSDNService",
            dependencies: [
                "DSDNAPI", "DSDNJSON",
                "DSDNCore",
                "DSDNDA",
                "DSDNFileLog",
                "DSDNRuntime",
                "DSDNScheduler",
                "DSDNInterchange",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),
        // Fuzz targets (arbitrary bytes into every parser) and their driver: libFuzzer with
        // scripts/fuzz.sh, a corpus replay otherwise.
        .target(
            name: "DSDNFuzzTargets",
            dependencies: ["DSDNAPI", "DSDNCore", "DSDNInterchange", "DSDNJSON", "DSDNScheduler"],
            swiftSettings: strictSettings
        ),
        .executableTarget(name: "dsdn-fuzz", dependencies: ["DSDNFuzzTargets"], swiftSettings: strictSettings),
        // The Celestia DA backend: a JSON-RPC client of celestia-node (docs/celestia.md). The heavy HTTP
        // client dependency is isolated here.
        .target(
            name: "DSDNCelestia",
            dependencies: [
                "DSDNJSON",
                "DSDNCore",
                "DSDNDA",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // A Celestia-compatible JSON-RPC server with injectable faults, for tests and for trying the
        // coordinator by hand (`celestia-test-server`).
        .target(
            name: "CelestiaTestServer",
            dependencies: [
                "DSDNCelestia",
                "DSDNJSON",
                "DSDNDA",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "celestia-test-server",
            dependencies: [
                "CelestiaTestServer",
                "DSDNDA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "DSDNTestSupport",
            dependencies: [
                "DSDNSimulation",
                "DSDNAPI", "DSDNJSON",
                "DSDNCore", "DSDNDA", "DSDNInterchange", "DSDNRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),
        // The standard policy pack, embedded in the executables (the Lua files of policies/).
        .target(
            name: "DSDNPolicyPack",
            path: "policies",
            sources: ["PolicyPack.swift"],
            resources: [
                .embedInCode("balanced.lua"), .embedInCode("bin-pack.lua"), .embedInCode("consistent-hash.lua"),
                .embedInCode("rendezvous.lua"), .embedInCode("weighted-score.lua"), .embedInCode("zone-spread.lua"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "dsdn-coordinator",
            dependencies: [
                "DSDNPolicyPack",
                "DSDNExperiment",
                "DSDNSimulation",
                "DSDNAPI", "DSDNJSON",
                "DSDNCore",
                "DSDNInterchange",
                "DSDNScheduler",
                "LuaSandbox",
                "DSDNDA",
                "DSDNFileLog",
                "DSDNRuntime",
                "DSDNService",
                "DSDNCelestia",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Benchmarks with ratios against baselines measured in the same run. Run in release.
        .executableTarget(
            name: "dsdn-bench",
            dependencies: [
                "DSDNSimulation", "DSDNExperiment", "DSDNPolicyPack", "DSDNCore", "DSDNDA", "DSDNFileLog", "DSDNJSON", "DSDNRuntime",
                "DSDNScheduler",
                "DSDNService",
                "LuaSandbox",
                "DSDNInterchange",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DSDNCoreTests",
            dependencies: ["DSDNSimulation", "DSDNCore", "DSDNTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DSDNDATests",
            dependencies: ["DSDNDA", "DSDNCore", "DSDNTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DSDNFileLogTests",
            dependencies: ["DSDNFileLog", "DSDNDA", "DSDNCore", "DSDNTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DSDNRuntimeTests",
            dependencies: ["DSDNSimulation", "DSDNRuntime", "DSDNCore", "DSDNDA", "DSDNFileLog", "DSDNTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LuaSandboxTests",
            dependencies: ["LuaSandbox"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["DSDNScheduler", "DSDNCore", "LuaSandbox", "DSDNTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DSDNServiceTests",
            dependencies: [
                "DSDNAPI", "DSDNJSON",
                "DSDNService", "DSDNRuntime", "DSDNCore", "DSDNDA", "DSDNFileLog", "DSDNScheduler", "DSDNInterchange", "DSDNFuzzTargets",
                "DSDNTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DSDNCelestiaTests",
            dependencies: [
                "DSDNSimulation",
                "DSDNJSON",
                "DSDNCelestia", "CelestiaTestServer", "DSDNDA", "DSDNCore", "DSDNRuntime", "DSDNTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "DSDNExperiment", "DSDNScheduler", "DSDNPolicyPack",
                "DSDNSimulation",
                "DSDNAPI", "DSDNJSON",
                "dsdn-coordinator", "celestia-test-server", "DSDNCore", "DSDNInterchange", "DSDNTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
