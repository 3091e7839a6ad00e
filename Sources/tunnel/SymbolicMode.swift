/// A mode for `tunnel chmod`, as GNU chmod takes it: octal (`640`, passed to the agent as it
/// is), or symbolic clauses such as `u+x`, `go-w`, `a=rX`, `g=u`, `+t`, comma-separated,
/// applied to the current mode one after the other. One difference: a clause without
/// `ugoa` means `a`, without GNU's masking by the umask (whose umask would it be: the
/// client's or the target's?).
struct ModeChange {
    /// The mode as octal text, when it was given so.
    let octal: String?
    private let clauses: [Clause]

    private struct Clause {
        var who: UInt32   // the bits the clause may touch: 0o4700 for u, 0o2070 for g, 0o1007 for o
        var actions: [(operation: Character, permissions: [Character])]
    }

    /// nil when `text` is neither octal nor well-formed symbolic.
    init?(_ text: String) {
        if !text.isEmpty, text.count <= 4, text.allSatisfy({ ("0"..."7").contains($0) }) {
            octal = text
            clauses = []
            return
        }
        var parsed: [Clause] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var characters = Array(part)[...]
            var who: UInt32 = 0
            while let first = characters.first, "ugoa".contains(first) {
                who |= ["u": 0o4700, "g": 0o2070, "o": 0o1007, "a": 0o7777][first]!
                characters = characters.dropFirst()
            }
            var clause = Clause(who: who == 0 ? 0o7777 : who, actions: [])
            while let operation = characters.first, "+-=".contains(operation) {
                characters = characters.dropFirst()
                var permissions: [Character] = []
                while let permission = characters.first, "rwxXstugo".contains(permission) {
                    permissions.append(permission)
                    characters = characters.dropFirst()
                }
                // A copy from u, g or o stands alone, as in GNU chmod.
                if permissions.count > 1 && permissions.contains(where: { "ugo".contains($0) }) { return nil }
                clause.actions.append((operation, permissions))
            }
            guard characters.isEmpty, !clause.actions.isEmpty else { return nil }
            parsed.append(clause)
        }
        octal = nil
        clauses = parsed
    }

    /// The mode (permission bits and set-id/sticky) after the change, from `mode`.
    func applied(to mode: UInt32, isDirectory: Bool) -> UInt32 {
        if let octal { return UInt32(octal, radix: 8)! }
        var result = mode & 0o7777
        for clause in clauses {
            for (operation, permissions) in clause.actions {
                let bits = permissions.reduce(UInt32(0)) { $0 | Self.bits(of: $1, in: result, isDirectory: isDirectory) }
                    & clause.who
                switch operation {
                case "+": result |= bits
                case "-": result &= ~bits
                default: result = (result & ~clause.who) | bits
                }
            }
        }
        return result
    }

    private static func bits(of permission: Character, in mode: UInt32, isDirectory: Bool) -> UInt32 {
        switch permission {
        case "r": return 0o444
        case "w": return 0o222
        case "x": return 0o111
        case "X": return isDirectory || mode & 0o111 != 0 ? 0o111 : 0
        case "s": return 0o6000
        case "t": return 0o1000
        case "u": return ((mode >> 6) & 7) * 0o111
        case "g": return ((mode >> 3) & 7) * 0o111
        default: return (mode & 7) * 0o111   // "o"
        }
    }
}
