import CPosix

/// A passwd entry, copied out of libc's static storage.
struct UserRecord {
    var name: String
    var uid: UInt32
    var gid: UInt32
    var gecos: String
    var home: String
    var shell: String
}

/// A group entry, copied out of libc's static storage.
struct GroupRecord {
    var name: String
    var gid: UInt32
    var members: [String]
}

/// What the shadow database says about a user.
enum ShadowLookup {
    case hash(String)
    case noEntry
    case failed(Errno)
}

/// User and group lookups with the reference's semantics. /etc/passwd and /etc/shadow are
/// read by the static agent's libc (musl), /etc/group by GroupFile; when those miss,
/// `getent` (if the host has one) is asked, so that NSS-only users (LDAP, SSSD, systemd) are
/// not invisible.
enum Accounts {
    /// The user the agent runs as.
    static func agentUser() -> UserRecord? { user(id: geteuid()) }

    static func user(id: UInt32) -> UserRecord? {
        filesUser(id: id) ?? getentUser(id: id)
    }

    static func group(id: UInt32) -> GroupRecord? {
        filesGroup(id: id) ?? getentGroup(id: id)
    }

    /// By name, else — when the text is a decimal number — by id: the reference's order.
    /// The files answer both questions before getent is asked either.
    static func resolveUser(_ text: String) -> UserRecord? {
        let id = idNumber(text)
        return filesUser(named: text) ?? id.flatMap(filesUser(id:))
            ?? getentUser(named: text) ?? id.flatMap(getentUser(id:))
    }

    static func resolveGroup(_ text: String) -> GroupRecord? {
        let id = idNumber(text)
        return filesGroup(named: text) ?? id.flatMap(filesGroup(id:))
            ?? getentGroup(named: text) ?? id.flatMap(getentGroup(id:))
    }

    private static func filesUser(named name: String) -> UserRecord? {
        name.utf8.contains(0) ? nil : name.withCString { copyUser(getpwnam($0)) }
    }

    private static func filesUser(id: UInt32) -> UserRecord? { copyUser(getpwuid(id)) }

    private static func filesGroup(named name: String) -> GroupRecord? {
        name.utf8.contains(0) ? nil : GroupFile.group(named: name)
    }

    private static func filesGroup(id: UInt32) -> GroupRecord? { GroupFile.group(id: id) }

    // getent answers a number with the entry of that id, so each answer is checked to be
    // the one asked for.
    private static func getentUser(named name: String) -> UserRecord? {
        Getent.user(key: name).flatMap { $0.name.isSameText(as: name) ? $0 : nil }
    }

    private static func getentUser(id: UInt32) -> UserRecord? {
        Getent.user(key: String(id)).flatMap { $0.uid == id ? $0 : nil }
    }

    private static func getentGroup(named name: String) -> GroupRecord? {
        Getent.group(key: name).flatMap { $0.name.isSameText(as: name) ? $0 : nil }
    }

    private static func getentGroup(id: UInt32) -> GroupRecord? {
        Getent.group(key: String(id)).flatMap { $0.gid == id ? $0 : nil }
    }

    /// A uid/gid written as Python's `int()` reads it, within `uid_t`. Python maps -1 to
    /// (uid_t)-1 as well.
    static func idNumber(_ text: String) -> UInt32? {
        guard case .value(let number) = PythonInt(parsing: text, octal: false) else { return nil }
        if number == -1 { return UInt32.max }
        guard number >= 0, number <= Int64(UInt32.max) else { return nil }
        return UInt32(number)
    }

    static var ownUserID: UInt32 { getuid() }
    static var ownGroupID: UInt32 { getgid() }

    /// The names of every group whose member list names `user`, in database order.
    static func groupNames(listing user: String) -> [String] {
        GroupFile.names(listing: user)
    }

