/// One credential managed by rotor, as its policy declares it.
public struct KeyPolicy: Hashable, Sendable {
    public var name: Located<String>
    public var provider: Located<String>
    /// Due when the current generation is this old; nil = only on demand.
    public var every: RotorDuration?
    /// How long the old generation stays after every consumer verified the new one.
    public var grace: RotorDuration
    /// Name of new generations at the provider.
    public var generationName: Template
    /// Checks that a new generation works at the provider, before any consumer is touched.
    public var verify: [CheckSpec]
    /// Scheduled rotation happens only inside this window.
    public var window: RotationWindow?
    public var notify: [WebhookSpec]
    /// Neither the key nor its policy file set `notify`: the fleet's default applies (a
    /// policy document with only `notify:`, which may live in a file of its own).
    public var notifyFromDefault = false
    /// Providers that report last use: delete the old generation only once unused this long.
    public var deleteWhenUnusedFor: RotorDuration?
    /// How long after its deletion the old generation may still answer (vendors revoke
    /// eventually): `confirm-revoked` retries with backoff within this bound. Default 15s.
    public var confirmRevokedWithin: RotorDuration = KeyPolicy.defaultConfirmRevokedWithin
    public var description: String?
    /// Files and folders (absolute) where a copy of the current value that no target
    /// declares stops a rotation at preflight (`rotor scan`).
    public var scan: [String] = []
    /// The folder of the policy that declares it: its verify commands run there.
    public var directory: String

    public static let defaultConfirmRevokedWithin = RotorDuration(seconds: 15)
}
