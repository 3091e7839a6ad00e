/// A source of protocol bytes. The agent reads from fd 0 through its own buffer, tests and
/// the client from memory or a pipe; the field decoding on top is shared by all of them.
public protocol WireReader {
    /// Fills `buffer` completely, or throws `.truncated` (or `.io`) if the input ends first.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(WireError)
    /// What this reader is willing to hold in memory.
    var limits: WireLimits { get }
    /// Records a bad field value (the first per packet wins); decoding goes on so that the
    /// stream stays in sync, and the caller answers `InvalidField` once the packet is read.
    mutating func reportInvalid(field: String, reason: String)
    /// Whether `byteCount` more bytes can be allocated now. Asked before a large field is
    /// read: a Swift allocation that fails ends the process, so the agent asks its allocator
    /// first (under RLIMIT_AS the answer can be no) and refuses the field instead.
    mutating func canAllocate(_ byteCount: Int) -> Bool
}

extension WireReader {
    /// In memory and in the client there is nothing to ask: yes.
    public mutating func canAllocate(_ byteCount: Int) -> Bool { true }
}

extension WireReader {
    @inline(__always)
    mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type) throws(WireError) -> T {
        var value: T = 0
        try withUnsafeMutableBytes(of: &value) { (raw) throws(WireError) in try read(into: raw) }
        return T(bigEndian: value)
    }

    /// A big-endian u32.
    public mutating func readU32() throws(WireError) -> UInt32 { try readBigEndian(UInt32.self) }
    /// A big-endian u64.
    public mutating func readU64() throws(WireError) -> UInt64 { try readBigEndian(UInt64.self) }
    /// A big-endian i32.
    public mutating func readI32() throws(WireError) -> Int32 { try readBigEndian(Int32.self) }
    /// A big-endian i64.
    public mutating func readI64() throws(WireError) -> Int64 { try readBigEndian(Int64.self) }

    /// Any non-zero byte is true, as Python's `struct.unpack("?")` treats it.
    public mutating func readBool() throws(WireError) -> Bool { try readBigEndian(UInt8.self) != 0 }

    /// Reads `count` bytes and throws them away, in fixed-size pieces.
    public mutating func skip(_ count: UInt64) throws(WireError) {
        var remaining = count
        try withUnsafeTemporaryAllocation(byteCount: 16384, alignment: 8) { (scratch) throws(WireError) in
            while remaining > 0 {
                let piece = Int(min(remaining, UInt64(scratch.count)))
                try read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<piece]))
                remaining -= UInt64(piece)
            }
        }
    }

    /// Reads `length` bytes into an array that grows as bytes arrive, never by the
    /// declared length alone (a lying peer cannot make us allocate what it does not send).
    public mutating func readBytes(length: UInt64) throws(WireError) -> [UInt8] {
        var result: [UInt8] = []
        var filled = 0
        var remaining = length
        while remaining > 0 {
            let grow = Int(min(remaining, UInt64(max(65536, filled))))
            // The first piece makes the array at its size at once: appending to an empty one
            // went through a regrowth, for every field (docs/performance.md).
            if filled == 0 { result = [UInt8](repeating: 0, count: grow) } else { result.append(contentsOf: repeatElement(0, count: grow)) }
            // Array's withUnsafeMutableBytes only rethrows untyped errors: carry ours out.
            var failure: WireError?
            result.withUnsafeMutableBytes { raw in
                do throws(WireError) {
                    try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled..<(filled + grow)]))
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            filled += grow
            remaining -= UInt64(grow)
        }
        return result
    }

    /// A `bytes` field held in memory, within `limits.maxInMemoryBytes`.
    public mutating func readBytes(field: String) throws(WireError) -> [UInt8] {
        try readBytes(field: field, length: try readU64())
    }

    /// A `str` field. Invalid UTF-8 or a string over the cap is reported as an invalid
    /// `field` and read as "" so that decoding can go on.
    public mutating func readString(field: String) throws(WireError) -> String {
        try readString(field: field, length: try readU64())
    }

    /// The body of a `str` field whose length was already read.
    mutating func readString(field: String, length: UInt64) throws(WireError) -> String {
        guard length <= UInt64(limits.maxStringBytes) else {
            try skip(length)
            reportInvalid(field: field, reason: "The value is \(length) bytes long; the limit is \(limits.maxStringBytes) bytes.")
            return ""
        }
        // The bytes, the String made of them and what parsing copies: room for several times
        // the length. Small fields are never worth asking about.
        if length >= 65536 && !canAllocate(Int(length) * 8) {
            try skip(length)
            reportInvalid(field: field, reason: "The value is \(length) bytes long; there is no memory to hold it.")
            return ""
        }
        // Most strings are a few bytes (a type, an owner's name): read on the stack, with no
        // array made and dropped for each (a listing's status holds three).
        if length <= 64 {
            return try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { (scratch) throws(WireError) -> String in
                let bytes = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Int(length)])
                try read(into: bytes)
                return checkedString(UnsafeRawBufferPointer(bytes), field: field)
            }
        }
        let bytes = try readBytes(length: length)
        return bytes.withUnsafeBytes { checkedString($0, field: field) }
    }

    /// `bytes` as a String; invalid UTF-8 is reported as an invalid `field` and read as "".
    private mutating func checkedString(_ bytes: UnsafeRawBufferPointer, field: String) -> String {
        if let problem = utf8Problem(bytes) {
            reportInvalid(field: field, reason: "The value is not valid UTF-8: \(problem).")
            return ""
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An Optional[str]: a bool, then the string when true.
    public mutating func readOptionalString(field: String) throws(WireError) -> String? {
        try readBool() ? try readString(field: field) : nil
    }

    /// An Optional[bytes]: a bool, then the bytes when true.
    public mutating func readOptionalBytes(field: String) throws(WireError) -> [UInt8]? {
        try readBool() ? try readBytes(field: field) : nil
    }

    /// A `list[str]`; the count is checked against the cap before anything is read, the
    /// strings' total as they arrive (those beyond it are skipped, the field reported).
    public mutating func readStringList(field: String) throws(WireError) -> [String] {
        try readList(field: field) { (reader, length) throws(WireError) in try reader.readString(field: field, length: length) }
    }

    /// A `list[bytes]`, within the same caps as `list[str]`.
    public mutating func readBytesList(field: String) throws(WireError) -> [[UInt8]] {
        try readList(field: field) { (reader, length) throws(WireError) in try reader.readBytes(length: length) }
    }

    private mutating func readList<Element>(
        field: String, _ element: (inout Self, UInt64) throws(WireError) -> Element
    ) throws(WireError) -> [Element] {
        let count = try readU64()
        guard count <= limits.maxListCount else { throw .listTooLong(field: field, count: count) }
        var result: [Element] = []
        var total: UInt64 = 0
        for _ in 0..<count {
            let length = try readU64()
            guard length <= limits.maxListBytes - total else {
                try skip(length)
                total = limits.maxListBytes
                reportInvalid(field: field, reason: "The list holds more than \(limits.maxListBytes) bytes.")
                continue
            }
            total += length
            result.append(try element(&self, length))
        }
        return result
    }
}

/// Reads from an array in memory (tests, and the client's packet parsing).
public struct ByteReader: WireReader {
    /// Everything there is to read.
    public let bytes: [UInt8]
    /// How many of `bytes` have been read.
    public private(set) var offset = 0
    /// The caps applied while decoding (see WireLimits).
    public var limits: WireLimits
    /// The first bad field reported since the last `takeInvalidField()`.
    public private(set) var invalidField: (field: String, reason: String)?

    /// A reader of `bytes` from the start, under `limits`.
    public init(_ bytes: [UInt8], limits: WireLimits = .agent) {
        self.bytes = bytes
        self.limits = limits
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset == bytes.count }

    /// Fills `buffer` with the next bytes, or throws `truncated` when fewer remain.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(WireError) {
        // Written as a subtraction so that it cannot overflow.
        guard buffer.count <= bytes.count - offset else { throw .truncated }
        bytes.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + buffer.count)]))
        }
        offset += buffer.count
    }

    /// Keeps the first bad field reported, for `takeInvalidField()`.
    public mutating func reportInvalid(field: String, reason: String) {
        if invalidField == nil { invalidField = (field, reason) }
    }

    /// The bad field reported since the last call, if any, and forgets it.
    public mutating func takeInvalidField() -> (field: String, reason: String)? {
        defer { invalidField = nil }
        return invalidField
    }
}

extension WireReader {
    /// The body of a `bytes` field whose length was already read, held in memory.
    public mutating func readBytes(field: String, length: UInt64) throws(WireError) -> [UInt8] {
        guard length <= limits.maxInMemoryBytes else { throw .payloadTooLong(field: field, length: length) }
        return try readBytes(length: length)
    }
}
