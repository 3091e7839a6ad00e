import ArgumentParser
import TunnelClient

/// `tunnel installer`: one self-contained POSIX sh script that writes the agent for the
/// machine it runs on. It needs only sh (its printf builtin), uname, chmod and mv, so it runs in
/// cloud-init, a Dockerfile RUN, a Packer provisioner, a busybox-only image, or through
/// `docker exec -i box sh -s < install.sh`.
struct InstallerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "installer",
        abstract: "Print a POSIX sh script that installs the agent: sh install.sh [PATH].",
        discussion: """
        The script writes the agent for the machine it runs on to PATH (default
        /usr/local/bin/tunnel-dispatcher), creating missing folders, checks its size and
        SHA-256 when wc and sha256sum are there, makes it executable and prints PATH. It needs
        nothing beyond sh, uname, chmod, mv and /dev/urandom (mkdir for a missing folder): no
        base64, head, dd or python. Every agent adds about three times its size to the script
        (all five: about 4 MB): --arch picks the machines it serves.
        """)

    @Option(help: ArgumentHelp(
        "The machines the script carries an agent for: all, or one or several (repeated or comma-separated) of \(AgentBinaries.architectures.joined(separator: ", ")).",
        valueName: "arch"))
    var arch: [String] = ["all"]

    /// The machines asked for, each once, in the order of `AgentBinaries.architectures`;
    /// "all" is every machine there is an agent for beside tunnel.
    func wanted(among binaries: AgentBinaries) -> [String] {
        let names = arch.flatMap { $0.split(separator: ",").map(String.init) }
        guard !names.contains("all") else { return AgentBinaries.architectures.filter { binaries.agents[$0] != nil } }
        return AgentBinaries.architectures.filter(names.contains)
    }

    func validate() throws {
        let names = arch.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        for name in names where name != "all" && !AgentBinaries.architectures.contains(name) {
            throw ValidationError("--arch takes all or \(AgentBinaries.architectures.joined(separator: ", ")), not '\(name)'")
        }
    }

    func run() throws {
        let binaries = try report { () throws(TunnelError) in try AgentBinaries.locate() }
        let wanted = wanted(among: binaries)
        let agents = wanted.compactMap { name in binaries.agents[name].map { (name, $0) } }
        guard agents.count == wanted.count else {
            let missing = wanted.filter { binaries.agents[$0] == nil }
            let targets = missing.map { $0 == "x86_64" ? "static" : $0 }   // the Makefile's names
            writeError("tunnel: no \(missing.joined(separator: ", ")) agent beside tunnel (build it: make \(targets.joined(separator: " ")))\n")
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
        # Needs only sh (its printf builtin), uname, chmod, mv and /dev/urandom.
        target=${1:-/usr/local/bin/tunnel-dispatcher}
        LC_ALL=C; export LC_ALL  # bytes, not characters, in random_name
        fail() { echo "install.sh: $*" >&2; exit 1; }
        # uname -m as Linux names machines; armv8l is a 32-bit userland on a 64-bit ARM
        # kernel. armv6l and older have no Thumb-2 or VFPv3: not served.
        case $(uname -m) in
          x86_64|amd64) arch=x86_64 ;;
          aarch64|arm64) arch=aarch64 ;;
          armv7l|armv8l) arch=armv7 ;;
          i386|i486|i586|i686) arch=i686 ;;
          riscv64) arch=riscv64 ;;
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

    /// Where the agent is written first. A device or FIFO at PATH is written through, as `>`
    /// would. Anything else (nothing, a file, a symlink) is replaced: the agent is written to
    /// a temporary in PATH's folder, created exclusively (`set -C`) under a name drawn from
    /// /dev/urandom, and renamed over PATH (`mv -T`; a symlink at PATH is removed first, never
    /// entered), so that no name another user can predict, neither PATH nor the temporary,
    /// is written or chmod-ed through a planted symlink. Without mv, only a PATH that does
    /// not exist yet is written (created exclusively). The agent is checked before it is kept.
    static let tail = """
    case $target in
      */*) folder=${target%/*}; folder=${folder:-/} ;;
      *) folder=. ;;
    esac
    [ -d "$folder" ] || mkdir -p "$folder" || fail "cannot create the folder $folder"
    [ -d "$target" ] && [ ! -L "$target" ] && fail "$target is a folder: name the file to write"
    # Twelve letters and digits from /dev/urandom, with the shell alone: lines of random
    # bytes, of which only [A-Za-z0-9] are kept (read may warn of NUL bytes: silenced).
    random_name() {
      name=
      while [ ${#name} -lt 12 ]; do
        IFS= read -r bytes < /dev/urandom 2>/dev/null
        while [ -n "$bytes" ] && [ ${#name} -lt 12 ]; do
          rest=${bytes#?}
          case ${bytes%"$rest"} in [A-Za-z0-9]) name=$name${bytes%"$rest"} ;; esac
          bytes=$rest
        done
      done
      echo "$name"
    }
    created=
    if [ ! -L "$target" ] && { [ -c "$target" ] || [ -b "$target" ] || [ -p "$target" ]; }; then
      partial=$target
    elif command -v mv >/dev/null 2>&1; then
      [ -r /dev/urandom ] || fail "cannot draw a private temporary name: /dev/urandom is missing"
      partial=$folder/.tunnel-dispatcher.$(random_name)
      created=yes
    elif [ -e "$target" ] || [ -L "$target" ]; then
      fail "$target exists, and replacing it safely needs mv"
    else
      partial=$target
      created=yes
    fi
    discard() { [ -z "$created" ] || rm -f "$partial" 2>/dev/null; fail "$@"; }
    if [ -n "$created" ]; then
      # noclobber: the shell creates it with O_EXCL, which fails on any existing name, a
      # symlink included; then it is known to be this script's own new file.
      (set -C; : > "$partial") 2>/dev/null || { created=; fail "cannot create $partial"; }
      [ -f "$partial" ] && [ ! -L "$partial" ] || { created=; fail "$partial is not the file just created"; }
      write_$arch >> "$partial" || discard "cannot write $partial"
    else
      write_$arch > "$partial" || discard "cannot write $partial"
    fi
    if command -v wc >/dev/null 2>&1; then
      [ $(wc -c < "$partial") -eq "$size" ] || discard "$partial: wrong size (a full disk?)"
    fi
    if command -v sha256sum >/dev/null 2>&1; then
      set -- $(sha256sum < "$partial")
      [ "$1" = "$sha256" ] || discard "$partial: wrong SHA-256"
    fi
    chmod 755 "$partial" || discard "chmod $partial failed"
    if [ "$partial" != "$target" ]; then
      # A symlink at PATH goes first: busybox's mv -T refuses one that points to a folder, and
      # plain mv would move the agent into that folder. An mv without -T is used only while
      # PATH is no folder, so a symlink planted again meanwhile fails the install instead.
      [ ! -L "$target" ] || rm -f "$target" || discard "cannot remove the symlink $target"
      mv -f -T "$partial" "$target" 2>/dev/null || { [ ! -d "$target" ] && mv -f "$partial" "$target"; } ||
        discard "cannot move it to $target"
    fi
    echo "$target"

    """
}
