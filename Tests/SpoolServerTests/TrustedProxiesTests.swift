import NIOCore
import Testing
@testable import SpoolServer

/// A connection's address, as NIO gives it.
private func at(_ ip: String) -> SocketAddress { try! SocketAddress(ipAddress: ip, port: 4711) }

/// Which client a request is counted for when it comes through a reverse proxy (``TrustedProxies``).
@Suite struct TrustedProxiesTests {
    let proxies = try! TrustedProxies(["127.0.0.1", "0:0:0:0:0:0:0:1", "10.0.0.5"])

    @Test func theProxysEntryNamesTheClient() {
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["203.0.113.7"]) == "203.0.113.7")
        // (One spelling per address: an IPv6 one as NIO writes it, a mapped IPv4 one as IPv4.)
        #expect(proxies.client(peer: at("::1"), forwardedFor: ["2001:DB8:0:0:0:0:0:9"]) == "2001:db8::/64")
        #expect(proxies.client(peer: at("::ffff:127.0.0.1"), forwardedFor: ["::ffff:203.0.113.7"]) == "203.0.113.7")
        // Ports some proxies add.
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["203.0.113.7:4711"]) == "203.0.113.7")
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["[2001:db8::9]:4711"]) == "2001:db8::/64")
    }

    /// What the client wrote itself is left of the proxy's entry, and is never reached; a chain of trusted
    /// proxies is walked past; several header lines are one list.
    @Test func aClientCannotChooseItsAddress() {
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["198.51.100.1, 198.51.100.2, 203.0.113.7"]) == "203.0.113.7")
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["198.51.100.1", "203.0.113.7, 10.0.0.5"]) == "203.0.113.7")
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["127.0.0.1"]) == "127.0.0.1")
    }

    /// A connection that is not a trusted proxy is its own address, whatever it says; a proxy that says nothing
    /// usable is the proxy.
    @Test func anythingElseIsTheConnectionsAddress() {
        #expect(proxies.client(peer: nil, forwardedFor: ["203.0.113.7"]) == "")
        #expect(proxies.client(peer: at("192.0.2.44"), forwardedFor: ["203.0.113.7"]) == "192.0.2.44")
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: []) == "127.0.0.1")
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["unknown"]) == "127.0.0.1")
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: ["203.0.113.7, "]) == "127.0.0.1")
        #expect(proxies.client(peer: at("127.0.0.1"), forwardedFor: [String(repeating: "1", count: 10_000)]) == "127.0.0.1")
        #expect(TrustedProxies().client(peer: at("127.0.0.1"), forwardedFor: ["203.0.113.7"]) == "127.0.0.1")
    }

    /// An IPv6 client is its /64 (a host has a /64 to itself: one address per connection made four clients of
    /// one), directly or through a proxy; an IPv4 one in IPv6 form (a server listening on `::`) is the IPv4
    /// address, directly too, so that it is not two clients by two ways in.
    @Test func oneHostIsOneClient() {
        let network = (1...4).map { proxies.client(peer: at("::1"), forwardedFor: ["2001:db8:7:8::\($0)"]) }
        #expect(Set(network) == ["2001:db8:7:8::/64"])
        #expect(proxies.client(peer: at("2001:db8:7:8:aa:bb:cc:dd"), forwardedFor: []) == "2001:db8:7:8::/64")
        #expect(proxies.client(peer: at("2001:db8:7:9::1"), forwardedFor: []) == "2001:db8:7:9::/64")
        #expect(proxies.client(peer: at("::ffff:127.0.0.3"), forwardedFor: []) == proxies.client(peer: at("127.0.0.1"), forwardedFor: ["127.0.0.3"]))
        #expect(TrustedProxies().client(peer: at("::ffff:192.0.2.44"), forwardedFor: []) == "192.0.2.44")
        // A zone is not part of the address.
        #expect(try! TrustedProxies(["fe80::1%eth0"]) == (try! TrustedProxies(["fe80::1"])))
        #expect(try! TrustedProxies(["::1%lo"]) == (try! TrustedProxies(["0:0:0:0:0:0:0:1"])))
    }

    @Test func aProxyIsNamedByAnAddressOrANetwork() {
        for text in ["localhost", "", "10.0.0.256", "::1]", "%lo", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/+8",
                     "10.0.0.0/٨", "fd00::/129", "10.0.0.0/8/8"] {
            #expect { try TrustedProxies([text]) } throws: { "\($0)".contains("is not an IP address or network") }
        }
        // The unspecified address is no proxy's, and does not mean "any"; nor may a network be every address.
        for text in ["0.0.0.0", "::", "0:0::0"] {
            #expect { try TrustedProxies([text]) } throws: { "\($0)".contains("the unspecified address") }
        }
        for text in ["0.0.0.0/0", "::/0", "10.0.0.0/0"] {
            #expect { try TrustedProxies([text]) } throws: { "\($0)".contains("is every address") }
        }
        // A network with bits after its prefix is a typo (of an address, or of the prefix).
        for text in ["10.0.0.5/8", "172.18.0.1/16", "fd00::1/64", "10.0.0.1/31"] {
            #expect { try TrustedProxies([text]) } throws: { "\($0)".contains("has bits set after its prefix") }
        }
    }

    /// A network trusts each address in it (a proxy whose container gets another address of its network when it
    /// is made again), and no other; an address is the network of all its bits.
    @Test func aNetworkTrustsEachAddressInIt() throws {
        let proxies = try TrustedProxies(["172.18.0.0/16", "fd00:1:2::/48", "192.0.2.128/25", "10.1.2.3/32"])
        for proxy in ["172.18.0.1", "172.18.255.254", "::ffff:172.18.3.4", "fd00:1:2::1", "fd00:1:2:ffff::9", "192.0.2.128", "192.0.2.255", "10.1.2.3"] {
            #expect(proxies.client(peer: at(proxy), forwardedFor: ["203.0.113.7"]) == "203.0.113.7", "\(proxy)")
        }
        for other in ["172.19.0.1", "172.17.255.255", "fd00:1:3::1", "192.0.2.127", "10.1.2.4", "::172.18.0.1"] {
            #expect(proxies.client(peer: at(other), forwardedFor: ["203.0.113.7"]) != "203.0.113.7", "\(other)")
        }
        // A chain through the network is walked past to the first address outside it.
        #expect(proxies.client(peer: at("172.18.0.2"), forwardedFor: ["198.51.100.1, 203.0.113.7, 172.18.0.9"]) == "203.0.113.7")
        #expect(try TrustedProxies(["10.1.2.3/32"]) == (try TrustedProxies(["10.1.2.3"])))
        // An IPv4 network in IPv6's mapped form is the IPv4 one; its /96 is every IPv4 address.
        #expect(try TrustedProxies(["::ffff:172.18.0.0/112"]) == (try TrustedProxies(["172.18.0.0/16"])))
        #expect { try TrustedProxies(["::ffff:0.0.0.0/96"]) } throws: { "\($0)".contains("is every address") }
        #expect(try TrustedProxies(["fd00:1:2::/48"]) == (try TrustedProxies(["FD00:1:2:0::/48"])))
    }
}
