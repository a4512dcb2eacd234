/// The version `rotor --version` prints.
public enum RotorVersion {
    public static let current = "0.1.0"
}
