/// A sink for protocol bytes. Writers buffer; the owner flushes after each packet.
public protocol WireWriter {
    mutating func write(_ bytes: UnsafeRawBufferPointer)
    /// Gives up on the packet being written: a payload could not produce the bytes its length
    /// prefix announced. The writer drops everything after and reports `reason` to its owner,
    /// who ends the session, so that the peer sees the packet cut short, never completed with
    /// invented bytes.
    mutating func abandon(reason: String)
}

/// A `bytes` value that knows its length before its content, so that a large one can be
/// streamed after its length prefix (from a file, a spool) instead of held in memory.
public protocol WirePayload {
    /// The content's length, written before it; `writeContent` must write exactly this many
    /// bytes, or abandon the packet.
    var byteCount: UInt64 { get }
    /// Writes the content (without its length).
    func writeContent<W: WireWriter>(to writer: inout W)
}

extension Array: WirePayload where Element == UInt8 {
    public var byteCount: UInt64 { UInt64(count) }
    public func writeContent<W: WireWriter>(to writer: inout W) {
        withUnsafeBytes { writer.write($0) }
    }
}

extension WireWriter {
    @inline(__always)
    mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { write($0) }
    }

    /// A big-endian u32.
    public mutating func writeU32(_ value: UInt32) { writeBigEndian(value) }
    /// A big-endian u64.
    public mutating func writeU64(_ value: UInt64) { writeBigEndian(value) }
    /// A big-endian i32.
    public mutating func writeI32(_ value: Int32) { writeBigEndian(value) }
    /// A big-endian i64.
    public mutating func writeI64(_ value: Int64) { writeBigEndian(value) }
    /// A bool: one byte, 1 or 0.
    public mutating func writeBool(_ value: Bool) { writeBigEndian(UInt8(value ? 1 : 0)) }

    /// A bytes field: the u64 length, then the payload's content.
    public mutating func writePayload<P: WirePayload>(_ payload: P) {
        writeU64(payload.byteCount)
        payload.writeContent(to: &self)
    }

    /// A str field: the u64 length of its UTF-8, then the UTF-8.
    public mutating func writeString(_ value: String) {
        var copy = value
        copy.withUTF8 { utf8 in
            writeU64(UInt64(utf8.count))
            write(UnsafeRawBufferPointer(utf8))
        }
    }

    /// An Optional[str]: a bool, then the string when present.
    public mutating func writeOptionalString(_ value: String?) {
        writeBool(value != nil)
        if let value { writeString(value) }
    }

    /// An Optional[bytes]: a bool, then the payload when present.
    public mutating func writeOptionalPayload<P: WirePayload>(_ value: P?) {
        writeBool(value != nil)
        if let value { writePayload(value) }
    }

    /// A list[str]: the u64 count, then each string.
    public mutating func writeStringList(_ values: [String]) {
        writeU64(UInt64(values.count))
        for value in values { writeString(value) }
    }

    /// A `bytes` field held in memory (the extensions' paths and names).
    public mutating func writeBytes(_ value: [UInt8]) {
        writeU64(UInt64(value.count))
        value.withUnsafeBytes { write($0) }
    }

    /// An Optional[bytes]: a bool, then the bytes when present.
    public mutating func writeOptionalBytes(_ value: [UInt8]?) {
        writeBool(value != nil)
        if let value { writeBytes(value) }
    }

    /// A list[bytes] (extensions): the u64 count, then each bytes value.
    public mutating func writeBytesList(_ values: [[UInt8]]) {
        writeU64(UInt64(values.count))
        for value in values { writeBytes(value) }
    }
}

/// Collects bytes in memory (tests, and the client's request encoding).
public struct ByteWriter: WireWriter {
    /// Everything written so far.
    public var bytes: [UInt8] = []
    /// Why a payload gave up, if one did; nothing was collected after it.
    public private(set) var abandoned: String?
    /// An empty writer.
    public init() {}
    /// Appends `bytes`, unless a payload has abandoned the packet.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard abandoned == nil else { return }
        self.bytes.append(contentsOf: bytes)
    }
    /// Records the first reason a payload gave up; later writes are dropped.
    public mutating func abandon(reason: String) {
        if abandoned == nil { abandoned = reason }
    }
}
