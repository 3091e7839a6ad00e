import TunnelWire

/// The one answer to a request. Handlers return it; the session alone encodes and sends
/// it, exactly once per request (like sftp-server's `send_status`). The answers that are
/// sequences (a run's Output packets, a listing's pages, a durable upload group's answers)
/// are described here and sent by the session too: no handler is given a writer.
indirect enum Answer {
    case ok
    case ack
    case processCompleted(ProcessCompleted<Spool>)
    case statResult(StatResult)
    case resolveResult(ResolveResult)
    /// Content read to its end first (small files, devices, /proc).
    case downloadedContent(Spool)
    /// A large regular file, streamed with the size it had when opened.
    case downloadedFile(VerifiedFileContent)
    case userEntry(UserEntry)
    case groupEntry(GroupEntry)
    case environVar(EnvironVar)
    case refused(Refusal)
    // Extensions
    case helloResult(HelloResult)
    /// The end of a RunEx (its captured outputs, or none when streamed).
    case runFinished(RunFinished<Spool>)
    /// A command to run (ProcessRun, RunEx), supervised by the session itself
    /// (Session/RunSupervisor.swift): ProcessCompleted, or Output… RunFinished, or a refusal.
    case run(RunPlan)
    /// DirEntries pages, sent as the directory is read.
    case directoryListing(DirectoryListing)
    case linkTarget(LinkTarget)
    case statNumbers(StatNumbersResult)
    /// Durable mode: answered, in order, when its group completes (PendingUploads.answers).
    case uploadPending

    /// A command to run: answered by `Session.supervise` when it ends.
    var isRun: Bool {
        if case .run = self { return true }
        return false
    }
}

/// Why a request is answered with one of the protocol's error packets instead of its result.
/// Handlers throw it; the session turns it into the packet.
enum Refusal: Error {
    /// `InvalidField(field, message)`.
    case invalidField(String, String)
    /// `OSError(errno, strerror, msg)`, where `msg` names `path` when Python's would.
    case osError(Errno, path: String?)
    /// `ProcessError(message)`.
    case processError(String)
    /// A child that could not start, at `step` (its folder, its program, its setup): the
    /// originals' OSError, and a Failure that names the step (Session/StructuredFailure.swift).
    case childNotStarted(FailureStep, Errno, path: String?)
    /// A request the agent's options refuse (--read-only, --allow, --deny, --root; see
    /// Restrictions/), `reason` naming the option: the originals' OSError (EACCES, fora's
    /// client raises it), and a Failure of step `policy` for the extensions.
    case refusedByPolicy(String)
}

/// The state a session keeps between requests, handed to every handler.
final class SessionContext {
    /// Owner and group names for Stat, remembered within the session.
    let accountNames = AccountNames()
    /// The agent's `--durable`, or what the client chose in Hello.
    var durability: Durability
    /// Durable mode's group of uploads not yet synced and answered.
    let pendingUploads = PendingUploads()
    /// What file contents are read into (Download, ReadBeneath): one spool for the session,
    /// whose memory stays mapped from one file to the next (at most Spool.memoryLimit).
    private var sharedContentSpool = Spool(limit: DownloadHandler.readToEndLimit)
    /// What listings (ListDir, ReadBeneath) read their folder's entries into.
    private var sharedListingStorage = ListingStorage()

    init(durability: Durability) {
        self.durability = durability
    }

    /// The session's content spool, emptied; a new one while an answer still holds it (the
    /// session sends each answer before it reads the next request, so that is a safeguard).
    func contentSpool() -> Spool {
        guard isKnownUniquelyReferenced(&sharedContentSpool) else { return Spool(limit: DownloadHandler.readToEndLimit) }
        sharedContentSpool.empty()
        return sharedContentSpool
    }

    /// The session's listing storage; a new one while a listing still holds it (one is
    /// answered whole before the next request is read, so that is a safeguard too).
    func listingStorage() -> ListingStorage {
        isKnownUniquelyReferenced(&sharedListingStorage) ? sharedListingStorage : ListingStorage()
    }
}

/// One request family: how its fields are read, and how it is answered. A handler file
/// holds one of these, readable top to bottom; the system layer beneath does the rest.
protocol RequestHandler {
    associatedtype Request
    /// Reads the request's fields after its id. Large payloads are streamed where they go.
    /// Only a broken stream throws; a bad value is reported to `input.reportInvalid` and
    /// answered as InvalidField without calling `answer`.
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> Request
    /// The answer to a request whose fields were read without complaint.
    static func answer(_ request: Request, in context: SessionContext) throws(Refusal) -> Answer
}

extension RequestHandler where Request: DecodablePacket {
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> Request {
        try Request.decodeFields(from: &input)
    }
}

/// A `mode` field: octal as Python's int(text, 8) reads it, or Upload's InvalidField.
func modeField(_ text: String) throws(Refusal) -> UInt32 {
    guard case .value(let value) = PythonInt(parsing: text, octal: true), value >= 0, value <= Int64(UInt32.max) else {
        throw .invalidField("mode", octalFormatMessage(text))
    }
    return UInt32(value)
}

/// An extension's `bytes` path as the kernel takes it, or the InvalidField a NUL byte earns.
/// Not inlined: a dozen handlers share one copy.
@inline(never)
func systemPath(bytes: [UInt8], field: String) throws(Refusal) -> SystemPath {
    Restrictions.active?.notePath(bytes, field: field)   // --log
    guard let path = SystemPath(bytes: bytes) else { throw .invalidField(field, nulByteMessage) }
    return path
}

/// A path field as the kernel takes it, or the InvalidField a NUL byte earns.
func systemPath(_ text: String, field: String) throws(Refusal) -> SystemPath {
    Restrictions.active?.notePath(Array(text.utf8), field: field)   // --log
    guard let path = SystemPath(text) else { throw .invalidField(field, nulByteMessage) }
    return path
}

extension Refusal {
    /// A child that could not start, as the reference reports each step (ProcessRun and
    /// RunEx alike): the folder or the program named, or preexec_fn's ProcessError. RunEx
    /// (`withErrno`) gives the preparing step's errno too, which ProcessError cannot carry:
    /// the client then says why the switch of identity failed.
    static func startFailure(_ failure: SpawnFailure, of plan: ProcessPlan, withErrno: Bool) -> Refusal {
        switch failure.step {
        case .changingDirectory: return .childNotStarted(.changeDirectory, failure.error, path: plan.cwdName)
        case .preparing where withErrno && failure.error.code != 0:
            return .childNotStarted(.prepareChild, failure.error, path: nil)
        case .preparing: return .processError("Exception occurred in preexec_fn.")
        case .executing: return .childNotStarted(.execute, failure.error, path: plan.programName)
        case .settingUp: return .childNotStarted(.system, failure.error, path: nil)
        case .openingTerminal: return .childNotStarted(.system, failure.error, path: failure.path)
        }
    }

    /// The usual refusal for a path that failed: a missing file is an InvalidField of
    /// `field` (as the reference answers Stat and Download), anything else an OSError.
    static func missingOrOSError(_ error: Errno, path: String, field: String) -> Refusal {
        if error == .noEntry { return .invalidField(field, error.pythonMessage(path: path)) }
        return .osError(error, path: path)
    }
}
