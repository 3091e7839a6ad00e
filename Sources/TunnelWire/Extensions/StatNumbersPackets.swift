// What `ls -l` shows and StatResult (fora's field list, kept as it is) does not carry: the
// link count, and a device's major and minor numbers. One request for a whole listing.

/// Request: the numbers of each path, as `lstat` gives them (a symlink is described
/// itself). Answered by one `StatNumbersResult`, an entry per path in the same order.
public struct StatNumbers: DecodablePacket, Equatable {
    public static let id = PacketID.statNumbers
    /// The paths, as bytes.
    public var paths: [[UInt8]]
    /// A StatNumbers request for `paths`.
    public init(paths: [[UInt8]]) {
        self.paths = paths
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytesList(paths)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> StatNumbers {
        StatNumbers(paths: try reader.readBytesList(field: "paths"))
    }
}

/// One path's numbers. All 0 when it could not be read (gone since the listing, or not
/// searchable): no existing name has a link count of 0.
public struct FileNumbers: Equatable {
    /// `st_nlink`.
    public var linkCount: UInt64
    /// `major(st_rdev)` and `minor(st_rdev)`: meaningful for character and block devices.
    public var deviceMajor: UInt64, deviceMinor: UInt64
    /// Numbers with these values.
    public init(linkCount: UInt64, deviceMajor: UInt64, deviceMinor: UInt64) {
        self.linkCount = linkCount
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
    }
}

/// Answer to `StatNumbers`: a count, then three u64 per path (link count, major, minor).
public struct StatNumbersResult: DecodablePacket, Equatable {
    public static let id = PacketID.statNumbersResult
    /// Three numbers per requested path, in the request's order: link count, major, minor.
    /// Flat, as they travel: the agent appends them without an array of structs (its size).
    public var numbers: [UInt64]
    /// An answer with these numbers (a multiple of three).
    public init(numbers: [UInt64]) {
        self.numbers = numbers
    }
    /// An answer with these entries.
    public init(entries: [FileNumbers]) {
        numbers = entries.flatMap { [$0.linkCount, $0.deviceMajor, $0.deviceMinor] }
    }
    /// One entry per requested path.
    public var entries: [FileNumbers] {
        stride(from: 0, to: numbers.count - 2, by: 3).map {
            FileNumbers(linkCount: numbers[$0], deviceMajor: numbers[$0 + 1], deviceMinor: numbers[$0 + 2])
        }
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeU64(UInt64(numbers.count / 3))
        for number in numbers { writer.writeU64(number) }
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> StatNumbersResult {
        let count = try reader.readU64()
        guard count <= reader.limits.maxListCount else { throw .listTooLong(field: "entries", count: count) }
        var numbers: [UInt64] = []
        for _ in 0..<count * 3 { numbers.append(try reader.readU64()) }
        return StatNumbersResult(numbers: numbers)
    }
}
