import CPosix
import TunnelWire

/// The fallback for users and groups that only NSS knows (LDAP, SSSD, systemd): musl reads
/// the files alone, so when they miss, the host's own `getent` is asked. Never a shell:
/// argv only, and its output is parsed strictly (a malformed line counts as a miss).
enum Getent {
    static func user(key: String) -> UserRecord? {
        guard let fields = lookup(database: "passwd", key: key, fieldCount: 7),
              let uid = decimalID(fields[2]), let gid = decimalID(fields[3]) else { return nil }
        return UserRecord(name: fields[0], uid: uid, gid: gid, gecos: fields[4], home: fields[5], shell: fields[6])
    }

    static func group(key: String) -> GroupRecord? {
        guard let fields = lookup(database: "group", key: key, fieldCount: 4),
              let gid = decimalID(fields[2]) else { return nil }
        let members = fields[3].isEmpty ? [] : fields[3].split(separator: ",").map { String($0) }
        return GroupRecord(name: fields[0], gid: gid, members: members)
    }

    static func shadowHash(key: String) -> String? {
        lookup(database: "shadow", key: key, fieldCount: 9)?[1]
    }

    static var isAvailable: Bool { findProgram() != nil }

    /// Where `getent` is on PATH, looked up once per agent.
    nonisolated(unsafe) private static var program: String?? = nil

    private static func findProgram() -> String? {
        if let known = program { return known }
        var found: String? = nil
        for directory in cString(getenv("PATH")).split(separator: ":") where !directory.isEmpty {
            let candidate = String(directory) + "/getent"
            if candidate.withCString({ access($0, X_OK) }) == 0 {
                found = candidate
                break
            }
        }
        program = .some(found)
        return found
    }

    private static func lookup(database: String, key: String, fieldCount: Int) -> [String]? {
        // A key that could be read as an option or that could not be one line of output.
        guard !key.isEmpty, !key.hasPrefix("-"), !key.utf8.contains(where: { $0 == 0 || $0 == 10 || $0 == 58 }),
              let getent = findProgram() else { return nil }
        let plan = ProcessPlan(command: [getent, database, key], stdin: nil, captureOutput: true, cwd: nil)
        guard case .exited(let status, let stdout, _) = runProcess(plan), status == 0 else { return nil }
        let text = String(decoding: stdout.contents(limit: 65536), as: UTF8.self)
        guard let line = text.split(separator: "\n", omittingEmptySubsequences: false).first else { return nil }
        let fields = line.split(separator: ":", omittingEmptySubsequences: false).map { String($0) }
        guard fields.count == fieldCount, !fields[0].isEmpty else { return nil }
        return fields
    }

    private static func decimalID(_ text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return UInt32(text)
    }
}
