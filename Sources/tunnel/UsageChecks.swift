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

private func programOnPath(_ name: String) -> Bool {
    guard let path = getenv("PATH").map({ String(cString: $0) }) else { return false }
    return path.split(separator: ":", omittingEmptySubsequences: false).contains { folder in
        access((folder.isEmpty ? "." : String(folder)) + "/" + name, X_OK) == 0
    }
}
