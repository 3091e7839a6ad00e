"""The protocol's packet registry, read from Sources/TunnelWire/PacketID.swift (its single
table of ids, names and directions), for the generators under scripts/ and the tests.

    from packet_registry import PACKETS   # [Packet(id, case, name, direction)], by id
"""
import re
from collections import namedtuple
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "Sources" / "TunnelWire" / "PacketID.swift"
Packet = namedtuple("Packet", "id case name direction")
DIRECTIONS = ("request", "requestWithoutAnswer", "answer")


def read(source=SOURCE):
    text = source.read_text()
    enum = text[text.index("enum PacketID"):text.index("public enum Direction")]
    ids = {}
    next_id = 0
    for line in enum.splitlines():
        line = line.strip()
        if not line.startswith("case "):
            continue
        for item in line[len("case "):].split(","):
            name, _, value = (part.strip() for part in item.partition("="))
            if value:
                next_id = int(value)
            ids[name] = next_id
            next_id += 1
    rows = re.findall(r'^\s*case \.(\w+): return \("(\w+)", \.(\w+)\)$', text, re.MULTILINE)
    packets = []
    for case, name, direction in rows:
        if direction not in DIRECTIONS:
            raise ValueError(f"{case}: unknown direction {direction}")
        packets.append(Packet(ids[case], case, name, direction))
    if sorted(p.case for p in packets) != sorted(ids):
        raise ValueError(f"{source}: the registry's rows and the enum's cases differ")
    return sorted(packets)


PACKETS = read()
BY_ID = {packet.id: packet for packet in PACKETS}
