// swift-tools-version:6.0
// libFuzzer targets for rotor's parsers and writers, in their own package so that rotor's
// normal build never compiles them. Build and run with fuzz/run (it adds
// -sanitize=fuzzer,address; each target hands main to libFuzzer's driver).
import PackageDescription

let targets = ["fuzz-config", "fuzz-env", "fuzz-json-writer", "fuzz-yaml-writer", "fuzz-parsers"]

let package = Package(
    name: "rotor-fuzz",
    dependencies: [.package(name: "rotor", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "RotorCore", package: "rotor")]),
    ] + targets.map { .executableTarget(name: $0, dependencies: ["FuzzSupport", .product(name: "RotorCore", package: "rotor")]) }
)
