// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "rotor",
    // Built and tested on Linux (Debian 12, Swift 6.3); macOS 13 is the oldest system whose
    // APIs the code uses, but rotor is not built or tested there.
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rotor", targets: ["rotor"]),
        .library(name: "RotorCore", targets: ["RotorCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // `rotor report --html`: the page is a Mustache template, every value HTML-escaped.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // `--verbose`: every command rotor runs, its exit status and its output (redacted).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The system libyaml (Debian: libyaml-dev), used through its event API only.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"]), .brew(["libyaml"])]
        ),
        // PostgreSQL state through the system's libpq, loaded with dlopen when rotor first
        // connects (no libpq headers needed to build; SQLite users never load it): synchronous
        // like the StateStore protocol, TLS when the server offers it, PGPASSWORD and ~/.pgpass built in.
        .target(
            name: "CPostgres",
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]
        ),
        // HTTP through the system's libcurl, loaded with dlopen when rotor first sends a
        // request (no curl headers needed to build; no curl loaded by commands that send nothing).
        .target(
            name: "CCurl",
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]
        ),
        // System calls Swift's Glibc module does not expose: posix_spawn's GNU extensions
        // (close every inherited descriptor, change folder), pipe2, extended attributes.
        .target(name: "CPosix"),
        // Everything testable: YAML loading, configuration, planning, targets, commands.
        .target(
            name: "RotorCore",
            dependencies: [
                "CYAML",
                "CCurl",
                "CPosix",
                "CPostgres",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The thin executable: turns flags into options and calls RotorCore.
        .executableTarget(
            name: "rotor",
            dependencies: [
                "RotorCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmark driver for bench/run (release builds only; not shipped).
        .executableTarget(
            name: "rotor-bench",
            dependencies: ["RotorCore"]
        ),
        .testTarget(
            name: "RotorCoreTests",
            dependencies: ["RotorCore"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "RotorEndToEndTests",
            dependencies: ["rotor", "RotorCore"],
            exclude: ["Peers"]  // real peer processes the tests start: a vendor CLI, an HTTP server
        ),
    ]
)
