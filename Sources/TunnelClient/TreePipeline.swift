/// Tree transfers without a round trip per entry: requests are written ahead of their
/// answers, within a bounded window, and the agent answers them in order (docs/protocol.md,
/// "Pipelining"). `upload -r` and `download -r` send everything through one of these.
///
/// Each request comes with what to do with its answer; that runs when the answer is read,
/// which is when the window is full, or at `receiveNext`/`finish`. A handler may throw (a
/// local write failed): the answer has been read whole all the same, the stream stays in
/// step, and `receiveNext` rethrows.
///
/// Why it cannot deadlock: the agent handles one request at a time and writes its answer
/// before reading the next. While the client writes, the agent must never be stuck writing
/// answers nobody reads, and while the client reads, it must never be stuck on requests we
/// have not sent whole. So the window bounds the requests not yet answered, by count and by
/// an estimate of their bytes (a request's paths, and its refusal, which repeats them): both
/// always fit in a pipe's buffer (64 KiB on Linux). Only content travels beyond that, and
/// the other side is always reading it: an upload's content is consumed by the agent, a
/// download's by `receiveNext`.
public final class TreePipeline {
    public let connection: TunnelConnection
    /// At most this many requests unanswered.
    public let window: Int
    /// At most this many estimated bytes of requests and refusals unanswered.
    static let byteWindow = 24 * 1024

    private var waiting: [Waiting] = []
    private var first = 0
    private var bytesWaiting = 0

    private struct Waiting {
        var cost: Int
        var receive: () throws -> Void
    }

    public init(_ connection: TunnelConnection, window: Int = 64) {
        self.connection = connection
        self.window = max(1, window)
    }

    /// How many requests are sent and not yet answered.
    public var unanswered: Int { waiting.count - first }

    /// Reads the oldest unanswered request's answer and runs its handler.
    public func receiveNext() throws {
        guard first < waiting.count else { return }
        let next = waiting[first]
        waiting[first].receive = {}
        first += 1
        bytesWaiting -= next.cost
        if first == waiting.count || first >= 256 {
            waiting.removeFirst(first)
            first = 0
        }
        try next.receive()
    }

    /// Reads every answer still due. A handler's error is rethrown once all are read.
    public func finish() throws {
        var failure: Error?
        while unanswered > 0 {
            do { try receiveNext() } catch { if failure == nil { failure = error } }
        }
        if let failure { throw failure }
    }

    /// A file's content to `path` below `root`, as `TunnelConnection.upload(beneath:)`;
    /// `then` hears the agent's answer (nil: done).
    public func upload(beneath root: [UInt8], _ path: [UInt8], streaming file: FileContent, mode: String? = nil,
                       newFileMode: String? = nil, owner: String? = nil, group: String? = nil,
                       then: @escaping (TunnelError?) throws -> Void) throws {
        try makeRoom(cost(root, path))
        try connection.sendUpload(beneath: root, path, streaming: file, mode: mode, newFileMode: newFileMode,
                                  owner: owner, group: group)
        let named = root + [UInt8(ascii: "/")] + path
        expectOk(cost(root, path)) { error in try then(error?.naming(named)) }
    }

    /// `TunnelConnection.makeDirectory(beneath:)`, pipelined.
    public func makeDirectory(beneath root: [UInt8], _ path: [UInt8], mode: String? = nil,
                              then: @escaping (TunnelError?) throws -> Void) throws {
        try makeRoom(cost(root, path))
        try connection.sendRequest(CreateBeneath(root: root, path: path, mode: mode), needing: .createBeneath)
        expectOk(cost(root, path), then)
    }

    /// `TunnelConnection.symlink(beneath:)`, pipelined.
    public func symlink(beneath root: [UInt8], _ path: [UInt8], to target: [UInt8],
                        then: @escaping (TunnelError?) throws -> Void) throws {
        try makeRoom(cost(root, path, target))
        try connection.sendRequest(CreateBeneath(root: root, path: path, linkTarget: target), needing: .createBeneath)
        expectOk(cost(root, path, target), then)
    }

    /// SetMetadataBeneath, pipelined: the change of the entry at `path` below `root` (empty:
    /// the root itself), never through a symlink there or in the folders between. What a
    /// tree changes attributes with, so that a folder swapped for a symlink after its
    /// listing fails the change instead of leading it outside the tree.
    public func setMetadata(beneath root: [UInt8], _ path: [UInt8], mode: String? = nil, owner: String? = nil,
                            group: String? = nil, mtime: Int64? = nil,
                            then: @escaping (TunnelError?) throws -> Void) throws {
        try makeRoom(cost(root, path))
        try connection.sendRequest(SetMetadataBeneath(root: root, path: path, mode: mode, owner: owner, group: group,
                                                      mtime: mtime), needing: .setMetadataBeneath)
        expectOk(cost(root, path), then)
    }

