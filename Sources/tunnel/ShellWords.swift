/// `--via` and `$TUNNEL_VIA` split as a POSIX shell splits a simple command's words, without
/// running one: blanks separate words; 'single quotes' keep everything; "double quotes" keep
/// everything but \" \\ \$ \` (and a backslash-newline, dropped); a backslash outside quotes
/// keeps the next character. No expansion of any kind ($VAR, ~, globs) happens: the words are
/// the argv. nil when a quote is left open or the text ends in a lone backslash.
func shellWords(_ text: String) -> [String]? {
    var words: [String] = []
    var word = ""
    var inWord = false
    var characters = text.makeIterator()
    while let character = characters.next() {
        switch character {
        case " ", "\t", "\n":
            if inWord { words.append(word) }
            word = ""
            inWord = false
        case "'":
            inWord = true
            while true {
                guard let next = characters.next() else { return nil }
                if next == "'" { break }
                word.append(next)
            }
        case "\"":
            inWord = true
            while true {
                guard let next = characters.next() else { return nil }
                if next == "\"" { break }
                if next == "\\" {
                    guard let escaped = characters.next() else { return nil }
                    if escaped == "\n" { continue }
                    if !"\"\\$`".contains(escaped) { word.append("\\") }
                    word.append(escaped)
                } else {
                    word.append(next)
                }
            }
        case "\\":
            guard let escaped = characters.next() else { return nil }
            if escaped == "\n" { continue }
            inWord = true
            word.append(escaped)
        default:
            inWord = true
            word.append(character)
        }
    }
    if inWord { words.append(word) }
    return words
}

/// The `--via` command or `$TUNNEL_VIA` found in `arguments` that does not split (an open
/// quote): a usage error, reported before anything starts.
func malformedViaCommand(_ arguments: [String], environment: String?) -> String? {
    var candidates: [String] = environment.map { [$0] } ?? []
    for (index, word) in arguments.enumerated() {
        if word == "--" { break }
        if word == "--via", index + 1 < arguments.count { candidates.append(arguments[index + 1]) }
        if word.hasPrefix("--via=") { candidates.append(String(word.dropFirst("--via=".count))) }
    }
    return candidates.first { shellWords($0) == nil }
}
