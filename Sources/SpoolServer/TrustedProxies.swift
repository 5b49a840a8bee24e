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
///
/// A client is its IPv4 address, or the /64 network of its IPv6 one: every IPv6 host has a /64 or more to itself,
/// so one that took an address of its /64 per connection held the whole budget as four clients (an IPv4 address
/// mapped into IPv6, from a server listening on `::`, is the IPv4 address, so that one client is one share whether
/// it comes directly or through a proxy).
public struct TrustedProxies: Sendable, Equatable {
    /// Each proxy's address, as ``identity(_:)`` writes it.
    let addresses: Set<String>

    /// None: every request is its connection's address.
    public init() { addresses = [] }

    /// `addresses`: IPv4 or IPv6 addresses, as text. Throws ``Invalid`` naming the first that is not one, or is
    /// the unspecified address (`0.0.0.0`, `::`: no connection comes from it; it does not mean "any").
    public init(_ addresses: [String]) throws(Invalid) {
        var set = Set<String>()
        for text in addresses {
            guard let address = Self.parse(text[...]), let identity = Self.identity(address) else { throw Invalid(text: text, unspecified: false) }
            guard identity != "0.0.0.0", identity != "::" else { throw Invalid(text: text, unspecified: true) }
            set.insert(identity)
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

    /// The client a request comes from (``client(_:)``): its connection's address `peer` (empty when unknown)
    /// unless that is a trusted proxy, then what `forwardedFor` (each `X-Forwarded-For` line, in order) says, read
    /// from its end. Without trusted proxies the header is not read at all.
    func client(peer: SocketAddress?, forwardedFor: @autoclosure () -> [String]) -> String {
        guard let peer else { return "" }
        guard !addresses.isEmpty, let from = Self.identity(peer), addresses.contains(from) else { return Self.client(peer) }
        let entries = forwardedFor().flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        for entry in entries.reversed() {
            guard let address = Self.parse(Self.withoutPort(entry.trimmingWhitespace)), let identity = Self.identity(address) else { break }
            if !addresses.contains(identity) { return Self.client(address) }
        }
        return Self.client(peer)
    }

    /// An address as text (a zone, `fe80::1%eth0`, left out); `nil` for anything else.
    static func parse(_ text: Substring) -> SocketAddress? {
        let text = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        return try? SocketAddress(ipAddress: String(text), port: 0)
    }

    /// One spelling per host, as NIO writes addresses (`::1`, not `0:0:0:0:0:0:0:1`): an IPv4 address mapped into
    /// IPv6 (`::ffff:127.0.0.1`, a connection to a server listening on `::`) as the IPv4 one, and no zone.
    static func identity(_ address: SocketAddress) -> String? { spelled(address, network: false) }

    /// The client `address` stands for: an IPv4 address itself, an IPv6 one its /64 network (`2001:db8:1:2::/64`).
    static func client(_ address: SocketAddress) -> String { spelled(address, network: true) ?? "" }

    private static func spelled(_ address: SocketAddress, network: Bool) -> String? {
        guard case .v6(let v6) = address else { return address.ipAddress }
        var raw = v6.address
        let bytes = withUnsafeBytes(of: raw.sin6_addr) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        raw.sin6_scope_id = 0
        if network { withUnsafeMutableBytes(of: &raw.sin6_addr) { for i in 8..<16 { $0[i] = 0 } } }
        return SocketAddress(raw, host: "").ipAddress.map { network ? $0 + "/64" : $0 }
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
