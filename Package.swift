// swift-tools-version:5.9
// The agent side (CPosix, TunnelWire, TunnelAgent, tunnel-dispatcher) stays inside the
// Embedded Swift subset so that `make` can also build it as a static musl binary;
// SwiftPM builds the same sources normally for `swift test`.
import PackageDescription

let package = Package(
    name: "tunnel-dispatcher",
    products: [
        .executable(name: "tunnel-dispatcher", targets: ["tunnel-dispatcher"]),
        .library(name: "TunnelWire", targets: ["TunnelWire"]),
    ],
    targets: [
        .target(name: "CPosix"),
        .target(name: "TunnelWire"),
        .target(name: "TunnelAgent", dependencies: ["TunnelWire", "CPosix"]),
        .executableTarget(name: "tunnel-dispatcher", dependencies: ["TunnelAgent", "CPosix"]),
        .testTarget(name: "TunnelWireTests", dependencies: ["TunnelWire"], exclude: ["golden"]),
        .testTarget(name: "TunnelAgentTests", dependencies: ["TunnelAgent"]),
    ]
)
