/// `tunnel run [TARGET OPTIONS] [-n] -- COMMAND...` (after `movingTargetOptions`), the line a
/// fleet tool repeats, taken without ArgumentParser. Parsing `run` with it costs ~89% of the
/// client's instructions for `tunnel --ssh h run -- true` (9.1 M of 10.3 M, callgrind): its
/// property wrappers are read through `Mirror`, `Decodable` and dynamic casts, each of which
/// scans every protocol-conformance record of the binary (docs/performance.md, issue 20).
///
/// Only the plainest form is taken here; anything else, or anything the validations reject,
/// returns nil and goes to the parser as before, so that every message, usage text and exit
/// status stays the parser's: a word this does not know, an option written `--ssh=h`, one
/// given twice, a value that starts with '-' or is empty, a command not after `--`.
/// Every property of `Run` and `TargetOptions` is set here (reading an unset one is a fatal
/// error of ArgumentParser's): a new option needs a line here, or a fallback for it.
func quickRun(_ arguments: [String]) -> Run? {
    guard arguments.first == "run", let end = arguments.firstIndex(of: "--"), end + 1 < arguments.count else { return nil }
    var values: [String: String] = [:]
    var sshOptions: [String] = []
    var flags: Set<String> = []
    var index = 1
    while index < end {
        let word = arguments[index]
        if TargetOptions.valued.contains(word) {
            guard index + 1 < end else { return nil }
            let value = arguments[index + 1]
            guard !value.isEmpty, !value.hasPrefix("-") else { return nil }
            if word == "--ssh-option" {
                sshOptions.append(value)
            } else if values.updateValue(value, forKey: word) != nil {
                return nil
            }
            index += 2
        } else if quickRunFlags.contains(word), flags.insert(quickRunFlagNames[word] ?? word).inserted {
            index += 1
        } else {
            return nil
        }
    }
    var target = TargetOptions()
    target.ssh = values["--ssh"]
    target.sshOptions = sshOptions
    target.docker = values["--docker"]
    target.engine = values["--engine"]
    target.via = values["--via"]
    target.sudo = flags.contains("--sudo")
    target.verbose = flags.contains("--verbose")
    target.quiet = flags.contains("--quiet")
    target.compat = flags.contains("--compat")
    target.durable = flags.contains("--durable")
    var run = Run()
    run.target = target
    run.stdin = false
    run.noStdin = flags.contains("--no-stdin")
    run.stdinFile = nil
    run.user = nil
    run.group = nil
    run.umask = nil
    run.cwd = nil
    run.environmentSettings = []
    run.login = false
    run.emptyEnv = false
    run.timeout = nil
    run.noStream = false
    run.noCapture = false
    run.tty = 0
    run.command = Array(arguments[end...])   // with the `--`, as the parser captures it
    // ArgumentParser validates the option group, then the command: the same checks here,
    // and a rejection is left to the parser, which words it.
    guard (try? target.validate()) != nil, (try? run.validate()) != nil else { return nil }
    return run
}

/// The flags taken: TargetOptions' and `-n`; each long name once, short or long.
private let quickRunFlags = TargetOptions.flags.union(["-n", "--no-stdin"])
private let quickRunFlagNames = ["-v": "--verbose", "-q": "--quiet", "-n": "--no-stdin"]
