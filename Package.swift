// swift-tools-version:5.9
// The agent side (CPosix, TunnelWire, TunnelHash(AVX2), TunnelAgent, tunnel-dispatcher) stays inside the
// Embedded Swift subset so that `make` can also build it as a static musl binary;
// SwiftPM builds the same sources normally for `swift test`, and the client side
// (TunnelClient, the `tunnel` command) which may use more than the Embedded subset.
import PackageDescription

// TunnelHashAVX2 alone is compiled for x86-64 with AVX2 and BMI2 (Haswell's level); TunnelHash
// calls it only after checking the CPU. The manifest runs on the build machine, which is
// also the target here (no cross-compiling with SwiftPM; the static agents have their own
// build, scripts/build-static.sh). Optimized even in debug builds: unoptimized SIMD code is
// ~100× slower, and the tests hash gigabytes.
#if arch(x86_64)
let avx2Settings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell", "-O"])]
#else
let avx2Settings: [SwiftSetting] = []
#endif

let package = Package(
    name: "tunnel-dispatcher",
    products: [
        .executable(name: "tunnel-dispatcher", targets: ["tunnel-dispatcher"]),
        .executable(name: "tunnel", targets: ["tunnel"]),
        .library(name: "TunnelClient", targets: ["TunnelClient"]),
        .library(name: "TunnelWire", targets: ["TunnelWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CPosix"),
        .target(name: "TunnelWire"),
        .target(name: "TunnelHashAVX2", swiftSettings: avx2Settings),
        .target(name: "TunnelHash", dependencies: ["CPosix", "TunnelHashAVX2"]),
        // Tests' helper: SHA-512 of stdin's prefixes with one chosen kernel (see its main.swift).
        .executableTarget(name: "tunnel-sha512-check", dependencies: ["TunnelAgent", "TunnelHash", "CPosix"],
                          path: "Tests/sha512-check"),
        .target(name: "TunnelAgent", dependencies: ["TunnelWire", "TunnelHash", "CPosix"]),
        .executableTarget(name: "tunnel-dispatcher", dependencies: ["TunnelAgent", "CPosix"]),
        // The client's C shim: the calls Swift's Glibc module leaves out (pipe2, ppoll).
        .target(name: "CTunnelClient"),
        // TunnelHash: sync --checksum's local SHA-512 (TunnelClient.sync).
        .target(name: "TunnelClient", dependencies: ["TunnelWire", "TunnelHash", "CTunnelClient"],
                exclude: ["Bootstrap/bootstrap.sh"]),
        .executableTarget(name: "tunnel", dependencies: [
            "TunnelClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TunnelWireTests", dependencies: ["TunnelWire"], exclude: ["golden"]),
        .testTarget(name: "TunnelAgentTests", dependencies: ["TunnelAgent", "TunnelHash"]),
        .testTarget(name: "TunnelClientTests", dependencies: ["TunnelClient"]),
    ]
)
