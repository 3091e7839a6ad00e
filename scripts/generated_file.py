"""How every generator under scripts/ writes its output: to the committed file (or to the
path given as its argument), or, with `--check`, only compares and exits 1 naming what is
stale, so that the tests can tell when a generator's input changed without a new output."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK = "--check" in sys.argv[1:]
_ARGUMENTS = [argument for argument in sys.argv[1:] if argument != "--check"]
_stale = []


def target(default):
    """The output path: the argument given, else `default` (relative to the repository)."""
    return Path(_ARGUMENTS[0]) if _ARGUMENTS else ROOT / default


def emit(path, content):
    """Writes `content` (str or bytes) to `path`; with --check, records it if it differs."""
    data = content.encode() if isinstance(content, str) else content
    if not CHECK:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    elif not path.exists() or path.read_bytes() != data:
        _stale.append(path)


def finish(generator):
    """With --check, exits 1 when anything was stale."""
    if _stale:
        names = ", ".join(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path) for path in _stale[:5])
        sys.exit(f"stale ({len(_stale)}): {names}: run scripts/{generator}")
