import NIOCore

/// The reverse proxies whose `X-Forwarded-For` is believed, for which client a request comes from (its share of
/// the unauthenticated body budget, ``BodyBudget``). Behind a proxy every connection comes from the proxy's
/// address; without this, all the clients behind it share one client's part of the budget.
///
/// Only the proxy's own entry is believed: a proxy appends the address it was reached from to whatever the client
/// sent, so the header is read from its end, past the entries of trusted proxies (a chain of them), and the first
/// other address is the client. What a client wrote itself (further left) is never reached. A request that does
/// not come from a trusted proxy is its connection's address, whatever header it carries; so is one whose header
/// is missing or whose entry there is not an IP address (a proxy set up to send something else).
public struct TrustedProxies: Sendable, Equatable {
    let addresses: Set<String>

    /// `addresses`: IPv4 or IPv6 addresses, as text. Throws ``Invalid`` naming the first that is not one.
    public init(_ addresses: [String]) throws(Invalid) {
        var set = Set<String>()
        for text in addresses {
            guard let address = Self.canonical(text) else { throw Invalid(text: text) }
            set.insert(address)
        }
        self.addresses = set
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let text: String
        public var description: String {
            "\(text.debugDescription) is not an IP address (a proxy is named by the address its connections come from, 127.0.0.1 or ::1 for one on this machine)"
        }
    }

    public var isEmpty: Bool { addresses.isEmpty }

    /// The client a request comes from: `peer` (its connection's address) unless that is a trusted proxy, then
    /// what `forwardedFor` (each `X-Forwarded-For` line, in order) says, read from its end.
    func client(peer: String, forwardedFor: [String]) -> String {
        guard !addresses.isEmpty, let from = Self.canonical(peer), addresses.contains(from) else { return peer }
        let entries = forwardedFor.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        for entry in entries.reversed() {
            guard let address = Self.canonical(Self.withoutPort(entry.trimmingWhitespace)) else { return from }
            if !addresses.contains(address) { return address }
        }
        return from
    }

    /// `text` as NIO writes that address (one spelling per address: `::1`, not `0:0:0:0:0:0:0:1`), an IPv4 address
    /// mapped into IPv6 (`::ffff:127.0.0.1`, from a server listening on `::`) as the IPv4 one; `nil` for anything else.
    static func canonical(_ text: some StringProtocol) -> String? {
        guard !text.isEmpty, text.utf8.count <= 64,
              let address = try? SocketAddress(ipAddress: String(text), port: 0).ipAddress else { return nil }
        let mapped = "::ffff:"
        if address.hasPrefix(mapped), address.contains("."), let v4 = canonical(address.dropFirst(mapped.count)) { return v4 }
        return address
    }

    /// An entry's address without a port some proxies add (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
    static func withoutPort(_ entry: Substring) -> Substring {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") { return entry[entry.index(after: entry.startIndex)..<close] }
        if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") { return entry[..<colon] }
        return entry
    }
}

private extension Substring {
    var trimmingWhitespace: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
