#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `agents.sha256` beside the agents, written by the build (scripts/write-agent-manifest.sh,
/// run by `make` and `make install`): one line per agent,
///
///     SHA256 SIZE MTIME NAME      (MTIME: seconds.nanoseconds, as `stat -c %.9Y` prints it)
///
/// so that starting `tunnel` costs a stat per agent, not a hash. A line is believed only while
/// the file still has that size and modification time; anything else is hashed as if there
/// were no manifest (see AgentBinaries.locate), and what is sent is checked against the hash
/// anyway (Agent.content()). The manifest is a cache, never a source of trust.
struct AgentManifest {
    static let fileName = "agents.sha256"

    let folder: String
    private var lines: [String: (sha256: String, size: Int, modified: String)] = [:]

    init(folder: String) {
        self.folder = folder
        guard let content = AgentBinaries.readFile(folder + "/" + Self.fileName), content.count < 1 << 16 else { return }
        for line in content.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 3).map { String(decoding: $0, as: UTF8.self) }
            guard fields.count == 4, fields[0].count == 64, fields[0].allSatisfy(\.isHexDigit),
                  let size = Int(fields[1]), !fields[3].contains("/") else { continue }
            lines[fields[3]] = (fields[0].lowercased(), size, fields[2])
        }
    }

    /// The agent called `name` in the folder, when its line describes the file as it is now.
    func agent(named name: String) -> AgentBinaries.Agent? {
        guard let line = lines[name] else { return nil }
        let path = folder + "/" + name
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) == line.size,
              Self.modified(info) == line.modified else { return nil }
        return AgentBinaries.Agent(path: path, size: line.size, sha256: line.sha256)
    }

    /// `1795991042.010755353`: the form of `stat -c %.9Y`.
    static func modified(_ info: stat) -> String {
        #if canImport(Darwin)
        let time = info.st_mtimespec
        #else
        let time = info.st_mtim
        #endif
        let nanoseconds = String(time.tv_nsec)
        return String(time.tv_sec) + "." + String(repeating: "0", count: max(0, 9 - nanoseconds.count)) + nanoseconds
    }
}
