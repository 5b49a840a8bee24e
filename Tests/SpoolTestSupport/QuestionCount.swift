import Foundation

/// A count of the times a question was asked, from any thread (a garbage collection's "give way?").
public final class QuestionCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    public init() {}
    public var value: Int { lock.withLock { n } }
    /// The count before this question, and one more.
    public func next() -> Int { lock.withLock { defer { n += 1 }; return n } }
}
