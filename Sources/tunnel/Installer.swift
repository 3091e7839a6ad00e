import ArgumentParser
import TunnelClient

/// `tunnel installer`: one self-contained POSIX sh script that writes the agent for the
/// machine it runs on. It needs only sh (its printf builtin), uname and chmod, so it runs in
/// cloud-init, a Dockerfile RUN, a Packer provisioner, a busybox-only image, or through
/// `docker exec -i box sh -s < install.sh`.
struct InstallerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "installer",
        abstract: "Print a POSIX sh script that installs the agent: sh install.sh [PATH].",
        discussion: """
        The script writes the agent for the machine it runs on to PATH (default
        /usr/local/bin/tunnel-dispatcher), checks its size and SHA-256 when wc and sha256sum
        are there, makes it executable and prints PATH. It needs nothing beyond sh, uname
        and chmod: no base64, head, dd or python.
        """)

    @Option(help: "The machines the script carries an agent for: x86_64, aarch64 or all.")
    var arch = "all"

    func validate() throws {
        guard arch == "all" || AgentBinaries.architectures.contains(arch) else {
            throw ValidationError("--arch must be x86_64, aarch64 or all, not '\(arch)'")
        }
    }

    func run() throws {
        let binaries = try report { () throws(TunnelError) in try AgentBinaries.locate() }
        // "all": every machine tunnel has an agent for (the bootstrap knows more than are built).
        let wanted = arch == "all" ? AgentBinaries.architectures.filter { binaries.agents[$0] != nil } : [arch]
        let agents = wanted.compactMap { name in binaries.agents[name].map { (name, $0) } }
        guard agents.count == wanted.count else {
            writeError("tunnel: no \(wanted.filter { binaries.agents[$0] == nil }.joined(separator: ", ")) agent beside tunnel (build it: make aarch64)\n")
            throw ExitCode(ownFailure)
        }
        var script = Array(Self.head(agents.map { ($0.0, $0.1.size, $0.1.sha256) }).utf8)
        for (name, agent) in agents {
            let content = try report { () throws(TunnelError) in try agent.content() }
            script += Array("write_\(name)() {\n".utf8)
            Self.appendPrintfLines(of: content, to: &script)
            script += Array("}\n".utf8)
        }
        script += Array(Self.tail.utf8)
        try writeOut(script)
    }

    /// `printf '...'` lines that write `content`: printable ASCII as itself, every other byte
    /// (and the quote, backslash and percent sign) as a three-digit octal escape, which
    /// every POSIX printf understands in its format. The first failed write ends the function.
    static func appendPrintfLines(of content: [UInt8], to script: inout [UInt8]) {
        let octal = Array("01234567".utf8)
        for start in stride(from: 0, to: content.count, by: 1024) {
            script += Array("printf '".utf8)
            for (offset, byte) in content[start..<min(start + 1024, content.count)].enumerated() {
                // A leading "-" would read as an option of printf's.
                if offset == 0 && byte == UInt8(ascii: "-") {
                    script += Array("\\055".utf8)
                } else if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "'") && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "%") {
                    script.append(byte)
                } else {
                    script += [UInt8(ascii: "\\"), octal[Int(byte >> 6)], octal[Int(byte >> 3 & 7)], octal[Int(byte & 7)]]
                }
            }
            script += Array("' || return\n".utf8)
        }
    }

    static func head(_ agents: [(name: String, size: Int, sha256: String)]) -> String {
        var text = """
        #!/bin/sh
        # Installs the tunnel-dispatcher agent (made by `tunnel installer`).
        #   sh install.sh [PATH]     default PATH: /usr/local/bin/tunnel-dispatcher
        # Needs only sh (its printf builtin), uname and chmod.
        target=${1:-/usr/local/bin/tunnel-dispatcher}
        fail() { echo "install.sh: $*" >&2; exit 1; }
        case $(uname -m) in
          x86_64|amd64) arch=x86_64 ;;
          aarch64|arm64|armv8*) arch=aarch64 ;;
          *) fail "no agent for this machine (uname -m: $(uname -m))" ;;
        esac
        case $arch in

        """
        for agent in agents {
            text += "  \(agent.name)) size=\(agent.size) sha256=\(agent.sha256) ;;\n"
        }
        text += "  *) fail \"this script carries no agent for $arch (made with tunnel installer --arch \(agents.map(\.name).joined(separator: ",")))\" ;;\nesac\n"
        return text
    }

    /// A new or regular file is written under a temporary name and moved into place when mv
    /// is there (a running agent at PATH is then replaced, not rewritten); anything else (a
    /// device, a symlink) is written through, as `>` would. Checked before it is kept.
    static let tail = """
    partial=$target
    if { [ ! -e "$target" ] || { [ -f "$target" ] && [ ! -L "$target" ]; }; } && command -v mv >/dev/null 2>&1; then
      partial=$target.partial.$$
    fi
    discard() { [ "$partial" = "$target" ] || rm -f "$partial" 2>/dev/null; fail "$@"; }
    write_$arch > "$partial" || discard "cannot write $partial"
    if command -v wc >/dev/null 2>&1; then
      [ $(wc -c < "$partial") -eq "$size" ] || discard "$partial: wrong size (a full disk?)"
    fi
    if command -v sha256sum >/dev/null 2>&1; then
      set -- $(sha256sum < "$partial")
      [ "$1" = "$sha256" ] || discard "$partial: wrong SHA-256"
    fi
    chmod 755 "$partial" || discard "chmod $partial failed"
    [ "$partial" = "$target" ] || mv -f "$partial" "$target" || discard "cannot move it to $target"
    echo "$target"

    """
}
