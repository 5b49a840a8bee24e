import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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

    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
        var request = URLRequest(url: endpoint, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: Self.timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer " + key, forHTTPHeaderField: "Authorization")
        request.httpBody = Data(body)
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure(description: error.localizedDescription)
        }
        guard let http = response as? HTTPURLResponse else { throw Failure(description: "the answer is not HTTP") }
        return (http.statusCode, [UInt8](data))
    }
}
