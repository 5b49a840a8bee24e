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
    /// Each proxy's network, a single address being the network of all its bits (an address of a network that a
    /// container runtime hands out, `172.18.0.0/16`, changes when the proxy's container is made again).
    let networks: Set<Network>

    /// Addresses that share their first `bits` bits with `bytes` (4 bytes for IPv4, 16 for IPv6; the bits after
    /// them are zero).
    struct Network: Sendable, Hashable {
        let bytes: [UInt8]
        let bits: Int

        func contains(_ address: [UInt8]) -> Bool {
            address.count == bytes.count && TrustedProxies.masked(address, bits) == bytes
        }
    }

    /// None: every request is its connection's address.
    public init() { networks = [] }

    /// `addresses`: IPv4 or IPv6 addresses, or networks of them (`10.0.0.0/8`, `fd00::/8`), as text. Throws
    /// ``Invalid`` naming the first that is none of these, is the unspecified address (`0.0.0.0`, `::`: no
    /// connection comes from it; it does not mean "any"), is a network of every address (`/0`: every client could
    /// then choose the address it is counted as), or has bits set after its prefix (`10.0.0.5/8`: a typo).
    public init(_ addresses: [String]) throws(Invalid) {
        var set = Set<Network>()
        for text in addresses {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = Self.parse(parts[0]), let bytes = Self.bytes(address) else { throw Invalid(text: text, reason: .notAnAddress) }
            var bits = bytes.count * 8
            // An IPv4 network written in IPv6's mapped form (`::ffff:10.0.0.0/104`) is the IPv4 one (`/8`).
            let mapped: Bool = if case .v6 = address { bytes.count == 4 } else { false }
            if parts.count == 2 {
                guard parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber), var n = Int(parts[1]),
                      (0...(mapped ? 128 : bits)).contains(n) else {
                    throw Invalid(text: text, reason: .notAnAddress)
                }
                if mapped { n -= 96 }
                guard n > 0 else { throw Invalid(text: text, reason: .everyAddress) }
                bits = n
                let network = Network(bytes: bytes, bits: bits)
                guard Network(bytes: Self.masked(bytes, bits), bits: bits) == network else { throw Invalid(text: text, reason: .hostBits) }
            } else {
                guard bytes.contains(where: { $0 != 0 }) else { throw Invalid(text: text, reason: .unspecified) }
            }
            set.insert(Network(bytes: bytes, bits: bits))
        }
        networks = set
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let text: String
        let reason: Reason
        enum Reason { case notAnAddress, unspecified, everyAddress, hostBits }
        public var description: String {
            switch reason {
            case .unspecified:
                "\(text.debugDescription) is the unspecified address, which no connection comes from (it does not mean every address): name the proxy's own address, or its network"
            case .everyAddress:
                "\(text.debugDescription) is every address: any client could then say which client it is; name the proxies' address or network"
            case .hostBits:
                "\(text.debugDescription) has bits set after its prefix: a network is written with them zero (10.0.0.0/8, not 10.0.0.5/8)"
            case .notAnAddress:
                "\(text.debugDescription) is not an IP address or network (a proxy is named by the address its connections come from, 127.0.0.1 or ::1 for one on this machine, or by its network, 172.18.0.0/16)"
            }
        }
    }

    func trusts(_ address: SocketAddress) -> Bool {
        guard let bytes = Self.bytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client a request comes from (``client(_:)``): its connection's address `peer` (empty when unknown)
    /// unless that is a trusted proxy, then what `forwardedFor` (each `X-Forwarded-For` line, in order) says, read
    /// from its end. Without trusted proxies the header is not read at all.
    func client(peer: SocketAddress?, forwardedFor: @autoclosure () -> [String]) -> String {
        address(peer: peer, forwardedFor: forwardedFor()).map(Self.client) ?? ""
    }

    /// The address a request comes from, as ``client(peer:forwardedFor:)`` reads it (the whole address: the request
    /// log names it).
    func address(peer: SocketAddress?, forwardedFor: @autoclosure () -> [String]) -> SocketAddress? {
        guard let peer else { return nil }
        guard !networks.isEmpty, trusts(peer) else { return peer }
        let entries = forwardedFor().flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        for entry in entries.reversed() {
            guard let address = Self.parse(Self.withoutPort(entry.trimmingWhitespace)) else { break }
            if !trusts(address) { return address }
        }
        return peer
    }

    /// The bytes of an address (an IPv4 address mapped into IPv6 as its 4 bytes): `nil` for anything but IP.
    static func bytes(_ address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4): return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        default: return nil
        }
    }

    static func masked(_ bytes: [UInt8], _ bits: Int) -> [UInt8] {
        bytes.enumerated().map { i, b in
            let keep = max(0, min(8, bits - i * 8))
            return keep == 8 ? b : b & ~(0xFF >> UInt8(keep))
        }
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
