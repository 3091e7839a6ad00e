/// The tree transfers of the protocol extensions (UploadBeneath, ReadBeneath,
/// CreateBeneath: docs/protocol.md): a `root` as the user named it, and a relative path
/// below it that the agent resolves without following any symlink. And the checks every
/// listing from a target gets: its names are hostile input (issue 20).

/// What `read(beneath:)` found at a path.
public enum EntryContent: Equatable {
    /// A folder: its entries, each name checked to be a single one, no name twice.
    case directory([DirEntry])
    /// A symlink: its target (the link itself, never followed).
    case symlink([UInt8])
    /// A regular file, whose content went to `content`.
    case file
}

extension TunnelConnection {
    /// What is at `path` below `root`, in one request: a folder's entries, a symlink's
    /// target, or a regular file's content, streamed to `content` (return false to abandon
    /// the connection: a local write failed). Without `content` a file is not expected:
    /// its content is read and dropped, so the connection stays usable and the caller
    /// sees `.file`. Devices, fifos and sockets are an OSError.
    public func read(beneath root: [UInt8], _ path: [UInt8], withStatus: Bool = false,
                     content consume: ((UnsafeRawBufferPointer) -> Bool)? = nil) throws(TunnelError) -> EntryContent {
        try sendRead(beneath: root, path, withStatus: withStatus)
        return try receiveRead(beneath: root, path, content: consume)
    }

    /// The request half of `read(beneath:)`: encoded, not yet flushed (`TreePipeline`).
    func sendRead(beneath root: [UInt8], _ path: [UInt8], withStatus: Bool) throws(TunnelError) {
        try require(.readBeneath)
        try checkUsable()
        var output = transport.output
        ReadBeneath(root: root, path: path, withStatus: withStatus).encode(to: &output)
    }

    /// The answer half of `read(beneath:)`, for the request sent last but not yet answered.
    func receiveRead(beneath root: [UInt8], _ path: [UInt8],
                     content consume: ((UnsafeRawBufferPointer) -> Bool)?) throws(TunnelError) -> EntryContent {
        try checkUsable()
        try send()   // whatever is still buffered, this request included
        var input = transport.input
        let result: Result<EntryContent, TunnelError>
        var listing: DirEntries?
        do throws(WireError) {
            let id = try input.readPacketID()
            switch id {
            case .downloadResult:
                if let consume {
                    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
                    defer { chunk.deallocate() }
                    let abandoned = try receiveContent(from: &input, of: show(root, path), into: chunk, consume)
                    result = abandoned.map { .failure($0) } ?? .success(.file)
                } else {
                    try input.skip(try input.readU64())
                    result = .success(.file)
                }
            case .linkTarget:
                result = .success(.symlink(try LinkTarget.decodeFields(from: &input).target))
            case .dirEntries:
                listing = try underListingLimits { () throws(WireError) in try DirEntries.decodeFields(from: &input) }
                result = .success(.file)   // replaced below, once every chunk is in
            default:
                let refusal = try Self.refusal(id, from: &input)
                if case .unexpectedAnswer = refusal { broken = refusal }
                result = .failure(refusal)
            }
        } catch {
            let failure = explain(error)
            broken = failure
            throw failure
        }
        answered = true
        if let invalid = input.takeInvalidField() {
            if let listing { _ = try? remainingEntries(after: listing, of: show(root, path)) }   // keep the stream in step
            throw .invalidAnswer(field: invalid.field, reason: invalid.reason)
        }
        if let listing { return .directory(try remainingEntries(after: listing, of: show(root, path))) }
        return try result.get()
    }

    /// Makes the folder `path` below `root` with exactly `mode` (octal text; default 755).
    /// An existing folder is fine and keeps its mode; a symlink or anything else there is
    /// EEXIST: never entered.
    public func makeDirectory(beneath root: [UInt8], _ path: [UInt8], mode: String? = nil) throws(TunnelError) {
        try require(.createBeneath)
        _ = try request(CreateBeneath(root: root, path: path, mode: mode), expecting: Ok.self)
    }

    /// Makes `path` below `root` a symlink to `target`; anything already there is EEXIST.
    public func symlink(beneath root: [UInt8], _ path: [UInt8], to target: [UInt8]) throws(TunnelError) {
        try require(.createBeneath)
        _ = try request(CreateBeneath(root: root, path: path, linkTarget: target), expecting: Ok.self)
    }

