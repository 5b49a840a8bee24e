import SpoolHistory

/// Why a ``SyncClient`` run did not complete. Whatever the kind, nothing of the run was applied to the local
/// history: its changes stay queued for the next run.
public struct SyncClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No answer came (network down, server unreachable, connection cut), or the server said it cannot
        /// apply requests now (503, another 5xx, a proxy's error): try again later.
        case unreachable
        /// The server answered 200 with something that is not a sync response (a wrong URL, a proxy's page).
        case badAnswer
        /// The server's answer was larger than this client takes (``SyncAnswerTooLarge``): smaller pages (a
        /// smaller batch) or a higher limit.
        case answerTooLarge
        /// 401: no key, or the wrong one.
        case keyRefused
        /// 400 or 413: the server refused what this client sent (``SyncClientError/details`` says where).
        case refused
        /// The local history (or the sync state file beside it) could not be read or written.
        case history(HistoryError.Code)
    }

    public var kind: Kind
    /// A sentence a person can act on.
    public var message: String
    /// The server's list of problems, for ``Kind/refused``.
    public var details: [SyncFailure.Detail]

    public init(_ kind: Kind, _ message: String, details: [SyncFailure.Detail] = []) {
        self.kind = kind
        self.message = message
        self.details = details
    }

    init(_ error: HistoryError) { self.init(.history(error.code), error.description) }

    public var description: String { message }
}
