import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

/// `tunnel`: one request to a tunnel agent from the shell, e.g.
///     tunnel --ssh web1 run -- systemctl restart nginx
///     tunnel --docker box upload nginx.conf /etc/nginx/nginx.conf --mode 644
struct Tunnel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnel",
        abstract: "Send requests to a tunnel-dispatcher agent over ssh, docker exec or any command.",
        // Every line at most 78 columns: ArgumentParser wraps longer ones mid-table.
        discussion: """
        Reaching the target (before or after the subcommand):
          --ssh [user@]host[:port]  the system's ssh; the agent is started from the
                                    target's cache, or sent over the same connection
          --docker container        the same through 'docker exec -i' (--engine podman)
          --sudo                    the agent runs as root (sudo -n over ssh)
          --via 'command'           a command that starts an agent already there

        Exit status:
          0    success
          1    missing or refused on the target: a file, a user, a group, a
               permission; or a write error on standard output
          2    usage: an unknown option, a malformed value (a mode, a host, a port)
          23   a -r transfer copied what it could; each entry that failed is named
          255  tunnel itself failed: the transport (its message and status are
               passed on), the bootstrap, the protocol, or local I/O such as a full
               disk at the destination
          run  the command's own status; 128+N when signal N ended it; 124 when
               --timeout ended it; 127 when the program does not exist, 126 when it
               cannot be executed
          A reader that goes away (| head -1) ends tunnel silently by SIGPIPE.

        Examples:
          tunnel --ssh web1 ping
          tunnel --ssh deploy@web1:2222 --sudo run -- systemctl restart nginx
          tunnel --docker box --engine podman run --user www-data -- ls -l
          tunnel --ssh web1 upload nginx.conf /etc/nginx/nginx.conf --mode 644
          some-command | tunnel --ssh web1 upload - /srv/data.json
          tunnel --via "ssh web1 /usr/local/bin/tunnel-dispatcher" ping
          tunnel installer > install.sh   # for cloud-init, Dockerfiles, provisioners
        """,
        version: "tunnel \(projectVersion)",   // Sources/TunnelWire/Version.swift
        subcommands: [Ping.self, Run.self, ShellCommand.self, StatCommand.self, UploadCommand.self, DownloadCommand.self,
                      UserCommand.self, GroupCommand.self, GetenvCommand.self, ListCommand.self, MakeDirCommand.self, RemoveCommand.self,
                      MoveCommand.self, ChangeModeCommand.self, ChangeOwnerCommand.self, LinkCommand.self,
                      SyncCommand.self, InstallerCommand.self])
}

// Usage errors exit 2 (ArgumentParser's default is 64), as the exit-status table says.
do {
    let arguments = movingTargetOptions(Array(CommandLine.arguments.dropFirst()))
    if let command = malformedViaCommand(arguments, environment: getenv("TUNNEL_VIA").map { String(cString: $0) }) {
        writeError("tunnel: --via: an open quote or a trailing backslash in \(pythonQuoted(command))\n")
        exit(2)
    }
    if let problem = missingSubcommand(arguments) ?? missingTarget(arguments) {
        writeError("tunnel: \(problem)\nSee 'tunnel --help' for the subcommands and how to reach a target.\n")
        exit(2)
    }
    // `run [TARGET] -- COMMAND`, the common start, without ArgumentParser (QuickRun.swift).
    var command: ParsableCommand = try quickRun(arguments) ?? parseFromSubcommand(arguments)
    // A download's temporary is removed when a signal ends tunnel meanwhile.
    LocalFolder.temporaries = { folder, name in
        if let name { TemporaryCleanup.remember(name, in: folder) } else { TemporaryCleanup.forget() }
    }
    try command.run()
} catch let error as TreeError {
    // A local file of a single download (LocalFolder, TunnelClient's): named, as tunnel's own failure.
    writeError("tunnel: \(displayedMessage(error.description))\n")
    exit(ownFailure)
} catch let code as ExitCode {
    // Decided, and said where needed: a remote command's own status (64 too, which the
    // check below would take for ArgumentParser's usage status), or ours after a message.
    // Also spares every run's end the parser's message machinery.
    exit(code.rawValue)
} catch {
    if Tunnel.exitCode(for: error) == .validationFailure {
        writeError(Tunnel.fullMessage(for: error) + "\n")
        exit(2)
    }
    Tunnel.exit(withError: error)
}