    /// Replaces the file at `path` below `root` with the content of `file`, streamed and
    /// atomic as `upload(_:streaming:)`. A symlink there is replaced, never written through.
    /// `mode` applies whether the file exists or not; without it, an existing file keeps its
    /// mode and a new one gets `newFileMode`.
    public func upload(beneath root: [UInt8], _ path: [UInt8], streaming file: FileContent, mode: String? = nil,
                       newFileMode: String? = nil, owner: String? = nil, group: String? = nil) throws(TunnelError) {
        try sendUpload(beneath: root, path, streaming: file, mode: mode, newFileMode: newFileMode, owner: owner,
                       group: group)
        _ = try answer(expecting: Ok.self)
    }

    /// The request half of `upload(beneath:)`: encoded (the content read from its file
    /// now), the rest not yet flushed. A file that yields fewer bytes than declared abandons
    /// the session: the agent sees the upload cut short and keeps the old file.
    func sendUpload(beneath root: [UInt8], _ path: [UInt8], streaming file: FileContent, mode: String?,
                    newFileMode: String?, owner: String?, group: String?) throws(TunnelError) {
        try require(.uploadBeneath)
        try checkUsable()
        try finishStart()   // the content streams: it is not held for the bootstrap
        var output = transport.output
        UploadBeneath(root: root, path: path, content: file, mode: mode, newFileMode: newFileMode, owner: owner,
                      group: group).encode(to: &output)
        if let failure = file.failure {
            closed = true
            _ = transport.finish(flushing: false)
            throw .transport("upload of \(show(root, path)) abandoned: \(failure)")
        }
    }

    /// Encodes `packet`, which needs extension `id`, without flushing it (`TreePipeline`).
    func sendRequest<Request: Packet>(_ packet: Request, needing id: PacketID) throws(TunnelError) {
        try require(id)
        try checkUsable()
        var output = transport.output
        packet.encode(to: &output)
    }
}

/// A listing's entries, refused whole (`.invalidAnswer`) when one could name anything but
/// a single entry of that folder: an empty name, ".", "..", one with "/" or NUL, or a name
/// given twice (a symlink, then a folder of the same name, would have the folder's content
/// written through the link).
func checkedEntries(_ entries: [DirEntry]) throws(TunnelError) -> [DirEntry] {
    var seen = Set<ByteKey>(minimumCapacity: entries.count)
    for entry in entries {
        guard isSingleName(entry.name) else {
            throw .invalidAnswer(field: "name", reason: "\(quoted(entry.name)) is not a single file name")
        }
        guard seen.insert(ByteKey(entry.name)).inserted else {
            throw .invalidAnswer(field: "name", reason: "\(quoted(entry.name)) is listed twice")
        }
        if let status = entry.status, status.type != entry.type {
            throw .invalidAnswer(field: "type", reason: "\(quoted(entry.name)) is listed as \(entry.type) and \(status.type)")
        }
    }
    return entries
}

/// `root` and `relative` joined with one "/".
public func joined(_ root: [UInt8], _ relative: [UInt8]) -> [UInt8] {
    relative.isEmpty ? root : slashJoined(root, relative)
}

/// `head`, a "/" unless `head` ends with one, and `tail`, made in one allocation: `a + [slash]
/// + b` made two arrays and copied `a` twice, for each entry of a tree (docs/performance.md).
func slashJoined(_ head: [UInt8], _ tail: [UInt8]) -> [UInt8] {
    var path: [UInt8] = []
    path.reserveCapacity(head.count + 1 + tail.count)
    path.append(contentsOf: head)
    if head.last != UInt8(ascii: "/") { path.append(UInt8(ascii: "/")) }
    path.append(contentsOf: tail)
    return path
}

/// For messages: the joined path as text (U+FFFD for bytes that are not UTF-8).
public func show(_ root: [UInt8], _ relative: [UInt8]) -> String { String(decoding: joined(root, relative), as: UTF8.self) }

/// A name from the target, quoted for a message, control characters escaped.
func quoted(_ name: [UInt8]) -> String {
    var text = "'"
    for scalar in String(decoding: name, as: UTF8.self).unicodeScalars {
        if scalar.value < 0x20 || scalar.value == 0x7f {
            text += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
        } else {
            text.unicodeScalars.append(scalar)
        }
    }
    return text + "'"
}

extension TunnelConnection {
    /// Whether requests can still be sent: false once closed, or once the stream broke (a
    /// transport that ended, a protocol error), after which every request fails.
    public var isUsable: Bool { !closed && broken == nil }
}
