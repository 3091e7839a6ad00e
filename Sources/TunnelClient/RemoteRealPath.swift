import TunnelWire

// The root of a tree operation, pinned. The agent opens the root of every `*Beneath`
// request (42-46) without following any symlink in its path, so that whoever can rename
// the root or a folder above it cannot lead the rest of an operation elsewhere by swapping
// in a symlink between two requests (docs/security.md, "A tree's root is pinned"). A user
// may still name a root through a symlink (`/srv/current/`): each tree operation resolves
// it here ONCE, at its start, and names that symlink-free path in all its requests. Never
// cached across operations: `current` may point elsewhere by the next one.

extension TunnelConnection {
    /// `path` with every symlink in it resolved on the agent, as realpath(3) does: an lstat
    /// (StatPath) per name, a ReadLink per symlink (at most 40, then ELOOP as the kernel),
    /// a relative target resolved against its folder, and ".." applied after the name
    /// before it was resolved. A relative `path` stays relative (to the agent's working
    /// directory) unless a link leads to an absolute target. From the first name that does
    /// not exist on, the rest is kept as given (an operation may create it; the agent
    /// refuses a symlink that appears there later). Unchanged for an agent without StatPath
    /// and ReadLink, which serves no `*Beneath` request either.
    public func resolvingSymlinks(_ path: [UInt8]) throws(TunnelError) -> [UInt8] {
        guard !path.isEmpty, serves(.statPath), serves(.readLink) else { return path }
        var absolute = path.first == slash
        var resolved: [[UInt8]] = []
        // Names still to resolve, the next one last.
        var pending = Array(names(of: path).reversed())
        var links = 0
        var missing = false
        while let name = pending.popLast() {
            if name == [UInt8(ascii: ".")] { continue }
            if name == dotDot {
                // The folder above one without symlinks: exactly what the kernel's ".." reaches.
                if let last = resolved.last, last != dotDot { resolved.removeLast() } else if !absolute { resolved.append(dotDot) }
                continue
            }
            let candidate = render(resolved + [name], absolute: absolute)
            guard !missing, let status = try status(candidate, followLinks: false) else {
                missing = true
                resolved.append(name)
                continue
            }
            guard status.type == "link" else {
                resolved.append(name)
                continue
            }
            links += 1
            guard links <= 40 else {
                throw .remoteOSError(OSError(errno: 40, strerror: systemErrorText(40),
                                             msg: "[Errno 40] \(systemErrorText(40)): \(quoted(path))"))
            }
            let target = try readLink(candidate)
            if target.first == slash {
                absolute = true
                resolved = []
            }
            pending += names(of: target).reversed()
        }
        return render(resolved, absolute: absolute)
    }

    /// As `resolvingSymlinks`, but a last name that is a symlink is kept as a symlink (its
    /// folder is resolved): what download -r and a pull copy as a symlink, as rsync does
    /// without a trailing "/". With one (`link/`), or a last name "." or "..", all is resolved.
    public func resolvingSymlinksAbove(_ path: [UInt8]) throws(TunnelError) -> [UInt8] {
        guard let cut = path.lastIndex(of: slash), cut != path.count - 1 else { return try resolvingSymlinks(path) }
        let name = Array(path[(cut + 1)...])
        guard name != [UInt8(ascii: ".")], name != dotDot else { return try resolvingSymlinks(path) }
        let folder = try resolvingSymlinks(cut == 0 ? [slash] : Array(path[..<cut]))
        return folder + (folder.last == slash ? [] : [slash]) + name
    }
}

private let slash = UInt8(ascii: "/")
private let dotDot: [UInt8] = [UInt8(ascii: "."), UInt8(ascii: ".")]

/// The non-empty names of a path, in order.
private func names(of path: [UInt8]) -> [[UInt8]] {
    path.split(separator: slash, omittingEmptySubsequences: true).map { Array($0) }
}

private func render(_ names: [[UInt8]], absolute: Bool) -> [UInt8] {
    let joinedNames = Array(names.joined(separator: [slash]))
    if absolute { return [slash] + joinedNames }
    return joinedNames.isEmpty ? [UInt8(ascii: ".")] : joinedNames
}
