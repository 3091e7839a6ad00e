import CPosix
import TunnelWire

/// The command line of `tunnel-dispatcher`, shared by the static and the normal build.
public enum Agent {
    public static let version = projectVersion   // Sources/TunnelWire/Version.swift

    static let usage = """
    usage: tunnel-dispatcher [--debug] [--durable] [--read-only] [--allow NAMES] [--deny NAMES]
                             [--root DIR] [--log syslog|stderr|FILE] [--log-facility NAME]
           tunnel-dispatcher --version | --help

    Serves fora's tunnel protocol on stdin/stdout until it receives Exit.
    --debug    log each packet on stderr (never contents, stdin data or password hashes)
    --durable  answer an Upload only once its content and name are synced to disk
               (consecutive uploads are synced as one group); by default the new file is
               renamed into place without an fsync, see docs/protocol.md

    Restrictions, for forced-command ssh keys (see docs/security.md); a refused request is
    answered with an error that names the option, and the session goes on:
    --read-only    refuse every request that can change the host: Upload, ProcessRun, RunEx,
                   MakeDir, Remove, Rename, SetMetadata, Symlink, UploadBeneath,
                   CreateBeneath, SetMetadataBeneath, RemoveBeneath
    --allow NAMES  serve only these requests (comma-separated, docs/protocol.md's names,
                   any case); CheckAlive, Exit and Hello are always served
    --deny NAMES   refuse these requests
    --root DIR     resolve every path of every request beneath DIR as if it were /
                   (openat2 RESOLVE_IN_ROOT; refuses to start without it); ProcessRun and
                   RunEx are refused; users and groups are still the host's
    --log syslog|stderr|FILE
                   one line per request: its name, paths, result or errno, byte counts and
                   the ssh peer (SSH_CLIENT); never contents, stdin, environment values or
                   password hashes. syslog: /dev/log, ident tunnel-dispatcher
    --log-facility NAME
                   with --log syslog: auth, authpriv (the default), daemon, user, local0-7
    With any of these, an unknown argument stops the agent (status 2) instead of being
    ignored.

    """

    /// The process's arguments without the program name. The static (Embedded) build has no
    /// CommandLine: CPosix's C `main` keeps argv, and calls `tunnel_swift_main`, which the
    /// executable's main.swift becomes via -entry-point-function-name.
    public static func commandLineArguments() -> [String] {
        #if hasFeature(Embedded)
        var arguments: [String] = []
        var index: Int32 = 1
        while index < tp_argc {
            if let argument = tp_argv[Int(index)] { arguments.append(String(cString: argument)) }
            index += 1
        }
        return arguments
        #else
        return Array(CommandLine.arguments.dropFirst())
        #endif
    }

    /// Runs the agent with `arguments` (without the program name); returns the exit status.
    public static func main(arguments: [String]) -> Int32 {
        var debug = false
        var durable = false
        var restrictions = RestrictionOptions()
        var unknown: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument.isSameText(as: "--version") {
                print("tunnel-dispatcher \(version)")
                return 0
            } else if argument.isSameText(as: "--help") || argument.isSameText(as: "-h") {
                print(usage, terminator: "")
                return 0
            } else if argument.isSameText(as: "--debug") {
                debug = true
            } else if argument.isSameText(as: "--durable") {
                durable = true
            } else {
                do throws(UsageError) {
                    if try !restrictions.take(argument, &rest) { unknown.append(argument) }
                } catch {
                    return refuseToStart(error)
                }
            }
        }
        for argument in unknown {
            // The reference ignores unknown arguments; so do we, but say so. Not when
            // restricted: a misspelt restriction must not leave the agent unrestricted.
            if restrictions.given { return refuseToStart(UsageError("unknown argument '\(argument)'")) }
            writeToStderr("tunnel-dispatcher: ignoring unknown argument '\(argument)'\n")
        }
        // Before anything opens a file: a closed fd 0-2 would be taken by one of the agent's
        // own files or pipes, which a child would then inherit as its stdio.
        guard tp_ensure_standard_fds() == 0 else { return 3 }
        InheritedUmask.replace(with: 0o077)
        tp_install_signal_dispositions()
        tp_grow_pipe(0)
        tp_grow_pipe(1)
        do throws(UsageError) {
            Restrictions.active = try restrictions.start()
        } catch {
            return refuseToStart(error)
        }
        return Session(debug: debug, durable: durable).run()
    }

    private static func refuseToStart(_ error: UsageError) -> Int32 {
        writeToStderr("tunnel-dispatcher: " + error.message + "\n")
        return error.status
    }
}
