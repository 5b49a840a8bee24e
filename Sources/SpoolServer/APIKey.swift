import Hummingbird
import SpoolModel
import SpoolSync

/// The server's key, and the reading of the keys a request presents.
struct APIKey: Sendable {
    private let bytes: [UInt8]

    init(_ key: String) { bytes = Array(key.utf8) }

    /// Whether `candidate` is the key, in a time that depends only on the key's length (every byte is compared,
    /// no early exit), so that answer times do not reveal how much of a guess was right. An empty key matches
    /// nothing.
    func matches(_ candidate: String) -> Bool {
        let given = Array(candidate.utf8)
        var difference: UInt8 = given.count == bytes.count && !bytes.isEmpty ? 0 : 1
        for i in bytes.indices {
            difference |= bytes[i] ^ (i < given.count ? given[i] : 0)
        }
        return difference == 0
    }

    /// `text` with each occurrence of the key replaced by `<key>` (``redacting(_:in:)``), for a log line (a client
    /// that put the key in its URL's path); a text longer than ``redactionLimit`` bytes is not searched, and is
    /// replaced whole.
    func redacted(_ text: String) -> String {
        let given = Array(text.utf8)
        guard given.count >= bytes.count else { return text }
        guard given.count <= Self.redactionLimit else { return "(\(given.count) bytes, not logged)" }
        let out = redacting(bytes, in: given)
        return out == given ? text : String(decoding: out, as: UTF8.self)
    }

    static let redactionLimit = 4_096

    /// A key as a request presents it in one place.
    enum Presented: Equatable {
        case absent
        /// There, but not a key: an `Authorization` header of another scheme, a body's `apiKey` that is not a string.
        case unreadable
        case key(String)
    }

    /// `Authorization: Bearer <key>` (the scheme's name in any case, as RFC 9110 allows).
    static func bearer(in headers: HTTPFields) -> Presented {
        let values = headers[values: .authorization]
        guard !values.isEmpty else { return .absent }
        guard values.count == 1 else { return .unreadable }
        let value = values[0]
        let scheme = "bearer "
        guard value.count > scheme.count, value.prefix(scheme.count).lowercased() == scheme else { return .unreadable }
        return .key(String(value.dropFirst(scheme.count).drop { $0 == " " || $0 == "\t" }))
    }

    /// The body's `apiKey` (`null` counts as absent), when the body is a JSON object.
    static func inBody(_ body: JSONValue?) -> Presented {
        switch body?.objectValue?["apiKey"] {
        case nil, .null?: .absent
        case .string(let key)?: .key(key)
        case _?: .unreadable
        }
    }

    /// Authenticates a request: each key it presents must be right, and it must present one. A wrong key is
    /// refused before anything else about the request is looked at.
    func authenticate(header: Presented, body: Presented) throws(SyncFailure) {
        try check(header, unreadable: "the Authorization header must be \"Bearer <key>\"", wrong: "wrong key in the Authorization header")
        try check(body, unreadable: "the body's apiKey must be a string: the server's key", wrong: "wrong apiKey in the body")
        if header == .absent, body == .absent {
            throw SyncFailure(.unauthorized, "no key: send the server's key as \"Authorization: Bearer <key>\" or as the body's \"apiKey\"")
        }
    }

    private func check(_ presented: Presented, unreadable: String, wrong: String) throws(SyncFailure) {
        switch presented {
        case .absent: return
        case .unreadable: throw SyncFailure(.unauthorized, unreadable)
        case .key(let candidate): if !matches(candidate) { throw SyncFailure(.unauthorized, wrong + ": send the key the server was started with") }
        }
    }
}

/// What makes a key fit to protect a server (`filamentdb serve` refuses to start with any other).
public enum APIKeyPolicy {
    /// Fewer characters than this are guessable.
    public static let minimumLength = 16
    /// The example keys of the sync plan and its guides: public, so no protection.
    public static let placeholders = ["dev-key-change-in-production", "your-secret-key-here"]

    /// Why `key` cannot protect a server, or `nil` when it can.
    public static func problem(with key: String?) -> String? {
        guard let key, !key.isEmpty else { return "no API key" }
        if placeholders.contains(key.lowercased()) { return "the API key is the sync plan's example \"\(key)\", which anyone can read" }
        if key.count < minimumLength { return "the API key has \(key.count) characters; at least \(minimumLength) are needed" }
        if key.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            return "the API key contains a space or a control character, which an Authorization header cannot carry"
        }
        return nil
    }

    /// A fresh key: 32 random bytes as 64 hexadecimal digits.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<32).flatMap { _ -> [Character] in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
        })
    }
}
