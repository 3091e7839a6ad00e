"""The Makefile's test targets report what they run: a failure is a failing exit status."""
import os
import subprocess

import pytest

from harness import ROOT


def fake_swift(folder, output, status):
    """A `swift` that prints `output` and exits with `status`, first on PATH."""
    folder.mkdir(exist_ok=True)
    script = folder / "swift"
    script.write_text(f"#!/bin/sh\ncat <<'END'\n{output}\nEND\nexit {status}\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


@pytest.mark.parametrize("output, status", [
    ("Executed 3 tests, with 1 failure (0 unexpected) in 0.1 seconds", 1),
    ("==1==ERROR: AddressSanitizer: heap-use-after-free\nExecuted 3 tests, with 0 failures in 0.1 seconds", 0),
    ("x.c:3:5: runtime error: signed integer overflow\nExecuted 3 tests, with 0 failures in 0.1 seconds", 0),
], ids=["failed-test", "asan-report", "ubsan-report"])
def test_sanitize_fails_on_a_failure_or_a_report(tmp_path, output, status):
    """Issue 21: its pipelines ended in `tail`, so what they found could still exit 0."""
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "test-sanitize"], env=fake_swift(tmp_path / "bin", output, status),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout + result.stderr


def test_sanitize_passes_when_all_is_well(tmp_path):
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "test-sanitize"],
                            env=fake_swift(tmp_path / "bin", "Executed 3 tests, with 0 failures in 0.1 seconds", 0),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
