/// How the client reaches a target, and so which command carries the protocol.
public enum Route: Sendable, Equatable {
    /// The agent is already there: `command` starts it (`ssh web1 /usr/local/bin/tunnel-dispatcher`).
    case command([String])
    /// ssh (the system's, so ~/.ssh/config, agents, ProxyJump and ControlMaster apply) to
    /// `[user@]host[:port]`; each option is passed as `-o OPTION`. The agent is bootstrapped.
    case ssh(destination: String, options: [String], sudo: Bool)
    /// `ENGINE exec -i CONTAINER` (docker, podman); `sudo` runs it as root (`--user 0`: an
    /// image may have no passwd file to look "root" up in).
    case container(engine: String, name: String, sudo: Bool)

    /// Whether the agent is sent ahead through the bootstrap snippet.
    var bootstraps: Bool {
        if case .command = self { return false }
        return true
    }

    /// Whether the snippet must `exec sudo -n` the agent (a container escalates with --user).
    var runsSudo: Bool {
        if case .ssh(_, _, let sudo) = self { return sudo }
        return false
    }

    /// The argv that starts the transport; `snippet` is the shell snippet and its arguments.
    func transportCommand(snippet: [String]) throws(TunnelError) -> [String] {
        switch self {
        case .command(let command):
            return command
        case .ssh(let destination, let options, _):
            let (host, port) = try Self.splitPort(destination)
            var command = ["ssh"]
            if let port { command += ["-p", port] }
            for option in options { command += ["-o", option] }
            // ssh hands one string to the login shell, which splits it again: every word is
            // quoted once (the snippet holds no single quote, the arguments are hex and digits).
            command += [host, "--", snippet.map { "'" + $0 + "'" }.joined(separator: " ")]
            return command
        case .container(let engine, let name, let sudo):
            return [engine, "exec", "-i"] + (sudo ? ["--user", "0"] : []) + [name] + snippet
        }
    }

    /// `host`, `user@host`, `host:2222`, `[::1]:2222`: the host part and the port, if any.
    static func splitPort(_ destination: String) throws(TunnelError) -> (String, String?) {
        guard !destination.isEmpty, !destination.hasPrefix("-") else {
            throw .transport("--ssh needs [USER@]HOST[:PORT], not '\(destination)'")
        }
        if let close = destination.lastIndex(of: "]"), destination.contains("[") {
            let host = destination[...close].replacingBrackets()
            let rest = destination[destination.index(after: close)...]
            return (host, rest.hasPrefix(":") ? String(rest.dropFirst()) : nil)
        }
        let parts = destination.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return (destination, nil) }   // no port, or a bare IPv6 address
        guard !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber) else {
            throw .transport("--ssh: the port in '\(destination)' is not a number")
        }
        return (String(parts[0]), String(parts[1]))
    }
}

private extension Substring {
    /// `user@[::1]` → `user@::1` (ssh takes the address bare once the port is separate).
    func replacingBrackets() -> String { String(filter { $0 != "[" && $0 != "]" }) }
}
