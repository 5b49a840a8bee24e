import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bare HTTP/1.1 client over a loopback socket, for the tests that need what a library client hides: a body
/// sent piece by piece while the answer is watched for, a body without `Content-Length`, or a server started as
/// a separate process. Every wait is bounded.
public final class LoopbackHTTP {
    public struct Answer: Sendable {
        public var status: Int
        /// Header names in lower case.
        public var headers: [String: String]
        public var body: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    private let socket: Int32

    /// Connects to `host` (a name or an address on this machine) at `port`, trying each address it resolves to.
    /// `timeout`: how long an answer may take. In the whole suite other tests hold Swift's cooperative threads,
    /// which an in-process server's handlers need, for many seconds at a time: an answer may be slow there,
    /// and only its absence is a failure.
    /// `from`: the IPv4 address this end uses (another loopback address, `127.0.0.2`, is another client).
    public init(host: String = "localhost", port: Int, timeout: TimeInterval = 300, from: String? = nil) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(first) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            let fd = from != nil && info.pointee.ai_family != AF_INET ? -1 : openSocket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0, let from {
                var local = sockaddr_in()
                local.sin_family = sa_family_t(AF_INET)
                guard inet_pton(AF_INET, from, &local.sin_addr) == 1,
                      withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
                    close(fd)
                    throw Failure(description: "cannot use \(from) as this end's address")
                }
            }
            if fd >= 0 {
                var limit = timeval(tv_sec: Int(timeout), tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    socket = fd
                    return
                }
                close(fd)
            }
            candidate = info.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port)")
    }

    deinit { close(socket) }

    /// Sends all of `bytes`; `false` when the connection is gone (the server closed it, or stopped reading for
    /// longer than the timeout).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { sendWithoutSignal(socket, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Whether the server has begun to answer (bytes are waiting to be read), waiting at most `milliseconds`.
    public func answerArrived(waiting milliseconds: Int32 = 0) -> Bool {
        var entry = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, milliseconds) > 0
    }

    /// Whether the server closed the connection (nothing more to read, the end of the stream), waiting at most
    /// `milliseconds` for it; `false` if it is still open then, or has bytes waiting.
    public func closedByServer(waiting milliseconds: Int32) -> Bool {
        guard answerArrived(waiting: milliseconds) else { return false }
        var byte: UInt8 = 0
        return recv(socket, &byte, 1, Int32(MSG_PEEK)) == 0
    }

    /// Reads one answer: its head, then a body of its `Content-Length` (none for 204).
    public func readAnswer() throws -> Answer {
        var buffer: [UInt8] = []
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            try readMore(into: &buffer)
            headEnd = buffer.indices.dropLast(3).first { Array(buffer[$0..<$0 + 4]) == separator }
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let statusWords = head[0].split(separator: " ")
        guard statusWords.count >= 2, let status = Int(statusWords[1]) else { throw Failure(description: "not an HTTP answer: \(head[0])") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(buffer[(headEnd! + 4)...])
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while body.count < length { try readMore(into: &body) }
        return Answer(status: status, headers: headers, body: body)
    }

    private func readMore(into buffer: inout [UInt8]) throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw Failure(description: n == 0 ? "the server closed the connection" : "no answer before the timeout") }
        buffer.append(contentsOf: chunk[..<n])
    }
}

#if canImport(Glibc)
private func openSocket(_ family: Int32, _ type: Int32, _ proto: Int32) -> Int32 { Glibc.socket(family, type, proto) }
private func sendWithoutSignal(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int { Glibc.send(fd, p, n, Int32(MSG_NOSIGNAL)) }
#else
private func openSocket(_ family: Int32, _ type: Int32, _ proto: Int32) -> Int32 { Darwin.socket(family, type, proto) }
private func sendWithoutSignal(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int {
    var on: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
    return Darwin.send(fd, p, n, 0)
}
#endif
