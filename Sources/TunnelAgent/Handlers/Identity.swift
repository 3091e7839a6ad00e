import TunnelWire

// ResolveUser, ResolveGroup, QueryUser, QueryGroup: the reference's answers and messages,
// from the account databases (System/Accounts.swift).

/// ResolveUser → ResolveResult: the canonical name of a user name or uid (absent: our own).
enum ResolveUserHandler: RequestHandler {
    static func answer(_ request: ResolveUser, in context: SessionContext) throws(Refusal) -> Answer {
        guard let record = Accounts.resolveUser(request.user ?? String(Accounts.ownUserID)) else {
            throw .invalidField("user", "The user does not exist")
        }
        return .resolveResult(ResolveResult(value: record.name))
    }
}

/// ResolveGroup → ResolveResult.
enum ResolveGroupHandler: RequestHandler {
    static func answer(_ request: ResolveGroup, in context: SessionContext) throws(Refusal) -> Answer {
        guard let record = Accounts.resolveGroup(request.group ?? String(Accounts.ownGroupID)) else {
            throw .invalidField("group", "The group does not exist")
        }
        return .resolveResult(ResolveResult(value: record.name))
    }
}

/// QueryUser → UserEntry, with the shadow hash when asked.
enum QueryUserHandler: RequestHandler {
    static func answer(_ request: QueryUser, in context: SessionContext) throws(Refusal) -> Answer {
        guard let user = Accounts.resolveUser(request.user) else {
            throw .invalidField("user", "The user does not exist")
        }
        var passwordHash: String? = nil
        if request.queryPasswordHash {
            switch Accounts.shadowHash(userName: user.name) {
            case .hash(let hash): passwordHash = hash
            case .noEntry: throw .invalidField("user", "The user has no shadow entry, or it is inaccessible.")
            case .failed(let error): throw .osError(error, path: nil)
            }
        }
        let groups = Accounts.groupNames(listing: user.name)
        guard let primary = Accounts.group(id: user.gid) else {
            throw .invalidField("user", "The user's primary group doesn't exist")
        }
        return .userEntry(UserEntry(name: user.name, uid: Int64(user.uid), group: primary.name, gid: Int64(user.gid),
                                    groups: groups, passwordHash: passwordHash, gecos: user.gecos,
                                    home: user.home, shell: user.shell))
    }
}

/// QueryGroup → GroupEntry.
enum QueryGroupHandler: RequestHandler {
    static func answer(_ request: QueryGroup, in context: SessionContext) throws(Refusal) -> Answer {
        guard let group = Accounts.resolveGroup(request.group) else {
            throw .invalidField("group", "The group does not exist")
        }
        return .groupEntry(GroupEntry(name: group.name, gid: Int64(group.gid), members: group.members))
    }
}
