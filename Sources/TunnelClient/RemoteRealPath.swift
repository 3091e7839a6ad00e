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
        try resolvingSymlinks(path, on: TreePipeline(self)).path
    }

    /// `resolvingSymlinks`, with its StatPaths sent through `pipeline` (whatever was asked
    /// there before is answered first: a tree operation asks its ResolveUser with them), and
    /// the resolved path's own status when its lstat was the last request made (nil status:
    /// it does not exist). The lstats of the names still to resolve are asked together, as
    /// if none were a symlink: the answers are the ones asking one by one would get, and those
    /// past the first symlink are read and dropped. Each name costs no round trip of its own;
    /// a symlink costs one (its ReadLink), as before. Every answer is read on return.
    func resolvingSymlinks(_ path: [UInt8], on pipeline: TreePipeline) throws(TunnelError) -> ResolvedPath {
        guard !path.isEmpty, serves(.statPath), serves(.readLink) else {
            try finishing(pipeline) { () throws(TunnelError) in }
            return ResolvedPath(path: path, status: nil, statusKnown: false)
        }
        var absolute = path.first == slash
        var resolved: [[UInt8]] = []
        // Names still to resolve, the next one last.
        var pending = Array(names(of: path).reversed())
        var links = 0
        var missing = false
        // The lstats asked ahead, in the order the names will need them.
        var ahead: [(candidate: [UInt8], answer: AnswerSlot<StatResult?>)] = []
        var used = 0
        // The last lstat used, while the resolved path is still the path it was asked for.
        var last: (candidate: [UInt8], status: StatResult?)?
        try finishing(pipeline) { () throws(TunnelError) in
            while let name = pending.popLast() {
                if name == [UInt8(ascii: ".")] { continue }
                if name == dotDot {
                    // The folder above one without symlinks: exactly what the kernel's ".." reaches.
                    if let last = resolved.last, last != dotDot { resolved.removeLast() } else if !absolute { resolved.append(dotDot) }
                    last = nil
                    continue
                }
                let candidate = render(resolved + [name], absolute: absolute)
                if missing {
                    resolved.append(name)
                    last = nil
                    continue
                }
                if used < ahead.count && ahead[used].candidate != candidate {
                    // Not the name asked for next (never expected): ask afresh.
                    while pipeline.unanswered > 0 { try receiving(pipeline) }
                    ahead = []
                    used = 0
                }
                if used == ahead.count {
                    ahead = try askAhead(resolved, name, pending, absolute: absolute, on: pipeline)
                    used = 0
                }
                let asked = ahead[used]
                used += 1
                while asked.answer.result == nil && pipeline.unanswered > 0 { try receiving(pipeline) }
                guard let status = try (asked.answer.result ?? .success(nil)).get() else {
                    missing = true
                    resolved.append(name)
                    last = (candidate, nil)
                    continue
                }
                guard status.type == "link" else {
                    resolved.append(name)
                    last = (candidate, status)
                    continue
                }
                links += 1
                guard links <= 40 else {
                    throw .remoteOSError(OSError(errno: 40, strerror: systemErrorText(40),
                                                 msg: "[Errno 40] \(systemErrorText(40)): \(quoted(path))"))
                }
                // The lstats asked past the link were of names it replaces: read, dropped.
                while pipeline.unanswered > 0 { try receiving(pipeline) }
                ahead = []
                used = 0
                let target = try readLink(candidate)
                if target.first == slash {
                    absolute = true
                    resolved = []
                }
                pending += names(of: target).reversed()
                last = nil
            }
        }
        let final = render(resolved, absolute: absolute)
        guard let last, last.candidate == final else { return ResolvedPath(path: final, status: nil, statusKnown: false) }
        return ResolvedPath(path: final, status: last.status, statusKnown: true)
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

/// A tree's root as `resolvingSymlinks(_:on:)` pinned it, and what it knows of it.
struct ResolvedPath {
    let path: [UInt8]
    /// The path's own status (nil: it does not exist), when `statusKnown`: the lstat of a
    /// path with no symlink in it, which is its stat too.
    let status: StatResult?
    let statusKnown: Bool
}

extension TunnelConnection {
    /// Sends the lstats that resolving `name` and then `pending` (the next one last) will
    /// need if none of them is a symlink, in that order: what `resolvingSymlinks` would ask
    /// one by one. Stops at a ".." that would climb above what is resolved (rare; asked then).
    fileprivate func askAhead(_ resolved: [[UInt8]], _ name: [UInt8], _ pending: [[UInt8]], absolute: Bool,
                              on pipeline: TreePipeline) throws(TunnelError) -> [(candidate: [UInt8], answer: AnswerSlot<StatResult?>)] {
        var walked = resolved
        var asked: [(candidate: [UInt8], answer: AnswerSlot<StatResult?>)] = []
        // At most `namesAskedAhead` names: a symlink's target adds its names to `pending` and
        // everything is asked again after it, so asking all of them let a target's chain of
        // links with long targets cost the client (links × names)² bytes and the agent as many
        // lstats (40 links of 2,000 names: gigabytes); one by one asked one per target.
        for next in [name] + pending.suffix(namesAskedAhead - 1).reversed() {
            if next == [UInt8(ascii: ".")] { continue }
            if next == dotDot {
                guard let last = walked.last, last != dotDot else { break }
                walked.removeLast()
                continue
            }
            walked.append(next)
            let candidate = render(walked, absolute: absolute)
            let answer = AnswerSlot<StatResult?>()
            do {
                try pipeline.status(candidate) { answer.result = $0 }
            } catch {
                throw error as? TunnelError ?? .transport("\(error)")
            }
            asked.append((candidate, answer))
        }
        return asked
    }

    /// The next answer of `pipeline`, its failure as a TunnelError.
    fileprivate func receiving(_ pipeline: TreePipeline) throws(TunnelError) {
        do { try pipeline.receiveNext() } catch { throw error as? TunnelError ?? .transport("\(error)") }
    }

    /// `body`, then every answer still due on `pipeline`, read also when `body` failed (the
    /// stream stays in step for the next request); `body`'s failure first.
    fileprivate func finishing(_ pipeline: TreePipeline, _ body: () throws(TunnelError) -> Void) throws(TunnelError) {
        var failure: TunnelError?
        do { try body() } catch { failure = error }
        while pipeline.unanswered > 0 {
            do { try receiving(pipeline) } catch { if failure == nil { failure = error }; if !isUsable { break } }
        }
        if let failure { throw failure }
    }
}

/// How many of the names still to resolve `askAhead` sends at once (a pipeline's window).
private let namesAskedAhead = 64

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
