import TunnelWire

/// What the client may send while a streamed run is live. Decoded only from bytes already
/// buffered, and only once a packet's fixed part is there whole (as NIO's
/// ByteToMessageDecoder does): the supervisor never blocks on fd 0, so half a packet cannot
/// hold up the run's output or its time limit.
enum ControlFrame: Equatable {
    /// An Input packet's id and length: `length` bytes for the child's stdin follow, taken
    /// as they arrive (never held whole, never waited for).
    case input(length: UInt64)
    case closeInput
    case signal(Int32)
    /// A terminal run's new window size (ignored in other runs).
    case windowSize(TerminalSize)
    case exit
}

extension InputStream {
    /// The next control packet when its fixed part is buffered whole (consumed then); nil
    /// when more bytes are needed. Any other packet is the protocol error it always was.
    func takeControlFrame() throws(WireError) -> ControlFrame? {
        let bytes = buffered
        guard bytes.count >= 4 else { return nil }
        let raw = UInt32(truncatingIfNeeded: bigEndian(bytes, at: 0, count: 4))
        guard let id = PacketID(rawValue: raw) else { throw .invalidPacketID(raw) }
        switch id {
        case .input:
            guard bytes.count >= 12 else { return nil }
            consume(12)
            return .input(length: bigEndian(bytes, at: 4, count: 8))
        case .closeInput:
            consume(4)
            return .closeInput
        case .signal:
            guard bytes.count >= 8 else { return nil }
            consume(8)
            return .signal(Int32(bitPattern: UInt32(truncatingIfNeeded: bigEndian(bytes, at: 4, count: 4))))
        case .windowSize:
            guard bytes.count >= 12 else { return nil }
            consume(12)
            return .windowSize(TerminalSize(rows: UInt32(truncatingIfNeeded: bigEndian(bytes, at: 4, count: 4)),
                                            columns: UInt32(truncatingIfNeeded: bigEndian(bytes, at: 8, count: 4))))
        case .exit:
            consume(4)
            return .exit
        default:
            throw .unexpectedDuringRun(id)
        }
    }
}

/// The big-endian unsigned integer in `count` bytes of `bytes` from `offset`.
private func bigEndian(_ bytes: UnsafeRawBufferPointer, at offset: Int, count: Int) -> UInt64 {
    var value: UInt64 = 0
    for index in offset..<(offset + count) { value = value << 8 | UInt64(bytes[index]) }
    return value
}
