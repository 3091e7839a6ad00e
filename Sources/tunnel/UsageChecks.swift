#if canImport(Glibc)
import Glibc
#endif

// Usage errors found before anything starts, in words (exit 2, as the exit table says).

/// No route given at all (--ssh, --docker, --via or $TUNNEL_VIA) and no `tunnel-dispatcher`
/// on PATH to fall back to: say what is missing instead of "cannot start tunnel-dispatcher".
func missingTarget(_ arguments: [String]) -> String? {
    guard let subcommand = arguments.first, subcommand != "installer", subcommand != "help",
          !arguments.contains(where: { ["-h", "--help", "--version"].contains($0) }) else { return nil }
    let routes = ["--ssh", "--docker", "--via"]
    let named = arguments.prefix { $0 != "--" }
        .contains { word in routes.contains { word == $0 || word.hasPrefix($0 + "=") } }
    if named || getenv("TUNNEL_VIA") != nil || programOnPath("tunnel-dispatcher") { return nil }
    return "no target: give --ssh [USER@]HOST, --docker CONTAINER or --via COMMAND "
        + "(or set TUNNEL_VIA); there is no tunnel-dispatcher on PATH to use instead"
}

/// A port in `--ssh HOST:PORT` that is not 1-65535 (ssh would say "Bad port" and exit 255).
func badSshPort(_ arguments: [String]) -> String? {
    let options = Array(arguments.prefix { $0 != "--" })   // what follows -- is the remote command's
    for (index, word) in options.enumerated() where word == "--ssh" || word.hasPrefix("--ssh=") {
        let value = word == "--ssh" ? (index + 1 < options.count ? options[index + 1] : "") : String(word.dropFirst(6))
        let afterHost = value.lastIndex(of: "]").map { value[value.index(after: $0)...] } ?? value[...]
        guard afterHost.filter({ $0 == ":" }).count == 1, let colon = afterHost.lastIndex(of: ":") else { continue }
        let port = afterHost[afterHost.index(after: colon)...]
        // Not digits: Route reports that one.
        guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }) else { continue }
        if port.count > 5 || !(1...65535).contains(Int(port)!) {
            return "--ssh: the port in '\(value)' must be a number from 1 to 65535"
        }
    }
    return nil
}

private func programOnPath(_ name: String) -> Bool {
    guard let path = getenv("PATH").map({ String(cString: $0) }) else { return false }
    return path.split(separator: ":", omittingEmptySubsequences: false).contains { folder in
        access((folder.isEmpty ? "." : String(folder)) + "/" + name, X_OK) == 0
    }
}
