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

    @Test func aProxyIsNamedByAnAddress() {
        for text in ["localhost", "", "10.0.0.0/8", "10.0.0.256", "::1]", "%lo"] {
            #expect(throws: TrustedProxies.Invalid.self) { try TrustedProxies([text]) }
        }
        // The unspecified address is no proxy's, and does not mean "any".
        for text in ["0.0.0.0", "::", "0:0::0"] {
            #expect { try TrustedProxies([text]) } throws: { "\($0)".contains("the unspecified address") }
        }
    }
}
