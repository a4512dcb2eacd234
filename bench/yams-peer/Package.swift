// swift-tools-version:6.0
// A peer for bench/run: Yams (jpsim/Yams, libyaml vendored inside) loading the same file
// as rotor, built release beside rotor so both are measured in one invocation. Not part
// of rotor's own package, so rotor's build and tests never compile Yams.
import PackageDescription

let package = Package(
    name: "yams-load",
    dependencies: [.package(url: "https://github.com/jpsim/Yams", from: "6.2.2")],
    targets: [.executableTarget(name: "yams-load", dependencies: [.product(name: "Yams", package: "Yams")])]
)
