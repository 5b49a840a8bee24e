import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolModel
import SpoolSync

/// `POST <server>/api/sync` over HTTP(S) with URLSession. The key goes in the `Authorization` header, never
/// in the body.
struct HTTPSyncTransport: SyncTransport {
    let endpoint: URL
    let key: String
    /// Seconds without a byte from the server before a request is given up: a batch of `--batch` spools is
    /// one commit on the server, seconds at most, and an unanswered host should not hold the command long.
    static let timeout: TimeInterval = 60

    /// A request that got no answer, in words (URLSession's own errors print as their domain and code).
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The endpoint of a server address: `/api/sync` added unless the address already ends with it.
    /// `nil` for an address that is not http(s) with a host.
    static func endpoint(of server: String) -> URL? {
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else { return nil }
        if url.path.hasSuffix("/api/sync") { return url }
        return url.appendingPathComponent("api").appendingPathComponent("sync")
    }

    /// Whether the key would cross the network unencrypted: plain http to a host other than this machine.
    static func sendsKeyInClear(_ url: URL) -> Bool {
        url.scheme?.lowercased() == "http" && !["localhost", "127.0.0.1", "::1", "[::1]"].contains(url.host?.lowercased() ?? "")
    }

    /// The largest answer read (``SyncAnswerTooLarge`` past it): a page holds up to `--batch` spools, a few MB
    /// at the default; 256 MB leaves room for spools with large fields of their own.
    static let defaultMaxAnswerBytes = 256 << 20

    private let reader: AnswerReader

    init(endpoint: URL, key: String, maxAnswerBytes: Int = Self.defaultMaxAnswerBytes) {
        self.endpoint = endpoint
        self.key = key
        reader = AnswerReader(limit: maxAnswerBytes)
    }

    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
        var request = URLRequest(url: endpoint, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: Self.timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer " + key, forHTTPHeaderField: "Authorization")
        request.httpBody = Data(body)
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await reader.load(request)
        } catch let error as SyncAnswerTooLarge {
            throw error
        } catch let error as URLError where error.code == .timedOut {
            throw Failure(description: "no answer within \(Int(Self.timeout)) s (or the whole answer not within \(Int(Self.resourceTimeout / 60)) minutes)")
        } catch {
            throw Failure(description: error.localizedDescription)
        }
        guard let http = response as? HTTPURLResponse else { throw Failure(description: "the answer is not HTTP") }
        if (300..<400).contains(http.statusCode) {
            // Not followed: the key would go to whatever host the answer names (and a 307 sent the body nowhere).
            let location = http.value(forHTTPHeaderField: "Location").map { " to \(printableText($0, limit: 200))" } ?? ""
            throw Failure(description: "the server answered \(http.statusCode), a redirect\(location), which sync does not follow (the key would go with it): give that address with --server if it is the right one")
        }
        var body = [UInt8](data)
        // A server that echoes the key in its error does not get it printed, nor kept in the sync state's last error.
        if !(200..<300).contains(http.statusCode) { body = redacting(Array(key.utf8), in: body) }
        return (http.statusCode, body)
    }

    /// The longest a whole exchange may take (a slow server sending its answer a byte at a time held the command
    /// for as long as it liked: ``timeout`` counts only silence).
    static let resourceTimeout: TimeInterval = 30 * 60

    /// Reads answers as they stream in, through its own session: no redirect followed, nothing kept on disk, and
    /// no more than `limit` bytes of an answer held (URLSession's `data(for:)` reads a whole answer, however
    /// large, before the caller sees a byte of it). One per transport, for the run's requests.
    final class AnswerReader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let limit: Int
        private let lock = NSLock()
        private var pending: [Int: Pending] = [:]
        private var session: URLSession?

        /// One answer on its way: a class, so that appending to its bytes does not copy them.
        final class Pending {
            var data = Data()
            var refused: SyncAnswerTooLarge?
            let continuation: CheckedContinuation<(Data, URLResponse), any Error>
            init(_ continuation: CheckedContinuation<(Data, URLResponse), any Error>) { self.continuation = continuation }
        }

        init(limit: Int) {
            self.limit = limit
            super.init()
        }

        func load(_ request: URLRequest) async throws -> (Data, URLResponse) {
            try await withCheckedThrowingContinuation { continuation in
                let task = lock.withLock { () -> URLSessionDataTask in
                    if session == nil {
                        let configuration = URLSessionConfiguration.ephemeral
                        configuration.urlCache = nil
                        configuration.timeoutIntervalForRequest = HTTPSyncTransport.timeout
                        configuration.timeoutIntervalForResource = HTTPSyncTransport.resourceTimeout
                        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
                    }
                    let task = session!.dataTask(with: request)
                    pending[task.taskIdentifier] = Pending(continuation)
                    return task
                }
                task.resume()
            }
        }

        /// An answer that says it is over the limit is not read at all.
        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            let declared = response.expectedContentLength
            guard declared > Int64(limit) else { return completionHandler(.allow) }
            refuse(dataTask, declared: Int(clamping: declared))
            completionHandler(.cancel)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            let over = lock.withLock { () -> Bool in
                guard let p = pending[dataTask.taskIdentifier], p.refused == nil else { return false }
                if p.data.count + data.count > limit {
                    p.refused = SyncAnswerTooLarge(limit: limit, declared: nil)
                    p.data = Data()
                    return true
                }
                p.data.append(data)
                return false
            }
            if over { dataTask.cancel() }
        }

        private func refuse(_ task: URLSessionTask, declared: Int) {
            lock.withLock { pending[task.taskIdentifier]?.refused = SyncAnswerTooLarge(limit: limit, declared: declared) }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
            guard let p = lock.withLock({ pending.removeValue(forKey: task.taskIdentifier) }) else { return }
            if let refused = p.refused {
                p.continuation.resume(throwing: refused)
            } else if let error {
                p.continuation.resume(throwing: error)
            } else if let response = task.response {
                p.continuation.resume(returning: (p.data, response))
            } else {
                p.continuation.resume(throwing: URLError(.badServerResponse))
            }
        }

        /// Redirects are not followed (``send(_:)`` says why).
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }
}
