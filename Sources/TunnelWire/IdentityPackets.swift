// Users, groups and the environment.

/// Request: canonical name of a user given by name or decimal uid; nil means the agent's own uid.
public struct ResolveUser: DecodablePacket, Equatable {
    public static let id = PacketID.resolveUser
    /// A user name or number; absent: the agent's own user.
    public var user: String?
    /// A ResolveUser request for `user`.
    public init(user: String?) { self.user = user }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeOptionalString(user) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ResolveUser {
        ResolveUser(user: try reader.readOptionalString(field: "user"))
    }
}

/// Request: canonical name of a group given by name or decimal gid; nil means the agent's own gid.
public struct ResolveGroup: DecodablePacket, Equatable {
    public static let id = PacketID.resolveGroup
    /// A group name or number; absent: the agent's own group.
    public var group: String?
    /// A ResolveGroup request for `group`.
    public init(group: String?) { self.group = group }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeOptionalString(group) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ResolveGroup {
        ResolveGroup(group: try reader.readOptionalString(field: "group"))
    }
}

/// Answer to `ResolveUser` / `ResolveGroup`.
public struct ResolveResult: DecodablePacket, Equatable {
    public static let id = PacketID.resolveResult
    /// The resolved name.
    public var value: String
    /// The answer carrying `value`.
    public init(value: String) { self.value = value }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeString(value) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ResolveResult {
        ResolveResult(value: try reader.readString(field: "value"))
    }
}

/// Request: the passwd entry of a user (by name or decimal uid), optionally with its shadow hash.
public struct QueryUser: DecodablePacket, Equatable {
    public static let id = PacketID.queryUser
    /// A user name or number.
    public var user: String
    /// Whether to include the shadow password hash (needs root on the target).
    public var queryPasswordHash: Bool
    /// A QueryUser request with these fields.
    public init(user: String, queryPasswordHash: Bool = false) {
        self.user = user
        self.queryPasswordHash = queryPasswordHash
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(user)
        writer.writeBool(queryPasswordHash)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> QueryUser {
        QueryUser(user: try reader.readString(field: "user"), queryPasswordHash: try reader.readBool())
    }
}

/// Answer to `QueryUser`.
public struct UserEntry: DecodablePacket, Equatable {
    public static let id = PacketID.userEntry
    /// The user's name.
    public var name: String
    /// The user's number.
    public var uid: Int64
    /// Name of the primary group.
    public var group: String
    /// The primary group's number.
    public var gid: Int64
    /// Every group whose member list names the user, in `/etc/group` order.
    public var groups: [String]
    /// The shadow password hash, when asked for and readable.
    public var passwordHash: String?
    /// The GECOS field (usually the full name).
    public var gecos: String
    /// The home directory.
    public var home: String
    /// The login shell.
    public var shell: String

    /// A UserEntry with these fields.
    public init(name: String, uid: Int64, group: String, gid: Int64, groups: [String],
                passwordHash: String?, gecos: String, home: String, shell: String) {
        self.name = name
        self.uid = uid
        self.group = group
        self.gid = gid
        self.groups = groups
        self.passwordHash = passwordHash
        self.gecos = gecos
        self.home = home
        self.shell = shell
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(name)
        writer.writeI64(uid)
        writer.writeString(group)
        writer.writeI64(gid)
        writer.writeStringList(groups)
        writer.writeOptionalString(passwordHash)
        writer.writeString(gecos)
        writer.writeString(home)
        writer.writeString(shell)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> UserEntry {
        UserEntry(name: try reader.readString(field: "name"),
                  uid: try reader.readI64(),
                  group: try reader.readString(field: "group"),
                  gid: try reader.readI64(),
                  groups: try reader.readStringList(field: "groups"),
                  passwordHash: try reader.readOptionalString(field: "password_hash"),
                  gecos: try reader.readString(field: "gecos"),
                  home: try reader.readString(field: "home"),
                  shell: try reader.readString(field: "shell"))
    }
}

/// Request: a group entry by name or decimal gid.
public struct QueryGroup: DecodablePacket, Equatable {
    public static let id = PacketID.queryGroup
    /// A group name or number.
    public var group: String
    /// A QueryGroup request for `group`.
    public init(group: String) { self.group = group }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeString(group) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> QueryGroup {
        QueryGroup(group: try reader.readString(field: "group"))
    }
}

/// Answer to `QueryGroup`.
public struct GroupEntry: DecodablePacket, Equatable {
    public static let id = PacketID.groupEntry
    /// The group's name.
    public var name: String
    /// The group's number.
    public var gid: Int64
    /// The users its member list names, in `/etc/group` order.
    public var members: [String]
    /// A GroupEntry with these fields.
    public init(name: String, gid: Int64, members: [String]) {
        self.name = name
        self.gid = gid
        self.members = members
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(name)
        writer.writeI64(gid)
        writer.writeStringList(members)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> GroupEntry {
        GroupEntry(name: try reader.readString(field: "name"),
                   gid: try reader.readI64(),
                   members: try reader.readStringList(field: "members"))
    }
}

/// Request: the agent's environment variable `key`.
public struct Getenv: DecodablePacket, Equatable {
    public static let id = PacketID.getenv
    /// The variable's name.
    public var key: String
    /// A Getenv request for `key`.
    public init(key: String) { self.key = key }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeString(key) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Getenv {
        Getenv(key: try reader.readString(field: "key"))
    }
}

/// Answer to `Getenv`; nil when unset.
public struct EnvironVar: DecodablePacket, Equatable {
    public static let id = PacketID.environVar
    /// The variable's value in the agent's environment; absent when unset.
    public var value: String?
    /// The answer carrying `value`.
    public init(value: String?) { self.value = value }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeOptionalString(value) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> EnvironVar {
        EnvironVar(value: try reader.readOptionalString(field: "value"))
    }
}
