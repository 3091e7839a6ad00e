/// A `user`/`owner` field of ProcessRun or Upload, resolved as the reference's
/// `_resolve_user` does, with its messages. The extensions (`bareIDs`) also take a plain
/// decimal uid that has no passwd entry, as `docker exec --user 1000` and `setpriv` do: a
/// record with no name, the uid as its gid (a user private group's number), home `/`.
func resolveUserField(_ text: String, field: String, bareIDs: Bool = false) throws(Refusal) -> UserRecord {
    // Python's getpwnam raises ValueError("embedded null byte"), which the reference passes
    // on as the message.
    if text.utf8.contains(0) { throw .invalidField(field, "embedded null byte") }
    if let record = Accounts.resolveUser(text) { return record }
    if bareIDs, let id = bareID(text) {
        return UserRecord(name: "", uid: id, gid: id, gecos: "", home: "/", shell: "/bin/sh")
    }
    throw .invalidField(field, "The user with the name '\(text)' does not exist.")
}

/// A `group` field of ProcessRun or Upload (the reference's `_resolve_group`); with
/// `bareIDs` (the extensions), a plain decimal gid without a group entry too.
func resolveGroupField(_ text: String, bareIDs: Bool = false) throws(Refusal) -> GroupRecord {
    if text.utf8.contains(0) { throw .invalidField("group", "embedded null byte") }
    let record = Accounts.resolveGroup(text)
    if record == nil, bareIDs, let id = bareID(text) { return GroupRecord(name: "", gid: id, members: []) }
    guard let record else {
        throw .invalidField("group", "The group with the name '\(text)' does not exist.")
    }
    return record
}

/// A plain decimal id, 0 to 2^32-2: ASCII digits only (not Python's int() forms such as
/// " 7" or "1_000"), and never -1/4294967295, which chown(2) reads as "leave unchanged".
private func bareID(_ text: String) -> UInt32? {
    guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    var value: UInt64 = 0
    for digit in text.utf8 { value = value * 10 + UInt64(digit - 0x30) }
    return value < UInt64(UInt32.max) ? UInt32(value) : nil
}
