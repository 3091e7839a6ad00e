"""Builds dist/fora_tunnel_dispatcher-VERSION-py3-none-any.whl: the fora connector
(packaging/fora), the bootstrap snippet, and the five static agents from dist/. A wheel is a zip
with three metadata files; writing it here needs no build tools. The agents run on the
target, not here, so the wheel is for any platform."""
import base64
import hashlib
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "fora_tunnel_dispatcher"
SOURCE = ROOT / "packaging" / "fora" / PACKAGE
# The project's one version (Sources/TunnelWire/Version.swift), also written into __init__.py.
VERSION = re.search(r'projectVersion = "([^"]+)"',
                    (Path(__file__).resolve().parents[1] / "Sources/TunnelWire/Version.swift").read_text()).group(1)
AGENTS = {"x86_64": ROOT / "dist" / "tunnel-dispatcher",
          **{arch: ROOT / "dist" / f"tunnel-dispatcher-{arch}" for arch in ("aarch64", "armv7", "i686", "riscv64")}}

METADATA = f"""Metadata-Version: 2.1
Name: fora-tunnel-dispatcher
Version: {VERSION}
Summary: fora connectors tunnel-ssh, tunnel-docker, tunnel-podman: deploy to hosts and containers without Python through the static tunnel-dispatcher agent
Requires-Python: >=3.10
Requires-Dist: fora>=2.1.7,<3

Import fora_tunnel_dispatcher in an inventory, then use hosts such as tunnel-ssh://root@web1
or tunnel-podman://web.
"""
WHEEL = """Wheel-Version: 1.0
Generator: tunnel-dispatcher scripts/build-wheel.py
Root-Is-Purelib: true
Tag: py3-none-any
"""


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main(output):
    init = re.sub(r'__version__ = "[^"]*"', f'__version__ = "{VERSION}"', (SOURCE / "__init__.py").read_text())
    files = {f"{PACKAGE}/__init__.py": init.encode(),
             f"{PACKAGE}/bootstrap.sh": (ROOT / "Sources/TunnelClient/Bootstrap/bootstrap.sh").read_bytes()}
    for architecture, path in AGENTS.items():
        files[f"{PACKAGE}/agents/tunnel-dispatcher-{architecture}"] = path.read_bytes()
    info = f"{PACKAGE}-{VERSION}.dist-info"
    files[f"{info}/METADATA"] = METADATA.encode()
    files[f"{info}/WHEEL"] = WHEEL.encode()
    files[f"{info}/top_level.txt"] = f"{PACKAGE}\n".encode()
    record = [record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = Path(output) / f"{PACKAGE}-{VERSION}-py3-none-any.whl"
    partial = wheel.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED)
    partial.rename(wheel)
    print(wheel)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "dist")
