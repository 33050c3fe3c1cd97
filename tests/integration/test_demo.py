# SPDX-License-Identifier: MIT
"""scripts/demo.sh checks its arguments before doing anything: a bad or
missing value is one line on stderr and exit status 2. The script runs with
a `cmake` that fails at once on PATH, so that a check that lets a bad value
through fails fast instead of building and running the demo."""

import os
import subprocess

import pytest

import lttng_harness as h


@pytest.mark.parametrize("args, message", [
    (["--events", "abc"], "--events must be a positive integer, not 'abc'"),
    (["--events", "0"], "--events must be a positive integer"),
    (["--events", "-5"], "--events must be a positive integer"),
    (["--events", "99999999999999999999"], "--events must be a positive integer"),
    (["--events"], "option '--events' requires a value"),
    (["--interval-ms", "1.5"], "--interval-ms must be an integer"),
    (["--interval-ms"], "option '--interval-ms' requires a value"),
    (["--viewer"], "option '--viewer' requires a value"),
    (["--viewer", "gdb"], "--viewer must be babeltrace2 or ctflive, not 'gdb'"),
    (["--bogus"], "unknown option '--bogus'"),
])
def test_demo_usage_errors(tmp_path, args, message):
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "cmake").write_text("#!/bin/sh\necho 'cmake stub: argument check missed' >&2\n"
                                "exit 97\n")
    (stub / "cmake").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    r = subprocess.run(["bash", str(h.source_dir() / "scripts" / "demo.sh"), "--no-install",
                        *args], capture_output=True, text=True, env=env, timeout=30,
                       stdin=subprocess.DEVNULL)
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and len(lines) == 1, \
        f"exit {r.returncode}, want 2 and one line; stderr:\n{r.stderr}"
    assert lines[0].startswith("demo.sh: ") and message in lines[0], lines[0]
    assert r.stdout == ""
