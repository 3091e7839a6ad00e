import CPosix
import TunnelWire

/// The fallback for users and groups that only NSS knows (LDAP, SSSD, systemd): musl reads
/// the files alone, so when they miss, the host's own `getent` is asked. Never a shell:
/// argv only, and its output is parsed strictly (a malformed line counts as a miss).
enum Getent {
    static func user(key: String) -> UserRecord? {
        run(database: "passwd", key: key).flatMap(user(fromOutput:))
    }

    static func group(key: String) -> GroupRecord? {
        run(database: "group", key: key).flatMap(group(fromOutput:))
    }

    static func shadowHash(key: String) -> String? {
        run(database: "shadow", key: key).flatMap(shadowHash(fromOutput:))
    }

    // The parsers, on getent's raw output (the fuzzer feeds them directly).

    static func user(fromOutput output: [UInt8]) -> UserRecord? {
        guard let fields = firstLineFields(output, count: 7),
              let uid = decimalID(fields[2]), let gid = decimalID(fields[3]) else { return nil }
        return UserRecord(name: fields[0], uid: uid, gid: gid, gecos: fields[4], home: fields[5], shell: fields[6])
    }

    static func group(fromOutput output: [UInt8]) -> GroupRecord? {
        guard let fields = firstLineFields(output, count: 4), let gid = decimalID(fields[2]) else { return nil }
        let members = byteFields(Array(fields[3].utf8), separator: ",").filter { !$0.isEmpty }
            .map { String(decoding: $0, as: UTF8.self) }
        return GroupRecord(name: fields[0], gid: gid, members: members)
    }

    static func shadowHash(fromOutput output: [UInt8]) -> String? {
        firstLineFields(output, count: 9)?[1]
    }

    static var isAvailable: Bool { findProgram() != nil }

    /// Where `getent` is on PATH, looked up once per agent.
    nonisolated(unsafe) private static var program: String?? = nil

    private static func findProgram() -> String? {
        if let known = program { return known }
        var found: String? = nil
        for directory in byteFields(Array(cString(getenv("PATH")).utf8), separator: ":") where !directory.isEmpty {
            let candidate = String(decoding: directory, as: UTF8.self) + "/getent"
            if candidate.withCString({ access($0, X_OK) }) == 0 {
                found = candidate
                break
            }
        }
        program = .some(found)
        return found
    }

    /// `getent DATABASE KEY`'s output when it succeeded.
    private static func run(database: String, key: String) -> [UInt8]? {
        // A key that could be read as an option or that could not be one line of output.
        guard !key.isEmpty, key.utf8.first != UInt8(ascii: "-"), !key.utf8.contains(where: { $0 == 0 || $0 == 10 || $0 == 58 }),
              let getent = findProgram() else { return nil }
        let plan = ProcessPlan(command: [getent, database, key], stdin: nil, captureOutput: true, cwd: nil)
        return RunSupervisor.outputOfHelper(plan)?.contents(limit: 65536)
    }

    /// The first line's `:`-separated fields, when there are exactly `count` and the first
    /// (the name) is not empty.
    private static func firstLineFields(_ output: [UInt8], count: Int) -> [String]? {
        let line = byteFields(output, separator: "\n")[0]
        let fields = byteFields(line, separator: ":").map { String(decoding: $0, as: UTF8.self) }
        guard fields.count == count, !fields[0].isEmpty else { return nil }
        return fields
    }

    /// `bytes` cut at every `separator`, empty pieces kept (so never an empty list). By
    /// hand: the generic `split` costs kilobytes of the static binary.
    private static func byteFields(_ bytes: [UInt8], separator: Unicode.Scalar) -> [[UInt8]] {
        var fields: [[UInt8]] = [[]]
        for byte in bytes {
            if byte == UInt8(separator.value) { fields.append([]) } else { fields[fields.count - 1].append(byte) }
        }
        return fields
    }

    private static func decimalID(_ text: String) -> UInt32? {
        Array(text.utf8).withUnsafeBytes { TunnelAgent.decimalID($0, 0..<$0.count) }
    }
}
