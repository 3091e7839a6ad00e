import CPosix

/// The file type bits of `st_mode`, with the names `Stat` reports.
enum FileKind: Equatable {
    case directory, characterDevice, blockDevice, regular, fifo, symlink, socket, other

    init(mode: mode_t) {
        switch UInt32(mode) & 0o170000 {
        case 0o040000: self = .directory
        case 0o020000: self = .characterDevice
        case 0o060000: self = .blockDevice
        case 0o100000: self = .regular
        case 0o010000: self = .fifo
        case 0o120000: self = .symlink
        case 0o140000: self = .socket
        default: self = .other
        }
    }

    var name: String {
        switch self {
        case .directory: return "dir"
        case .characterDevice: return "chr"
        case .blockDevice: return "blk"
        case .regular: return "file"
        case .fifo: return "fifo"
        case .symlink: return "link"
        case .socket: return "sock"
        case .other: return "other"
        }
    }
}
