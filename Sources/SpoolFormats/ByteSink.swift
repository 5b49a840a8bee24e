import Foundation

/// Where a writer puts its bytes: memory, or an output (see ``FileIO/Output``) written in 1 MiB chunks so
/// it is never held whole. A file appears whole or not at all, on ``commit()``.
public final class ByteSink {
    /// The bytes not yet flushed (all of them, for a memory sink).
    public var buffer: [UInt8] = []
    private let output: FileIO.Output?
    /// The file written, `-` for standard output, `nil` for memory (for messages).
    let path: String?
    static let chunk = 1 << 20

    /// A sink that keeps everything in ``buffer``.
    public init() {
        output = nil
        path = nil
    }

    /// A sink writing to `path` (a regular file through a temporary file; a device or FIFO in place) or to
    /// standard output for `-`.
    public init(file path: String) throws(ConversionError) {
        output = try FileIO.Output(path)
        self.path = path
        buffer.reserveCapacity(ByteSink.chunk + 64 * 1024)
    }

    public func append(_ bytes: [UInt8]) throws(ConversionError) {
        buffer.append(contentsOf: bytes)
        try flushIfFull()
    }

    /// Writes the buffer out once it holds a chunk (file sinks only).
    public func flushIfFull() throws(ConversionError) {
        if output != nil, buffer.count >= ByteSink.chunk { try flush() }
    }

    private func flush() throws(ConversionError) {
        guard let output else { return }
        try output.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes the rest and, for a file, moves it into place.
    public func commit() throws(ConversionError) {
        try flush()
        try output?.commit()
    }
}
