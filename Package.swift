// swift-tools-version:5.9
// The agent side (CPosix, TunnelWire, TunnelHash, TunnelAgent, tunnel-dispatcher) stays inside the
// Embedded Swift subset so that `make` can also build it as a static musl binary;
// SwiftPM builds the same sources normally for `swift test`, and the client side
// (TunnelClient, the `tunnel` command) which may use more than the Embedded subset.
import PackageDescription

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
        .target(name: "TunnelHash"),
        .target(name: "TunnelAgent", dependencies: ["TunnelWire", "TunnelHash", "CPosix"]),
        .executableTarget(name: "tunnel-dispatcher", dependencies: ["TunnelAgent", "CPosix"]),
        .target(name: "TunnelClient", dependencies: ["TunnelWire"], exclude: ["Bootstrap/bootstrap.sh"]),
        .executableTarget(name: "tunnel", dependencies: [
            "TunnelClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TunnelWireTests", dependencies: ["TunnelWire"], exclude: ["golden"]),
        .testTarget(name: "TunnelAgentTests", dependencies: ["TunnelAgent", "TunnelHash"]),
        .testTarget(name: "TunnelClientTests", dependencies: ["TunnelClient"]),
    ]
)
