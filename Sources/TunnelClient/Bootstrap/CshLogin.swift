/// What lets a csh or tcsh login shell run the bootstrap. ssh hands the command line to the
/// account's login shell; csh cannot take the snippet's multi-line quoted text, and runs
/// its lines one by one instead (about 70 error lines, and stray commands: a folder `2` in
/// the home folder). So the line goes first, before the snippet:
///
///     test "$?shell" = 1 && exec /bin/sh -c 'echo tunnel-bootstrap script N; eval "$(head -c N)"' ARGS
///
/// csh reads `$?shell` as "is $shell set", which it always is: 1, and it becomes /bin/sh,
/// which asks for the snippet's N bytes on stdin (`tunnel-bootstrap script N`) and runs them
/// with the snippet's arguments. A POSIX shell reads `$?shell` as the last status followed
/// by "shell" ("0shell"): the test fails and it goes on to the snippet on the next line, as
/// before, for the cost of one builtin. Only ssh goes through a login shell; a container's
/// `exec` runs the snippet's argv as it is.
enum CshLogin {
    /// The line, for `snippet` (`sh -c SCRIPT ARG...`), each argument quoted once as Route
    /// quotes them (they are hex and digits).
    static func preamble(for snippet: [String]) -> String {
        let size = (snippet.count > 2 ? snippet[2] : "").utf8.count
        let arguments = snippet.dropFirst(3).map { "'" + $0 + "'" }.joined(separator: " ")
        // head -c stops at N bytes: nothing else is on stdin until the snippet asks for it.
        return "test \"$?shell\" = 1 && exec /bin/sh -c 'echo tunnel-bootstrap script \(size); "
            + "eval \"$(head -c \(size))\"' \(arguments)"
    }
}
