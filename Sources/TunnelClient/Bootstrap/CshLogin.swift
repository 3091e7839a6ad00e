/// What lets a csh or tcsh login shell run the bootstrap. ssh hands the command line to the
/// account's login shell; csh cannot take the snippet's multi-line quoted text, and runs
/// its lines one by one instead (about 70 error lines, and stray commands: a folder `2` in
/// the home folder). So the line goes first, before the snippet:
///
///     test "$?shell" = 1 && exec /bin/sh -c 'read -r n; head -c "$n" >/dev/null;
///         echo tunnel-bootstrap script N; eval "$(head -c N)"' ARGS
///
/// csh reads `$?shell` as "is $shell set", which it always is: 1, and it becomes /bin/sh,
/// which drops what the client sent ahead and asks for the snippet's N bytes on stdin (`tunnel-bootstrap script N`) and runs them
/// with the snippet's arguments. A POSIX shell reads `$?shell` as the last status followed
/// by "shell" ("0shell"): the test fails and it goes on to the snippet on the next line, as
/// before, for the cost of one builtin. Only ssh goes through a login shell; a container's
/// `exec` runs the snippet's argv as it is.
enum CshLogin {
    /// The line, for `snippet` (`sh -c SCRIPT ARG...`), each argument quoted once as Route
    /// quotes them (they are hex and digits). The client has already written its byte count
    /// and the packets it sends ahead (`Bootstrap.sendAhead`) when /bin/sh asks for the
    /// snippet, so they come first on stdin: /bin/sh reads and drops them, the snippet runs
    /// without `ahead`, and the client sends them again after `start` (`droppedAhead`).
    static func preamble(for snippet: [String]) -> String {
        let size = (snippet.count > 2 ? snippet[2] : "").utf8.count
        let arguments = snippet.dropFirst(3).filter { $0 != "ahead" }.map { "'" + $0 + "'" }.joined(separator: " ")
        // `read` takes a pipe byte by byte, and head -c stops at N bytes: nothing else is
        // taken from stdin.
        return "test \"$?shell\" = 1 && exec /bin/sh -c 'read -r n; head -c \"$n\" >/dev/null; "
            + "echo tunnel-bootstrap script \(size); eval \"$(head -c \(size))\"' \(arguments)"
    }
}
