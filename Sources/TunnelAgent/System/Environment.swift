import CPosix

/// The agent's own environment.
enum Environment {
    /// The value of `key`; a key holding `=` or a NUL byte names no variable.
    static func value(of key: String) -> String? {
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
}
