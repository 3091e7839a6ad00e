#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The static agents the client can send to a target, one per machine, with the SHA-256 that
/// names a cached copy. Found beside the `tunnel` executable (`dist/`), in
/// `../libexec/tunnel-dispatcher/` from it (`make install`), or in `$TUNNEL_AGENT_DIR`.
///
/// Starting must not cost a hash of every agent: the build writes their hashes beside them
/// (`agents.sha256`, see AgentManifest), and `locate` only stats the files. An agent the
/// manifest does not describe as it is now (missing, another size or time: a `swift build`
/// from a clean clone, agents copied by hand) is hashed here instead. What is sent is read,
/// and checked against that hash, only when a target asks for it.
public struct AgentBinaries: Sendable {
    /// One agent binary.
    public struct Agent: Sendable {
        /// Where it was read from.
        public let path: String
        /// Its size in bytes, as the bootstrap checks a cached copy.
        public let size: Int
        /// Its SHA-256 in hex: the name of its cached copy on a target.
        public let sha256: String
        private let given: [UInt8]?

        /// An agent at `path` with that size and hash (its content is read when needed).
        public init(path: String, size: Int, sha256: String) {
            (self.path, self.size, self.sha256, given) = (path, size, sha256, nil)
        }

        /// An agent held in memory (a program that carries its own).
        public init(path: String, content: [UInt8]) {
            (self.path, size, sha256, given) = (path, content.count, SHA256.hex(content), content)
        }

        /// The whole static binary, as sent: read from `path` now, and only when it is still
        /// the file `sha256` names (it may have been rebuilt since `locate`).
        public func content() throws(TunnelError) -> [UInt8] {
            if let given { return given }
            guard let content = AgentBinaries.readFile(path) else {
                throw .transport("cannot read the agent \(path) any more")
            }
            guard content.count == size, SHA256.hex(content) == sha256 else {
                throw .transport("the agent \(path) changed while tunnel was starting (rebuilt?): run it again")
            }
            return content
        }
    }

    /// The machines there are agents for, as the bootstrap names them (see bootstrap.sh for
    /// the `uname -m` values each serves), in the order of the bootstrap's arguments.
    public static let architectures = ["x86_64", "aarch64", "armv7", "i686", "riscv64"]

    /// The agents by machine (`x86_64`, `aarch64`, ...); any may be missing.
    public let agents: [String: Agent]

    /// Agents given directly (a program that carries its own).
    public init(agents: [String: Agent]) { self.agents = agents }

    /// Finds the agents in the first folder that holds any. Throws when none does.
    public static func locate() throws(TunnelError) -> AgentBinaries {
        let folders = searchFolders()
        for folder in folders {
            let manifest = AgentManifest(folder: folder)
            var found: [String: Agent] = [:]
            for architecture in architectures {
                for name in fileNames(for: architecture) {
                    if let agent = manifest.agent(named: name) ?? hashed(folder + "/" + name) {
                        found[architecture] = agent
                        break
                    }
                }
            }
            if !found.isEmpty { return AgentBinaries(agents: found) }
        }
        throw .transport("no agent to send: no tunnel-dispatcher-ARCH (\(architectures.joined(separator: ", "))) in "
                         + folders.joined(separator: ", ") + " (set TUNNEL_AGENT_DIR)")
    }

    /// `tunnel-dispatcher` alone is the x86_64 agent: what `make` puts in dist/.
    static func fileNames(for architecture: String) -> [String] {
        architecture == "x86_64" ? ["tunnel-dispatcher-x86_64", "tunnel-dispatcher"] : ["tunnel-dispatcher-" + architecture]
    }

    /// The agent at `path` hashed here (no manifest describes it); nil when there is none.
    static func hashed(_ path: String) -> Agent? {
        readFile(path).map { content in Agent(path: path, size: content.count, sha256: SHA256.hex(content)) }
    }

    static func searchFolders() -> [String] {
        var folders: [String] = []
        if let variable = getenv("TUNNEL_AGENT_DIR") { return [String(cString: variable)] }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if length > 0 {
            let executable = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let folder = String(executable[..<(executable.lastIndex(of: "/") ?? executable.startIndex)])
            folders.append(folder)
            folders.append(folder + "/../libexec/tunnel-dispatcher")
        }
        return folders
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        var content: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 { return nil }
            if got == 0 { return content }
            content.append(contentsOf: chunk[0..<got])
        }
    }
}
