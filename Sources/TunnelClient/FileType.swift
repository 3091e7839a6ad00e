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

extension FileType {
    /// The type a listing or a status names (`.other` for a word this client does not know):
    /// the common words compared first, as plain strings, rather than matched against every
    /// case (`init(rawValue:)`), which was asked several times per entry of a tree.
    init(wire type: String) {
        if type == "file" { self = .regular } else if type == "dir" { self = .directory } else if type == "link" { self = .symlink } else {
            self = FileType(rawValue: type) ?? .other
        }
    }
}

extension StatResult {
    /// `type` as an enum (`.other` for a word this client does not know).
    public var fileType: FileType { FileType(wire: type) }
}

extension DirEntry {
    /// `type` as an enum (`.other` for a word this client does not know).
    public var fileType: FileType { FileType(wire: type) }
}
