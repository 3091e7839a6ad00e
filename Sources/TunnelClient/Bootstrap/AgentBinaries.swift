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
public struct AgentBinaries: Sendable {
    /// One agent binary.
    public struct Agent: Sendable {
        /// Where it was read from.
        public let path: String
        /// The whole static binary, as sent.
        public let content: [UInt8]
        /// Its SHA-256 in hex: the name of its cached copy on a target.
        public let sha256: String
    }

    /// The machines the agent is built for, as `uname -m` names them on Linux.
    public static let architectures = ["x86_64", "aarch64", "armv7", "i686", "riscv64"]

    /// The agents by machine (`x86_64`, `aarch64`).
    public let agents: [String: Agent]

    /// Agents given directly (a program that carries its own).
    public init(agents: [String: Agent]) { self.agents = agents }

    /// Reads the agents from the first folder that holds any. Throws when none does.
    public static func locate() throws(TunnelError) -> AgentBinaries {
        let folders = searchFolders()
        for folder in folders {
            var found: [String: Agent] = [:]
            for architecture in architectures {
                for name in fileNames(for: architecture) {
                    if let content = readFile(folder + "/" + name) {
                        found[architecture] = Agent(path: folder + "/" + name, content: content, sha256: SHA256.hex(content))
                        break
                    }
                }
            }
            if !found.isEmpty { return AgentBinaries(agents: found) }
        }
        throw .transport("no agent to send: tunnel-dispatcher-x86_64 or -aarch64 not found in "
                         + folders.joined(separator: ", ") + " (set TUNNEL_AGENT_DIR)")
    }

    /// `tunnel-dispatcher` alone is the x86_64 agent: what `make` puts in dist/.
    static func fileNames(for architecture: String) -> [String] {
        architecture == "x86_64" ? ["tunnel-dispatcher-x86_64", "tunnel-dispatcher"] : ["tunnel-dispatcher-" + architecture]
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
