import Foundation

/// Where a person's new secret comes from, and whether they confirm deletions.
public struct ManualInput: Sendable {
    public enum SecretSource: Sendable, Equatable {
        /// `--secret-env VAR`.
        case environment(String)
        /// Standard input: a hidden prompt on a terminal, else everything piped in.
        case standardInput
        /// No person is there to give one (`rotor run` from cron).
        case none
    }

    public var secretSource: SecretSource
    /// `--yes`: the person confirms, in advance, that they delete old keys as instructed.
    public var confirmDeletion: Bool
    /// Writes instructions for the person (stderr).
    public var tell: @Sendable (String) -> Void

    public init(secretSource: SecretSource = .none, confirmDeletion: Bool = false, tell: @escaping @Sendable (String) -> Void = { _ in }) {
        self.secretSource = secretSource
        self.confirmDeletion = confirmDeletion
        self.tell = tell
    }
}

/// A console-only issuer (the Skytells Console: Settings → API Keys → Generate New API
/// Key; the secret is shown once). A person creates the key and hands rotor the secret;
/// deleting the old key is an instruction the person confirms. A generation's id is the
/// name the person was told to give it.
struct ManualProvider: KeyProvider {
    var spec: ManualProviderSpec
    var input: ManualInput

    func preflight(directory: String) -> [String] {
        switch input.secretSource {
        case .environment(let name):
            return WithheldEnvironment.value(name)?.isEmpty == false ? [] : ["--secret-env \(name): the variable is not set or empty"]
        case .standardInput:
            return []
        case .none:
            return ["this key is issued by hand (\(spec.instructions)): a person must run 'rotor rotate KEY' with the new secret on stdin or --secret-env VAR"]
        }
    }

    func create(name: String, values: [Placeholder: String], directory: String) async throws(ProviderError) -> NewGeneration {
        let secret: String
        switch input.secretSource {
        case .environment(let variable):
            secret = WithheldEnvironment.value(variable) ?? ""
        case .standardInput:
            input.tell("Create the new key: \(spec.instructions) — name it '\(name)'.")
            secret = Self.readSecret(prompt: "Paste the new secret (it is not shown): ", tell: input.tell)
        case .none:
            throw ProviderError("no person is here to create the key: \(spec.instructions)")
        }
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        if Interruption.shared.requested {
            throw ProviderError("stopped by a signal at the prompt; rotor created nothing (a key made in the console meanwhile is yours to delete there)")
        }
        guard !trimmed.isEmpty else { throw ProviderError("no secret was given (empty input)") }
        return NewGeneration(id: name, name: name, secret: Secret(trimmed))
    }

    func delete(id: String, values: [Placeholder: String], directory: String) async throws(ProviderError) {
        let how = spec.deleteInstructions ?? "delete it in the console (\(spec.instructions.components(separatedBy: " > ").dropLast().joined(separator: " > ")))"
        // Not "the old key": after a failed verify it is the key the person just made.
        input.tell("Delete \(Self.describe(id)): \(how).")
        if input.confirmDeletion { return }
        if isatty(STDIN_FILENO) == 1 {
            // Not echoed either: a secret pasted here by mistake must not land on screen.
            let answer = Self.readSecret(prompt: "Type 'yes' once it is deleted (not shown): ", tell: input.tell)
            if ["yes", "y"].contains(answer.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()) { return }
        }
        throw ProviderError("\(Self.describe(id)) waits for a person to delete it (\(how)); once it is deleted, run 'rotor confirm \(values[.key] ?? "KEY")'")
    }

    /// A generation as a person finds it in the console: by its name, or — adopted without
    /// `--id` — as the one in use before rotor's first rotation (rotor never knew its name).
    static func describe(_ id: String) -> String {
        guard id.hasPrefix(adoptedPrefix) else { return "the key '\(id)'" }
        return "the key that was in use before rotor's first rotation (adopted as '\(id)'; its name in the console is unknown to rotor — compare the fingerprint in 'rotor history')"
    }

    /// The id `rotor adopt` gives a generation whose provider has no id for it.
    static let adoptedPrefix = "adopted-"

    func list(values: [Placeholder: String], directory: String) async throws(ProviderError) -> [ListedGeneration]? { nil }

    /// A line from a terminal with echo off, or all of a pipe.
    static func readSecret(prompt: String, tell: @Sendable (String) -> Void) -> String {
        guard isatty(STDIN_FILENO) == 1 else {
            return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        // Echo goes off before the prompt shows: what is typed once it shows is never echoed.
        var original = termios()
        tcgetattr(STDIN_FILENO, &original)
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        Interruption.shared.promptStarted(original)  // a second Ctrl-C restores the echo before rotor exits
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        tell(prompt)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
            Interruption.shared.promptEnded()
            tell("")
        }
        return Interruption.shared.readLine() ?? ""
    }
}