    /// RemoveBeneath, pipelined: the entry at `path` below `root` (a symlink itself; with
    /// `recursive`, a folder and everything below it), never through a symlink in the
    /// folders between, for the same reason.
    public func remove(beneath root: [UInt8], _ path: [UInt8], recursive: Bool = false,
                       then: @escaping (TunnelError?) throws -> Void) throws {
        try makeRoom(cost(root, path))
        try connection.sendRequest(RemoveBeneath(root: root, path: path, recursive: recursive), needing: .removeBeneath)
        expectOk(cost(root, path), then)
    }

    /// `TunnelConnection.status(_:followLinks:sha512:)`, pipelined: `then` hears the status,
    /// nil when there is no such file, or the refusal.
    public func status(_ path: [UInt8], sha512: Bool = false,
                       then: @escaping (Result<StatResult?, TunnelError>) throws -> Void) throws {
        try makeRoom(cost(path))
        try connection.sendRequest(StatPath(path: path, followLinks: false, sha512sum: sha512), needing: .statPath)
        let connection = self.connection
        enqueue(cost(path)) {
            let result: Result<StatResult?, TunnelError>
            do throws(TunnelError) {
                result = .success(try connection.answer(expecting: StatResult.self))
            } catch .remoteOSError(let error) where error.errno == 2 {
                result = .success(nil)
            } catch {
                if !connection.isUsable { throw error }
                result = .failure(error)
            }
            try then(result)
        }
    }

    /// `TunnelConnection.resolveUser(nil)`, pipelined: `then` hears the agent's own user's
    /// name (a tree operation asks it with its root's lstats, not in a round trip of its own).
    public func resolveOwnUser(then: @escaping (Result<String, TunnelError>) throws -> Void) throws {
        try makeRoom(cost())
        try connection.checkUsable()
        var output = connection.transport.output
        ResolveUser(user: nil).encode(to: &output)
        let connection = self.connection
        enqueue(cost()) {
            let result: Result<String, TunnelError>
            do throws(TunnelError) {
                result = .success(try connection.answer(expecting: ResolveResult.self).value)
            } catch {
                if !connection.isUsable { throw error }
                result = .failure(error)
            }
            try then(result)
        }
    }

    /// `TunnelConnection.read(beneath:)`, pipelined. When its answer arrives, `then` gets a
    /// `BeneathAnswer` and reads it (a file's content to a sink of its choosing); whatever it
    /// leaves unread is read and dropped afterwards.
    public func read(beneath root: [UInt8], _ path: [UInt8], withStatus: Bool = false,
                     then: @escaping (BeneathAnswer) throws -> Void) throws {
        try makeRoom(cost(root, path))
        try connection.sendRead(beneath: root, path, withStatus: withStatus)
        let connection = self.connection
        enqueue(cost(root, path)) {
            let answer = BeneathAnswer(connection: connection, root: root, path: path)
            defer { answer.drain() }
            try then(answer)
        }
    }

    // MARK: The window

    private func makeRoom(_ cost: Int) throws {
        while unanswered > 0 && (unanswered >= window || bytesWaiting + cost > Self.byteWindow) {
            try receiveNext()
        }
    }

    private func expectOk(_ cost: Int, _ then: @escaping (TunnelError?) throws -> Void) {
        let connection = self.connection
        enqueue(cost) {
            do throws(TunnelError) {
                _ = try connection.answer(expecting: Ok.self)
            } catch {
                // A broken stream ends everything: no later answer can be read.
                if !connection.isUsable { throw error }
                return try then(error)
            }
            try then(nil)
        }
    }

    private func enqueue(_ cost: Int, _ receive: @escaping () throws -> Void) {
        waiting.append(Waiting(cost: cost, receive: receive))
        bytesWaiting += cost
    }

    /// A request's share of the window: its paths, twice (a refusal names them again), and
    /// room for the fixed fields and a message.
    private func cost(_ parts: [UInt8]...) -> Int { parts.reduce(512) { $0 + 2 * $1.count } }
}

/// The answer to a pipelined ReadBeneath, read once by its handler.
public final class BeneathAnswer {
    let connection: TunnelConnection
    /// The request's root and path (for messages).
    public let root: [UInt8]
    public let path: [UInt8]
    private var read = false

    init(connection: TunnelConnection, root: [UInt8], path: [UInt8]) {
        self.connection = connection
        self.root = root
        self.path = path
    }

    /// What `TunnelConnection.read(beneath:content:)` returns; only once.
    public func content(into consume: ((UnsafeRawBufferPointer) -> Bool)? = nil) throws(TunnelError) -> EntryContent {
        precondition(!read, "a pipelined answer is read once")
        read = true
        return try connection.receiveRead(beneath: root, path, content: consume)
    }

    /// Reads and drops the answer when its handler did not (it failed before).
    func drain() {
        if !read { _ = try? content() }
    }
}
