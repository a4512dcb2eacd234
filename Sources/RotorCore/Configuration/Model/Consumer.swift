/// A service that uses a key, and the places that hold its secret.
public struct ConsumerSpec: Hashable, Sendable {
    public var name: Located<String>
    public var uses: Located<String>
    public var targets: [TargetSpec]
    public var reload: CommandSpec?
    public var health: CheckSpec?
    /// The folder of the manifest that declares it: its commands run there.
    public var directory: String
    /// `user: NAME`: its files are read and written as this account (rotor as root, with
    /// target folders that account owns).
    public var user: Located<String>? = nil
}

/// One place that holds the secret.
public struct TargetSpec: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// A variable in an env file.
        case envFile(path: String, variable: String)
        /// A string in a JSON file, at a JSON pointer.
        case jsonFile(path: String, pointer: JSONPointer)
        /// A scalar in a YAML file, at a dotted path (`skytells.apiKey`).
        case yamlFile(path: String, keyPath: [String])
        /// A key in a section of an INI file (`~/.aws/credentials`).
        case iniFile(path: String, section: String, key: String)
        /// A command that stores the secret elsewhere; `read` prints it back.
        case exec(write: CommandSpec, read: CommandSpec?)
    }

    public var kind: Kind
    /// What is written; `{secret}` by default.
    public var value: Template
    /// Whether a missing variable/pointer/path may be created rather than refused.
    public var create: Bool
    public var location: SourceLocation

    /// The absolute file path, for file targets.
    public var filePath: String? {
        switch kind {
        case .envFile(let path, _), .jsonFile(let path, _), .yamlFile(let path, _), .iniFile(let path, _, _): path
        case .exec: nil
        }
    }

    public var typeName: String {
        switch kind {
        case .envFile: "env_file"
        case .jsonFile: "json_file"
        case .yamlFile: "yaml_file"
        case .iniFile: "ini_file"
        case .exec: "exec"
        }
    }

    /// Where in the file (or which command): `SKYTELLS_API_KEY`, `/skytells/apiKey`.
    public var selector: String {
        switch kind {
        case .envFile(_, let variable): variable
        case .jsonFile(_, let pointer): pointer.source
        case .yamlFile(_, let keyPath): keyPath.joined(separator: ".")
        case .iniFile(_, let section, let key): "[\(section)] \(key)"
        case .exec(let write, _): write.argv.map(\.source).joined(separator: " ")
        }
    }
}
