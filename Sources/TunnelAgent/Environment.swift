import CPosix
import TunnelWire

extension Session {
    /// The agent's own environment, as Python's `os.getenv` sees it: a key holding `=` or
    /// a NUL byte names no variable.
    func handleGetenv() throws(WireError) {
        guard let request = try decode(Getenv.self) else { return }
        send(EnvironVar(value: environmentValue(request.key)))
    }
}

func environmentValue(_ key: String) -> String? {
    let keyBytes = Array(key.utf8)
    if keyBytes.contains(0) || keyBytes.contains(UInt8(ascii: "=")) { return nil }
    var index = 0
    while let entry = tp_environ_entry(index) {
        index += 1
        // Compare "key=" against the start of the entry without copying the entry.
        var matches = true
        var position = 0
        while position < keyBytes.count {
            if UInt8(bitPattern: entry[position]) != keyBytes[position] { matches = false; break }
            position += 1
        }
        if matches && entry[position] == CChar(UInt8(ascii: "=")) {
            return cString(entry + position + 1)
        }
    }
    return nil
}