    static func shadowHash(userName: String) -> ShadowLookup {
        if userName.utf8.contains(0) { return .noEntry }
        tp_set_errno(0)
        let entry = userName.withCString { getspnam($0) }
        if let entry { return .hash(cString(entry.pointee.sp_pwdp)) }
        let error = Errno.current
        // musl says ENOENT for "no such entry" where glibc leaves errno at 0.
        let unreadable = error.code != 0 && error != .noEntry
        // glibc only reports the files' EACCES when no other NSS source follows; with one
        // (systemd, sss, ldap) the last source's answer stands, and getent gives it to us.
        if unreadable && !NSSConfiguration.hasSourcesBeyondFiles(database: "shadow") {
            return .failed(error)
        }
        if let hash = Getent.shadowHash(key: userName) { return .hash(hash) }
        return unreadable && !Getent.isAvailable ? .failed(error) : .noEntry
    }

    private static func copyUser(_ entry: UnsafeMutablePointer<passwd>?) -> UserRecord? {
        guard let entry else { return nil }
        let value = entry.pointee
        return UserRecord(name: cString(value.pw_name), uid: value.pw_uid, gid: value.pw_gid,
                          gecos: cString(value.pw_gecos), home: cString(value.pw_dir),
                          shell: cString(value.pw_shell))
    }
}

/// Owner and group names as Stat reports them (the name, or the decimal id when there is
/// none), remembered within a session, misses included: without that, every Stat of a file
/// whose owner has no name forked `getent` twice. Forgotten after every request that may
/// have changed the databases (ProcessRun, Upload).
final class AccountNames {
    /// A session sees few distinct owners: a short list beats a hash table here, and keeps
    /// hashing code out of the static binary. Past `capacity` the oldest half is dropped.
    private var users: [(id: UInt32, name: String)] = []
    private var groups: [(id: UInt32, name: String)] = []
    private static let capacity = 256

    func user(_ uid: UInt32) -> String {
        AccountNames.name(of: uid, in: &users) { Accounts.user(id: $0)?.name }
    }

    func group(_ gid: UInt32) -> String {
        AccountNames.name(of: gid, in: &groups) { Accounts.group(id: $0)?.name }
    }

    func forget() {
        users.removeAll()
        groups.removeAll()
    }

    private static func name(of id: UInt32, in known: inout [(id: UInt32, name: String)],
                             lookUp: (UInt32) -> String?) -> String {
        if let entry = known.first(where: { $0.id == id }) { return entry.name }
        let name = lookUp(id) ?? String(id)
        if known.count >= capacity { known.removeFirst(capacity / 2) }
        known.append((id, name))
        return name
    }
}

/// What /etc/nsswitch.conf names as sources for a database.
enum NSSConfiguration {
    /// True when the database's line names a source other than `files`/`compat` (a
    /// bracketed action like `[NOTFOUND=return]` is no source; `#` starts a comment).
    static func hasSourcesBeyondFiles(database: String) -> Bool {
        let label = Array((database + ":").utf8)
        var lines = LineReader(SystemPath("/etc/nsswitch.conf")!)
        while let line = lines.next() {
            let words = whitespaceSeparatedWords(line)
            guard let first = words.first, field(line, first, equals: label) else { continue }
            for word in words.dropFirst() {
                let lead = line[word.lowerBound]
                if lead == UInt8(ascii: "#") { break }
                if lead == UInt8(ascii: "[") { continue }
                if !field(line, word, equals: Array("files".utf8)) && !field(line, word, equals: Array("compat".utf8)) {
                    return true
                }
            }
            return false
        }
        return false
    }

    private static func whitespaceSeparatedWords(_ line: UnsafeRawBufferPointer) -> [Range<Int>] {
        var words: [Range<Int>] = []
        var start = -1
        for index in 0...line.count {
            let blank = index == line.count || line[index] == UInt8(ascii: " ") || line[index] == UInt8(ascii: "\t")
            if blank && start >= 0 {
                words.append(start..<index)
                start = -1
            } else if !blank && start < 0 {
                start = index
            }
        }
        return words
    }
}

/// A C string as Swift text ("" for NULL; invalid UTF-8 repaired).
func cString(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

func cString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    cString(UnsafePointer(pointer))
}
