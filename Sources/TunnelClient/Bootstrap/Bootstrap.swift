import TunnelWire

/// What a bootstrap did: which agent runs where, and whether it had to be sent.
public struct BootstrapReport: Sendable, Equatable {
    /// The target's machine, as the agents are named (`x86_64`, `aarch64`).
    public let architecture: String
    /// Where the agent runs from on the target (its cache).
    public let path: String
    /// The agent's size when it was sent; 0 when a cached copy was used.
    public let sentBytes: Int
    /// Whether the snippet read and dropped the packets written ahead of `start`
    /// (`Bootstrap.sendAhead`): it received the agent first, or a csh login shell's /bin/sh
    /// took them off stdin before the snippet (CshLogin). Then they are sent again.
    let droppedAhead: Bool
}

/// The client's half of bootstrap.sh: read its lines, send the agent it asks for, and return
/// once it has become the agent, with the protocol starting on the same pipe.
enum Bootstrap {
    static let marker = "tunnel-bootstrap "

    /// `sh -c SNIPPET tunnel-bootstrap SUDO HASH SIZE HASH SIZE ... ahead`, a pair per
    /// machine in the order of `AgentBinaries.architectures` ("- 0": no agent for it); `ahead`:
    /// the client writes its first packets without waiting for `start` (`sendAhead`).
    static func snippetCommand(agents: AgentBinaries, sudo: Bool) -> [String] {
        var command = ["sh", "-c", bootstrapScript, "tunnel-bootstrap", sudo ? "1" : "0"]
        for architecture in AgentBinaries.architectures {
            let agent = agents.agents[architecture]
            command += [agent?.sha256 ?? "-", String(agent?.size ?? 0)]
        }
        return command + ["ahead"]
    }

    /// Writes what follows the snippet's command on its stdin: a line with the count of
    /// `packets`, then them. They wait in the pipe for the agent, which reads them once it
    /// starts; where the snippet must receive the agent first, it drops them, and they are
    /// sent again after `start` (`BootstrapReport.sentBytes` > 0). A failed write shows as
    /// the snippet's end, read next.
    static func sendAhead(_ packets: [UInt8], over transport: Transport) {
        let output = transport.output
        Array("\(packets.count)\n".utf8).withUnsafeBytes { output.write($0) }
        packets.withUnsafeBytes { output.write($0) }
        output.flush()
    }

    static func perform(over transport: Transport, agents: AgentBinaries, route: Route,
                        log: (String) -> Void) throws(TunnelError) -> BootstrapReport {
        var sent = 0
        var cshLogin = false
        while true {
            let words = try nextLine(from: transport, route: route).split(separator: " ", maxSplits: 3).map(String.init)
            switch (words.count >= 3 ? words[1] : "", words.count) {
            case ("send", 4):
                guard let agent = agents.agents[words[2]], String(agent.size) == words[3] else {
                    throw fail(transport, "the target asked for an agent tunnel does not have: \(words.dropFirst().joined(separator: " "))")
                }
                let content: [UInt8]
                do throws(TunnelError) {
                    content = try agent.content()
                } catch {
                    _ = transport.finish(flushing: false)
                    throw error
                }
                log("sending the \(words[2]) agent (\(content.count) bytes, from \(agent.path))")
                content.withUnsafeBytes { transport.output.write($0) }
                transport.output.flush()
                sent = content.count
                // A failed write shows as the snippet's end (or its error line), read next.
            case ("script", 3) where words[2] == String(bootstrapScript.utf8.count):
                // A csh login shell re-executed /bin/sh, which reads the snippet from stdin (CshLogin).
                log("the login shell is csh: the snippet goes to /bin/sh on stdin")
                cshLogin = true
                Array(bootstrapScript.utf8).withUnsafeBytes { transport.output.write($0) }
                transport.output.flush()
            case ("note", _):
                // What the target chose and why (a fresh folder): shown with -v.
                log("on the target: " + words.dropFirst(2).joined(separator: " "))
            case ("start", 4):
                log("\(sent == 0 ? "starting the cached" : "started the") \(words[2]) agent: \(words[3])")
                return BootstrapReport(architecture: words[2], path: words[3], sentBytes: sent,
                                       droppedAhead: sent > 0 || cshLogin)
            case ("error", _):
                throw fail(transport, "on the target: " + words.dropFirst(2).joined(separator: " "))
            default:
                throw fail(transport, "the bootstrap snippet said something unexpected: \(words.joined(separator: " "))")
            }
        }
    }

    /// One line of the snippet's. Anything else first means the login shell's startup files
    /// print to stdout, which would corrupt the protocol too.
    private static func nextLine(from transport: Transport, route: Route) throws(TunnelError) -> String {
        let line: [UInt8]?
        do throws(WireError) {
            line = try transport.input.readLine(maximum: 4096)
        } catch {
            throw fail(transport, "reading from '\(transport.command[0])': \(error.message)")
        }
        guard let line else { throw ended(transport, route: route) }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix(marker) else {
            let shown = text.count > 80 ? String(text.prefix(80)) + "…" : text
            throw fail(transport, "the remote shell printed text before the agent started: \"\(shown)\" "
                       + "(your shell's startup files print text to standard output; make them quiet "
                       + "when the shell is not interactive)")
        }
        return text
    }

    /// The transport ended before the snippet said a word: what that means for each route.
    /// The command's own message has already reached stderr, which it shares with us.
    private static func ended(_ transport: Transport, route: Route) -> TunnelError {
        let status = transport.finish(flushing: false)
        let how = status < 0 ? "was killed by signal \(-status)" : "ended with status \(status)"
        switch route {
        case .ssh(let destination, _, _) where status == 255:
            return .transport("ssh could not reach \(destination) (status 255; ssh's own message is above)")
        case .ssh:
            return .transport("ssh \(how) before the bootstrap started: the account's login shell must be "
                              + "a POSIX shell (sh, bash, dash, busybox ash) or csh/tcsh")
        case .container(_, let name, _) where status == 127:
            // docker and podman: 127 is "the command was not found" in the container.
            return .transport("'\(name)' has no sh to run the bootstrap: copy the agent in and use --via "
                              + "(see docs/usage.md)")
        case .container(let engine, _, _):
            return .transport("'\(engine) exec' \(how) before the bootstrap started (its message is above)")
        case .command:
            return .transport("'\(transport.command[0])' \(how) before the bootstrap started")
        }
    }

    private static func fail(_ transport: Transport, _ message: String) -> TunnelError {
        _ = transport.finish(flushing: false)
        return .transport("bootstrap: " + message)
    }
}
