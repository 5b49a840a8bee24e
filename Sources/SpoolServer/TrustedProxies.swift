import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The reverse proxies whose `X-Forwarded-For` is believed, for which client a request comes from (its share of
/// the unauthenticated body budget, ``BodyBudget``). Behind a proxy every connection comes from the proxy's
/// address; without this, all the clients behind it share one client's part of the budget.
///
/// Only the proxy's own entry is believed: a proxy appends the address it was reached from to whatever the client
/// sent, so the header is read from its end, past the entries of trusted proxies (a chain of them), and the first
/// other address is the client. What a client wrote itself (further left) is never reached. A request that does
/// not come from a trusted proxy is its connection's address, whatever header it carries; so is one whose header
/// is missing or whose entry there is not an IP address (a proxy set up to send something else).
///
/// A client is its IPv4 address, or the /64 network of its IPv6 one: every IPv6 host has a /64 or more to itself,
/// so one that took an address of its /64 per connection held the whole budget as four clients (an IPv4 address
/// mapped into IPv6, from a server listening on `::`, is the IPv4 address, so that one client is one share whether
/// it comes directly or through a proxy).
public struct TrustedProxies: Sendable, Equatable {
    let addresses: Set<String>

    /// `addresses`: IPv4 or IPv6 addresses, as text. Throws ``Invalid`` naming the first that is not one, or is
    /// the unspecified address (`0.0.0.0`, `::`: no connection comes from it; it does not mean "any").
    public init(_ addresses: [String]) throws(Invalid) {
        var set = Set<String>()
        for text in addresses {
            guard let address = Self.canonical(text) else { throw Invalid(text: text, unspecified: false) }
            guard address != "0.0.0.0", address != "::" else { throw Invalid(text: text, unspecified: true) }
            set.insert(address)
        }
        self.addresses = set
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let text: String
        let unspecified: Bool
        public var description: String {
            unspecified
                ? "\(text.debugDescription) is the unspecified address, which no connection comes from (it does not mean every address): name the proxy's own address"
                : "\(text.debugDescription) is not an IP address (a proxy is named by the address its connections come from, 127.0.0.1 or ::1 for one on this machine)"
        }
    }

    public var isEmpty: Bool { addresses.isEmpty }

    /// The client a request comes from (``network(_:)``): `peer` (its connection's address) unless that is a
    /// trusted proxy, then what `forwardedFor` (each `X-Forwarded-For` line, in order) says, read from its end.
    func client(peer: String, forwardedFor: [String]) -> String {
        guard let from = Self.canonical(peer) else { return peer }
        guard addresses.contains(from) else { return Self.network(from) }
        let entries = forwardedFor.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        for entry in entries.reversed() {
            guard let address = Self.canonical(Self.withoutPort(entry.trimmingWhitespace)) else { return Self.network(from) }
            if !addresses.contains(address) { return Self.network(address) }
        }
        return Self.network(from)
    }

    /// `text` as NIO writes that address (one spelling per address: `::1`, not `0:0:0:0:0:0:0:1`), an IPv4 address
    /// mapped into IPv6 (`::ffff:127.0.0.1`, from a server listening on `::`) as the IPv4 one, without a zone
    /// (`fe80::1%eth0`); `nil` for anything else.
    static func canonical(_ text: some StringProtocol) -> String? {
        let text = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard !text.isEmpty, text.utf8.count <= 64,
              let address = try? SocketAddress(ipAddress: String(text), port: 0).ipAddress else { return nil }
        let mapped = "::ffff:"
        if address.hasPrefix(mapped), address.contains("."), let v4 = canonical(address.dropFirst(mapped.count)) { return v4 }
        return address
    }

    /// The client a canonical address stands for: an IPv4 address itself, an IPv6 one its /64 network
    /// (`2001:db8:1:2::/64`).
    static func network(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        withUnsafeMutableBytes(of: &bytes) { raw in
            for i in 8..<16 { raw[i] = 0 }
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &bytes, &text, socklen_t(text.count)) != nil else { return address }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/64"
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
