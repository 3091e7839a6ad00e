import CPosix
import TunnelWire

/// A path of the `*Beneath` requests (42-46): a root, opened without following a symlink
/// anywhere in its path, and single names below it, each resolved relative to the
/// descriptor of the one before and never through a symlink either. Someone who swaps the
/// root, a folder above it or a folder of the tree for a symlink between two requests of
/// one operation makes the request fail (ELOOP or ENOTDIR), not reach elsewhere. The
/// client resolves the root's symlinks once, at the start of each operation.
struct BeneathPath {
    let root: SystemPath
    /// Each a single name: not empty, not "." or "..", no "/" or NUL.
    let components: [SystemPath]

    /// nil when a component is not a single name.
    init?(root: SystemPath, relative: [UInt8]) {
        guard let names = beneathComponents(relative) else { return nil }
        self.root = root
        components = names.map { SystemPath(validBytes: $0) }
    }

    /// The folder that holds the last component, reached without following any symlink
    /// below the root. Needs at least one component.
    func openParent() throws(Errno) -> FileDescriptor {
        var directory = try openRoot(TP_O_PATH | TP_O_DIRECTORY)
        for name in components.dropLast() {
            let next = try directory.open(name, TP_O_PATH | TP_O_DIRECTORY | TP_O_NOFOLLOW)
            directory = next
        }
        return directory
    }

    /// The root itself, opened with `flags` and without following any symlink in its path
    /// (PathJail: beneath --root when there is one).
    func openRoot(_ flags: Int32) throws(Errno) -> FileDescriptor {
        try PathJail.openWithoutSymlinks(root, flags)
    }

    /// Root and components joined with "/": for messages only, never to be opened.
    var joined: SystemPath {
        var bytes = root.bytes
        for name in components {
            if bytes.last != UInt8(ascii: "/") { bytes.append(UInt8(ascii: "/")) }
            bytes += name.bytes
        }
        return SystemPath(validBytes: bytes)
    }

    var text: String { joined.text }
}
