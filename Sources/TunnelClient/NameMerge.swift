#if canImport(Glibc)
import Glibc
#endif
import TunnelWire

// Matching a local folder's names with the remote listing of the same folder, as a merge of
// two lists in byte order rather than with a dictionary: Swift hashes a [UInt8] key byte by
// byte, and a push with nothing to change spent most of its CPU hashing names (each looked
// up several times per entry: docs/performance.md, "tunnel sync's CPU").

/// Whether `a` sorts before `b` as bytes (unsigned, a prefix first): the order of
/// `LocalPath.entries()`, with memcmp doing the work.
func bytesPrecede(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    let common = min(a.count, b.count)
    guard common > 0 else { return a.count < b.count }
    let order = a.withUnsafeBytes { left in b.withUnsafeBytes { right in memcmp(left.baseAddress!, right.baseAddress!, common) } }
    return order != 0 ? order < 0 : a.count < b.count
}

/// The positions of `entries` in the byte order of their names. The agent lists in
/// readdir's order: positions are sorted, not copies of the entries (each copy retains
/// and releases its name and its status's strings).
func byteOrder(_ entries: [DirEntry]) -> [Int] {
    entries.withUnsafeBufferPointer { entries in entries.indices.sorted { bytesPrecede(entries[$0].name, entries[$1].name) } }
}

/// For each of `names` (sorted as bytes, each once, as `LocalPath.entries()` gives them),
/// its entry in `listed` (nil: none); and the entries of `listed` that no name has, in byte
/// order. `listed` comes in the agent's order with each name once (`checkedEntries`).
func pairedByName(_ names: [[UInt8]], _ listed: [DirEntry]) -> (matches: [DirEntry?], unmatched: [DirEntry]) {
    var matches = [DirEntry?](repeating: nil, count: names.count)
    guard !listed.isEmpty else { return (matches, []) }
    var unmatched: [DirEntry] = []
    var next = 0
    for position in byteOrder(listed) {
        let entry = listed[position]
        while next < names.count && bytesPrecede(names[next], entry.name) { next += 1 }
        if next < names.count && names[next] == entry.name {
            matches[next] = entry
            next += 1
        } else {
            unmatched.append(entry)
        }
    }
    return (matches, unmatched)
}

/// A name or path as a Set or Dictionary key, hashed as one block of bytes: a plain
/// [UInt8] key is hashed one byte at a time (a Hasher call per byte), which made checking
/// each listing for repeated names a noticeable part of a sync's CPU.
struct ByteKey: Hashable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.count)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (left: ByteKey, right: ByteKey) -> Bool { left.bytes == right.bytes }
}

extension DirEntry {
    /// Whether it is listed as a folder: `fileType == .directory`, without matching its type
    /// against every word FileType knows, for each entry of each listing.
    var isFolder: Bool { type == FileType.directory.rawValue }
}
