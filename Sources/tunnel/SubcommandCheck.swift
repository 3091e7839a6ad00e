/// Why `arguments` (target options already moved behind the subcommand) name no subcommand,
/// in words; nil when they do, or when they ask for help or the version. Without this check
/// `tunnel --ssh web1` would be told "Unknown option '--ssh'", since the root command has
/// none of the target options: they belong to each subcommand.
func missingSubcommand(_ arguments: [String]) -> String? {
    guard let first = arguments.first else { return "missing a subcommand, e.g. 'tunnel --ssh HOST ping'" }
    if arguments.contains(where: { ["-h", "--help", "--version"].contains($0) }) || first == "help" { return nil }
    if TargetOptions.valued.contains(String(first.split(separator: "=", maxSplits: 1).first ?? "")) ||
        TargetOptions.flags.contains(first) {
        return "missing a subcommand after the target options, e.g. 'tunnel \(first) ... ping'"
    }
    return nil
}
