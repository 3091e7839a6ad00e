import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

/// How to reach the agent; shared by every subcommand, and accepted before it too
/// (`tunnel --ssh web1 run -- uptime`, see `movingTargetOptions`).
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("ssh to the host (the system's ssh and its config) and start the agent there, sending it when it is not cached.",
                               valueName: "[user@]host[:port]"))
    var ssh: String?

    @Option(name: .customLong("ssh-option"), help: ArgumentHelp("An option for ssh, as 'ssh -o' takes it (repeatable), e.g. IdentityFile=~/.ssh/deploy.",
                                                                valueName: "option"))
    var sshOptions: [String] = []

    @Option(help: ArgumentHelp("'docker exec -i' into the container and start the agent there, sending it when it is not cached.",
                               valueName: "container"))
    var docker: String?

    @Option(help: ArgumentHelp("The container engine for --docker: docker, podman, ... Default: $TUNNEL_ENGINE, else docker.",
                               valueName: "program"))
    var engine: String?

    @Flag(help: "Run the agent as root: through 'sudo -n' over ssh, as --user 0 in a container.")
    var sudo = false

    @Option(help: ArgumentHelp(
        "A command that starts an agent already on the target, split into words as sh does (quotes, backslashes; no expansion, no shell). Default: $TUNNEL_VIA, else tunnel-dispatcher on PATH.",
        valueName: "command"))
    var via: String?

    @Flag(name: .shortAndLong, help: "Say how the agent was reached (cached or sent, and where it runs).")
    var verbose = false

    @Flag(name: .shortAndLong, help: "No progress display on the terminal.")
    var quiet = false

    /// The options that take a value, and the flags: what `movingTargetOptions` moves.
    static let valued: Set = ["--ssh", "--ssh-option", "--docker", "--engine", "--via"]
    static let flags: Set = ["--sudo", "--verbose", "-v", "--quiet", "-q", "--compat", "--durable"]

    func validate() throws {
        if [ssh, docker, via].compactMap({ $0 }).count > 1 {
            throw ValidationError("--ssh, --docker and --via are alternatives: give one")
        }
        if sudo && ssh == nil && docker == nil { throw ValidationError("--sudo needs --ssh or --docker") }
        if !sshOptions.isEmpty && ssh == nil { throw ValidationError("--ssh-option needs --ssh") }
        if engine != nil && docker == nil { throw ValidationError("--engine needs --docker") }
        if let ssh, let problem = Route.problem(withSSHDestination: ssh) { throw ValidationError(problem) }
    }

    var route: Route {
        if let ssh { return .ssh(destination: ssh, options: sshOptions, sudo: sudo) }
        if let docker {
            let engine = self.engine ?? environment("TUNNEL_ENGINE") ?? "docker"
            return .container(engine: engine, name: docker, sudo: sudo)
        }
        let text = via ?? environment("TUNNEL_VIA") ?? "tunnel-dispatcher"
        return .command(shellWords(text) ?? [text])   // malformed: refused in main.swift first
    }

    @Flag(help: "Do not open with Hello (the protocol extensions): for fora's Python dispatcher as the agent.")
    var compat = false

    @Flag(help: "Answer uploads only once they are synced to disk (grouped when many are sent at once).")
    var durable = false

    /// Opens the connection, with the protocol extensions unless --compat. `feature` names
    /// what needs them; without one the original 23 packets suffice, and an agent that does
    /// not know the extensions (fora's Python dispatcher ends the session on Hello) is
    /// opened once more without them: nothing has run yet, so that is safe.
    func connect(needing requested: String? = nil) throws -> TunnelConnection {
        let feature = requested ?? (durable ? "--durable" : nil)
        if compat, let feature {
            writeError("tunnel: \(feature) needs the protocol extensions, which --compat leaves out\n")
            throw ExitCode(2)
        }
        do throws(ExtensionsOrExit) {
            return try open(negotiating: !compat)
        } catch .exit(let code) {
            throw code
        } catch .extensionsUnsupported {
            if let feature {
                writeError("tunnel: \(TunnelError.extensionsUnsupported): \(feature) needs them\n")
                throw ExitCode(ownFailure)
            }
            writeError("tunnel: \(TunnelError.extensionsUnsupported); trying again without them (--compat skips this)\n")
        }
        do throws(ExtensionsOrExit) {
            return try open(negotiating: false)
        } catch .exit(let code) {
            throw code
        } catch {
            throw ExitCode(ownFailure)   // cannot happen: without Hello nothing reports it
        }
    }

    private func open(negotiating: Bool) throws(ExtensionsOrExit) -> TunnelConnection {
        do throws(TunnelError) {
            return try TunnelConnection(route: route, negotiating: negotiating, durableUploads: durable && negotiating,
                                        log: { if verbose { writeError("tunnel: \(displayedMessage($0))\n") } })
        } catch .extensionsUnsupported {
            throw .extensionsUnsupported
        } catch {
            throw .exit(report(error))
        }
    }
}

/// Opening failed: the agent lacks the extensions (the caller may try again), or the exit.
enum ExtensionsOrExit: Error {
    case extensionsUnsupported
    case exit(ExitCode)
}

func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

/// `tunnel --ssh web1 -v run -- uptime` → `tunnel run --ssh web1 -v -- uptime`: the options
/// of TargetOptions given before the subcommand are moved after its name, where the parser
/// takes them (it has no options of the root command shared with subcommands).
func movingTargetOptions(_ arguments: [String]) -> [String] {
    var moved: [String] = []
    var index = 0
    while index < arguments.count {
        let word = arguments[index]
        let name = String(word.split(separator: "=", maxSplits: 1).first ?? "")
        if TargetOptions.valued.contains(name) {
            let takesNext = !word.contains("=") && index + 1 < arguments.count
            moved += takesNext ? [word, arguments[index + 1]] : [word]
            index += takesNext ? 2 : 1
        } else if TargetOptions.flags.contains(word) {
            moved.append(word)
            index += 1
        } else {
            break
        }
    }
    guard !moved.isEmpty, index < arguments.count else { return arguments }
    return [arguments[index]] + moved + arguments[(index + 1)...]
}
