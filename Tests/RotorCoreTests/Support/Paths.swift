import Foundation

/// Where the tests find what lives outside the package: the repository root and
/// `../shared/` beside it (the YAML test suite).
enum TestPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `YAML_TEST_SUITE` if set, else `../shared/yaml-test-suite` beside the repository.
    static let yamlTestSuite: URL = {
        if let path = ProcessInfo.processInfo.environment["YAML_TEST_SUITE"] { return URL(fileURLWithPath: path) }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/yaml-test-suite")
    }()

    static let fixtures: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
}
