// Users, groups and the environment.

/// Request: canonical name of a user given by name or decimal uid; nil means the agent's own uid.
public struct ResolveUser: DecodablePacket, Equatable {
    public static let id = PacketID.resolveUser
    public var user: String?
    public init(user: String?) { self.user = user }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeOptionalString(user) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ResolveUser {
        ResolveUser(user: try reader.readOptionalString(field: "user"))
    }
}

/// Request: canonical name of a group given by name or decimal gid; nil means the agent's own gid.
public struct ResolveGroup: DecodablePacket, Equatable {
    public static let id = PacketID.resolveGroup
    public var group: String?
    public init(group: String?) { self.group = group }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeOptionalString(group) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ResolveGroup {
        ResolveGroup(group: try reader.readOptionalString(field: "group"))
    }
}

/// Answer to `ResolveUser` / `ResolveGroup`.
public struct ResolveResult: DecodablePacket, Equatable {
    public static let id = PacketID.resolveResult
    public var value: String
    public init(value: String) { self.value = value }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeString(value) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ResolveResult {
        ResolveResult(value: try reader.readString(field: "value"))
    }
}

/// Request: the passwd entry of a user (by name or decimal uid), optionally with its shadow hash.
public struct QueryUser: DecodablePacket, Equatable {
    public static let id = PacketID.queryUser
    public var user: String
    public var queryPasswordHash: Bool
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
    public var name: String
    public var uid: Int64
    /// Name of the primary group.
    public var group: String
    public var gid: Int64
    /// Every group whose member list names the user, in `/etc/group` order.
    public var groups: [String]
    public var passwordHash: String?
    public var gecos: String
    public var home: String
    public var shell: String

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
    public var group: String
    public init(group: String) { self.group = group }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeString(group) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> QueryGroup {
        QueryGroup(group: try reader.readString(field: "group"))
    }
}

/// Answer to `QueryGroup`.
public struct GroupEntry: DecodablePacket, Equatable {
    public static let id = PacketID.groupEntry
    public var name: String
    public var gid: Int64
    public var members: [String]
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
    public var key: String
    public init(key: String) { self.key = key }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeString(key) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Getenv {
        Getenv(key: try reader.readString(field: "key"))
    }
}

/// Answer to `Getenv`; nil when unset.
public struct EnvironVar: DecodablePacket, Equatable {
    public static let id = PacketID.environVar
    public var value: String?
    public init(value: String?) { self.value = value }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeOptionalString(value) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> EnvironVar {
        EnvironVar(value: try reader.readOptionalString(field: "value"))
    }
}
