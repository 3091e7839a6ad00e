/// A `user`/`owner` field of ProcessRun or Upload, resolved as the reference's
/// `_resolve_user` does, with its messages.
func resolveUserField(_ text: String, field: String) throws(Refusal) -> UserRecord {
    // Python's getpwnam raises ValueError("embedded null byte"), which the reference passes
    // on as the message.
    if text.utf8.contains(0) { throw .invalidField(field, "embedded null byte") }
    guard let record = Accounts.resolveUser(text) else {
        throw .invalidField(field, "The user with the name '\(text)' does not exist.")
    }
    return record
}

/// A `group` field of ProcessRun or Upload (the reference's `_resolve_group`).
func resolveGroupField(_ text: String) throws(Refusal) -> GroupRecord {
    if text.utf8.contains(0) { throw .invalidField("group", "embedded null byte") }
    guard let record = Accounts.resolveGroup(text) else {
        throw .invalidField("group", "The group with the name '\(text)' does not exist.")
    }
    return record
}
