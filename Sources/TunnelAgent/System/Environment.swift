import CPosix

/// The agent's own environment.
enum Environment {
    /// The value of `key`; a key holding `=` or a NUL byte names no variable.
    static func value(of key: String) -> String? {
        let keyBytes = Array(key.utf8)
        if keyBytes.contains(0) || keyBytes.contains(UInt8(ascii: "=")) { return nil }
        var index = 0
        while let entry = tp_environ_entry(index) {
            index += 1
            // Compare "key=" against the start of the entry without copying the entry.
            var matches = true
            var position = 0
            while position < keyBytes.count {
                if UInt8(bitPattern: entry[position]) != keyBytes[position] { matches = false; break }
                position += 1
            }
            if matches && entry[position] == CChar(UInt8(ascii: "=")) {
                return cString(entry + position + 1)
            }
        }
        return nil
    }
}

/// A child's environment, as `KEY=VALUE` entries (RunEx).
extension Environment {
    /// The agent's own, entry by entry.
    static func agentEntries() -> [[UInt8]] {
        var entries: [[UInt8]] = []
        var index = 0
        while let entry = tp_environ_entry(index) {
            index += 1
            entries.append(Array(UnsafeRawBufferPointer(start: entry, count: strlen(entry))))
        }
        return entries
    }

    /// As `su - user` sets it: HOME, USER, LOGNAME, SHELL, and PATH as Debian's login.defs
    /// gives root (ENV_SUPATH) and everyone else (ENV_PATH); TERM is kept.
    static func loginEntries(for user: UserRecord) -> [[UInt8]] {
        let path = user.uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                 : "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
        var entries = [("HOME", user.home), ("SHELL", user.shell.isEmpty ? "/bin/sh" : user.shell),
                       ("USER", user.name), ("LOGNAME", user.name), ("PATH", path)]
            .map { Array(($0.0 + "=" + $0.1).utf8) }
        if let term = value(of: "TERM") { entries.append(Array(("TERM=" + term).utf8)) }
        return entries
    }

    /// HOME, USER, LOGNAME and SHELL for `uid`, as settings: from its passwd entry, or for a
    /// uid without one (a bare number), HOME=/ and the number as the name, as containers do.
    static func identityEntries(for uid: UInt32) -> [[UInt8]] {
        let user = Accounts.user(id: uid) ?? UserRecord(name: "\(uid)", uid: uid, gid: uid, gecos: "", home: "/", shell: "")
        return [("HOME", user.home), ("USER", user.name), ("LOGNAME", user.name),
                ("SHELL", user.shell.isEmpty ? "/bin/sh" : user.shell)]
            .map { Array(($0.0 + "=" + $0.1).utf8) }
    }

    /// `entries` with `settings` applied in order: `KEY=VALUE` sets (replacing), `KEY` alone removes.
    static func applying(_ settings: [[UInt8]], to entries: [[UInt8]]) -> [[UInt8]] {
        var result = entries
        for setting in settings {
            let key = name(of: setting)
            result.removeAll { name(of: $0) == key }
            if setting.count > key.count { result.append(setting) }
        }
        return result
    }

    /// The value of `key` among `entries`.
    static func value(of key: String, in entries: [[UInt8]]) -> [UInt8]? {
        let wanted = Array(key.utf8)
        guard let entry = entries.last(where: { name(of: $0) == wanted[...] }) else { return nil }
        return Array(entry[(wanted.count + 1)...])
    }

    /// The part before the first `=`.
    static func name(of entry: [UInt8]) -> ArraySlice<UInt8> {
        entry[..<(entry.firstIndex(of: UInt8(ascii: "=")) ?? entry.endIndex)]
    }
}
