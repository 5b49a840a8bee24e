/// The version `filamentdb --version` prints and the SQLite metadata records.
public enum FilamentDBVersion {
    public static let string = "0.1.0"
}
