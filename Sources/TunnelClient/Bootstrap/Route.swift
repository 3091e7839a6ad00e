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
            // `--` before the destination: whatever --ssh holds, ssh takes it as the host,
            // never as an option (ssh parses options again after the host unless `--` came).
            // ssh hands one string to the login shell, which splits it again: every word is
            // quoted once (the snippet holds no single quote, the arguments are hex and digits).
            // The first line is for a csh login shell, which cannot run the snippet (CshLogin).
            command += ["--", host, CshLogin.preamble(for: snippet) + "\n" + snippet.map { "'" + $0 + "'" }.joined(separator: " ")]
            return command
        case .container(let engine, let name, let sudo):
            return [engine, "exec", "-i"] + (sudo ? ["--user", "0"] : []) + [name] + snippet
        }
    }

    /// What is wrong with `destination` as `--ssh` takes it, or nil: for a usage error before
    /// anything starts.
    public static func problem(withSSHDestination destination: String) -> String? {
        do throws(TunnelError) {
            _ = try splitPort(destination)
            return nil
        } catch .transport(let message) {
            return message
        } catch {
            return "\(error)"
        }
    }

    /// `host`, `user@host`, `host:2222`, `[::1]:2222`, `user@[::1]:2222`: the `[user@]host`
    /// part (IPv6 brackets removed) and the port, if any. The host is never empty and never
    /// starts with `-` (ssh would take it as an option); the port is a number from 1 to 65535.
    static func splitPort(_ destination: String) throws(TunnelError) -> (String, String?) {
        let usage = "--ssh needs [USER@]HOST[:PORT] (HOST may be [IPv6]), not '\(destination)'"
        guard !destination.isEmpty, !destination.hasPrefix("-"),
              !destination.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7f }) else {
            throw .transport(usage)
        }
        let at = destination.lastIndex(of: "@").map { destination.index(after: $0) } ?? destination.startIndex
        let user = String(destination[..<at])
        let rest = destination[at...]
        let host: Substring
        var port: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw .transport(usage) }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { throw .transport(usage) }
            port = after.isEmpty ? nil : after.dropFirst()
        } else if rest.filter({ $0 == ":" }).count == 1, let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            port = rest[rest.index(after: colon)...]
        } else {
            host = rest   // no port, or a bare IPv6 address
        }
        guard !host.isEmpty, !host.hasPrefix("-"), !host.contains("["), !host.contains("]"),
              user.isEmpty || user.count > 1 else {
            throw .transport(usage)
        }
        if let port {
            guard !port.isEmpty, port.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let number = Int(port), (1...65535).contains(number) else {
                throw .transport("--ssh: the port in '\(destination)' must be a number from 1 to 65535")
            }
        }
        return (user + host, port.map(String.init))
    }
}
