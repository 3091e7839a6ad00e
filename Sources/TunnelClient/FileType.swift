import TunnelWire

/// The type of a file, as `StatResult.type` and `DirEntry.type` name it on the wire.
public enum FileType: String, Sendable, CaseIterable {
    case directory = "dir"
    case regular = "file"
    case symlink = "link"
    case characterDevice = "chr"
    case blockDevice = "blk"
    case fifo = "fifo"
    case socket = "sock"
    case other = "other"
}

extension StatResult {
    /// `type` as an enum (`.other` for a word this client does not know).
    public var fileType: FileType { FileType(rawValue: type) ?? .other }
}

extension DirEntry {
    /// `type` as an enum (`.other` for a word this client does not know).
    public var fileType: FileType { FileType(rawValue: type) ?? .other }
}
