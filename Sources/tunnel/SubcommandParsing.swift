import ArgumentParser

/// The command line parsed as `Tunnel.parseAsRoot` parses it, for less when the first word
/// names a subcommand: that subcommand parses the rest on its own. `parseAsRoot` first
/// builds the tree of all sixteen subcommands and reflects on them, ~0.6 ms of CPU more per
/// start (docs/performance.md, issue 20).
///
/// Only a parse that yields the subcommand itself is taken. Anything the subcommand alone
/// rejects or answers otherwise (an unknown option, `--version`, a completion-script request;
/// `--help`, which the parser answers with its own help command, naming the subcommand
/// without `tunnel`) is parsed again from the root, so that every message, usage text and
/// exit status stays the root's, word for word.
func parseFromSubcommand(_ arguments: [String]) throws -> ParsableCommand {
    if let name = arguments.first,
       let subcommand = Tunnel.configuration.subcommands.first(where: { $0._commandName == name }),
       let command = try? subcommand.parseAsRoot(Array(arguments.dropFirst())),
       type(of: command) == subcommand {
        return command
    }
    return try Tunnel.parseAsRoot(arguments)
}
