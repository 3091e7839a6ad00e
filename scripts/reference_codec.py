"""The reference's own encoder (fora==2.1.7's tunnel_dispatcher) writing into memory:
shared by the tests, the golden-bytes generator and the benchmarks."""
from fora.connectors import tunnel_dispatcher as td


class MemorySink:
    """A write/flush target that keeps what it is given."""

    def __init__(self):
        self.data = b""

    def write(self, data):
        self.data += data

    def flush(self):
        pass


def encode(*packets):
    """The bytes the reference writes for `packets`."""
    sink = MemorySink()
    conn = td.Connection(None, sink)
    for packet in packets:
        conn.write_packet(packet)
    return sink.data


def encode_value(value_type, value):
    """The bytes of one field value of `value_type` (e.g. list[str])."""
    sink = MemorySink()
    td._serialize(td.Connection(None, sink), value_type, value)  # pylint: disable=protected-access
    return sink.data
