import TunnelWire

/// Upload → Ok. The content streams from the protocol into a FileReplacement prepared as
/// soon as the target's name has arrived (System/FileReplacement.swift: descriptors only,
/// the kernel's own link rules, atomic where it can be, in place where it must). Only when
/// every field has been read and validated, in the reference's order (mode, owner, group),
/// is it committed; any failure before leaves the old file untouched and nothing behind.
enum UploadHandler: RequestHandler {
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> Upload<FileReplacement> {
        try Upload<FileReplacement>.decodeFields(from: &input) { (input, file, length) throws(WireError) in
            var replacement = FileReplacement(target: file)
            if context.pendingUploads.contains(targetOf: replacement) {
                // The same file again: the earlier upload must be in place before this one
                // opens what it replaces.
                context.pendingUploads.complete()
                replacement = FileReplacement(target: file)
            }
            try input.streamPayload(length: length) { replacement.append($0) }
            return replacement
        }
    }

    static func answer(_ request: Upload<FileReplacement>, in context: SessionContext) throws(Refusal) -> Answer {
        _ = try systemPath(request.file, field: "file")
        let metadata = try requestedMetadata(mode: request.mode, owner: request.owner, group: request.group)
        return try commit(request.content, metadata, file: request.file, in: context)
    }

    /// The fields parsed and resolved in the reference's order (mode, owner, group), each
    /// refusal its InvalidField. `owner` also sets the group to the owner's primary one.
    /// `bareIDs` (UploadBeneath, an extension) also takes ids without an entry, as chown does.
    static func requestedMetadata(mode: String?, owner: String?, group: String?,
                                  bareIDs: Bool = false) throws(Refusal) -> RequestedMetadata {
        var metadata = RequestedMetadata()
        if let mode { metadata.mode = try modeField(mode) }
        if let owner {
            let user = try resolveUserField(owner, field: "owner", bareIDs: bareIDs)
            metadata.uid = user.uid
            metadata.gid = user.gid
        }
        if let group {
            metadata.gid = try resolveGroupField(group, bareIDs: bareIDs).gid
        }
        return metadata
    }

    /// Puts a received upload in place with `metadata` (UploadBeneath shares it): at once,
    /// or in durable mode as part of the pending group.
    static func commit(_ replacement: FileReplacement, _ metadata: RequestedMetadata, file: String,
                       in context: SessionContext) throws(Refusal) -> Answer {
        do throws(UploadFailure) {
            if context.durability == .synced {
                guard try replacement.prepare(metadata, durability: .synced) else { return .ok }
                context.pendingUploads.add(replacement, file: file)
                return .uploadPending
            }
            try replacement.commit(metadata, durability: context.durability)
        } catch {
            throw .osError(error.errno, path: error.namesFile ? file : nil)
        }
        return .ok
    }
}
