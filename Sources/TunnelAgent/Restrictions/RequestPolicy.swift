import TunnelWire

/// Which option refused a request; its name is what the refusal's message quotes.
enum Restriction {
    case readOnly, root, deny, allow

    var optionName: String {
        switch self {
        case .readOnly: return "--read-only"
        case .root: return "--root"
        case .deny: return "--deny"
        case .allow: return "--allow"
        }
    }
}

/// What a restricted agent serves (`--read-only`, `--allow`, `--deny`, `--root`): a decision
/// per request id, made before any of the request's fields is read.
struct RequestPolicy {
    var readOnly = false
    /// `--allow`: only these (and the requests that are always served).
    var allowed: [PacketID]? = nil
    /// `--deny`.
    var denied: [PacketID] = []
    /// `--root`: no process may run, it could leave the directory.
    var rooted = false

    /// The restriction that refuses `id`, or nil when it is served.
    func refusal(of id: PacketID) -> Restriction? {
        if RequestPolicy.isAlwaysServed(id) { return nil }
        if readOnly && RequestPolicy.changesHost(id) { return .readOnly }
        if rooted && (id == .processRun || id == .runEx || id == .runTerminal) { return .root }
        if denied.contains(id) { return .deny }
        if let allowed, !allowed.contains(id) { return .allow }
        return nil
    }

    /// CheckAlive, Exit and Hello keep the session working; Input, CloseInput, Signal and WindowSize
    /// belong to a RunEx (after it they are read and ignored, never answered).
    static func isAlwaysServed(_ id: PacketID) -> Bool {
        switch id {
        case .checkAlive, .exit, .hello, .input, .closeInput, .signal, .windowSize: return true
        default: return false
        }
    }

    /// Whether a request can change the host. Exhaustive on purpose: a new packet does not
    /// compile until it is classified here, so a new request that writes is never served
    /// by `--read-only` by oversight. Also the session's rule for dropping its owner names;
    /// not inlined into its two callers: one copy of the switch.
    @inline(never)
    static func changesHost(_ id: PacketID) -> Bool {
        switch id {
        case .processRun, .upload, .runEx, .runTerminal, .makeDir, .remove, .rename, .setMetadata, .symlink,
             .uploadBeneath, .createBeneath, .setMetadataBeneath, .removeBeneath:
            return true
        case .checkAlive, .exit, .stat, .download, .resolveUser, .resolveGroup, .queryUser, .queryGroup,
             .getenv, .hello, .input, .closeInput, .signal, .windowSize, .listDir, .readLink, .statPath, .readBeneath,
             .statNumbers:
            return false
        case .ok, .ack, .osError, .invalidField, .processCompleted, .processError, .statResult,
             .resolveResult, .downloadResult, .userEntry, .groupEntry, .environVar, .helloResult,
             .output, .runFinished, .dirEntries, .linkTarget, .failure, .statNumbersResult:
            return false   // answers, never requests
        }
    }

    /// The request named as docs/protocol.md names it ("Upload", "statpath"), case-insensitive.
    static func request(named name: String) -> PacketID? {
        for id in PacketID.allCases where id.isRequest && isSameASCIIIgnoringCase(id.requestName, name) {
            return id
        }
        return nil
    }

    /// Byte-wise, folding A-Z only: no Unicode case tables in the static agent.
    private static func isSameASCIIIgnoringCase(_ a: String, _ b: String) -> Bool {
        func folded(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }
        return a.utf8.map(folded).elementsEqual(b.utf8.map(folded))
    }
}

extension PacketID {
    /// The name docs/protocol.md uses ("Upload", not the reference's class name "PacketUpload").
    var requestName: String {
        // The 23 originals' names carry the reference's "Packet" prefix, the extensions' do not.
        guard rawValue < PacketID.hello.rawValue else { return name }
        return String(decoding: name.utf8.dropFirst(6), as: UTF8.self)
    }
}
