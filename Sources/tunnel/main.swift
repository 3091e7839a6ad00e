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
        discussion: """
        Reaching the target (before or after the subcommand):
          --ssh [user@]host[:port]   the system's ssh; the agent is started from the target's
                                     cache, or sent over the same connection when missing
          --docker container         the same through 'docker exec -i' (--engine podman)
          --sudo                     the agent runs as root (sudo -n over ssh)
          --via 'command'            a command that starts an agent already there

        Exit status:
          run          the remote command's own status; 128+N when it was killed by signal N;
                       127 when the program does not exist, 126 when it cannot be executed
          others       0 on success; 1 for an error on the target (a missing file, permission)
          all          2 for a usage error or a value the agent rejected (a bad mode, an
                       unknown user); 255 when tunnel itself failed: the transport (its own
                       message and status are passed on), the bootstrap, the protocol, or
                       local I/O such as a full disk at the destination
          -r           23 when some entries failed (each named), the rest copied

        Examples:
          tunnel --ssh web1 ping
          tunnel --ssh deploy@web1:2222 --sudo run -- systemctl restart nginx
          tunnel --docker box --engine podman run --user www-data --cwd /srv -- ls -l
          tunnel --ssh web1 upload nginx.conf /etc/nginx/nginx.conf --mode 644
          some-command | tunnel --ssh web1 upload - /srv/data.json
          tunnel --via "ssh web1 /usr/local/bin/tunnel-dispatcher" download /etc/hostname ./hostname
          tunnel installer > install.sh      # for cloud-init, Dockerfiles, provisioners
        """,
        version: "tunnel 0.2.0",
        subcommands: [Ping.self, Run.self, StatCommand.self, UploadCommand.self, DownloadCommand.self,
                      UserCommand.self, GroupCommand.self, GetenvCommand.self, ListCommand.self, MakeDirCommand.self, RemoveCommand.self,
                      MoveCommand.self, ChangeModeCommand.self, ChangeOwnerCommand.self, LinkCommand.self,
                      SyncCommand.self, InstallerCommand.self])
}

// Usage errors exit 2 (ArgumentParser's default is 64), as the exit-status table says.
do {
    var command = try Tunnel.parseAsRoot(movingTargetOptions(Array(CommandLine.arguments.dropFirst())))
    try command.run()
} catch {
    if Tunnel.exitCode(for: error) == .validationFailure {
        writeError(Tunnel.fullMessage(for: error) + "\n")
        exit(2)
    }
    Tunnel.exit(withError: error)
}
