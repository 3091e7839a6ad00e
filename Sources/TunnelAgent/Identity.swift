import CPosix
import TunnelWire

// ResolveUser, ResolveGroup, QueryUser, QueryGroup: the reference's answers and messages.

extension Session {
    func handleResolveUser() throws(WireError) {
        guard let request = try decode(ResolveUser.self) else { return }
        let user = request.user ?? String(getuid())
        guard let record = Accounts.resolveUser(user) else {
            return sendInvalid("user", "The user does not exist")
        }
        send(ResolveResult(value: record.name))
    }

    func handleResolveGroup() throws(WireError) {
        guard let request = try decode(ResolveGroup.self) else { return }
        let group = request.group ?? String(getgid())
        guard let record = Accounts.resolveGroup(group) else {
            return sendInvalid("group", "The group does not exist")
        }
        send(ResolveResult(value: record.name))
    }

    func handleQueryUser() throws(WireError) {
        guard let request = try decode(QueryUser.self) else { return }
        guard let user = Accounts.resolveUser(request.user) else {
            return sendInvalid("user", "The user does not exist")
        }
        var passwordHash: String? = nil
        if request.queryPasswordHash {
            switch Accounts.shadowHash(userName: user.name) {
            case .hash(let hash): passwordHash = hash
            case .noEntry: return sendInvalid("user", "The user has no shadow entry, or it is inaccessible.")
            case .failed(let error): return sendOSError(error)
            }
        }
        let groups = Accounts.allGroups().filter { $0.members.contains(user.name) }.map { $0.name }
        guard let primary = Accounts.group(id: user.gid) else {
            return sendInvalid("user", "The user's primary group doesn't exist")
        }
        send(UserEntry(name: user.name, uid: Int64(user.uid), group: primary.name, gid: Int64(user.gid),
                       groups: groups, passwordHash: passwordHash, gecos: user.gecos,
                       home: user.home, shell: user.shell))
    }

    func handleQueryGroup() throws(WireError) {
        guard let request = try decode(QueryGroup.self) else { return }
        guard let group = Accounts.resolveGroup(request.group) else {
            return sendInvalid("group", "The group does not exist")
        }
        send(GroupEntry(name: group.name, gid: Int64(group.gid), members: group.members))
    }
}
