# SPDX-License-Identifier: MIT
"""CTF 1.8 through `ctflive view` against babeltrace2 2.1.2 run at test time.

ctflive prints CTF 1.8 as babeltrace2 2.1.2 does. Every CTF 1.8 fixture trace
(`fixtures/ctf-traces`, `fixtures/relay-output`) is printed by babeltrace2
2.1.2 of the Debian sid root of the integration tests (tests/integration/
sidroot.py) and by ctflive, with the same relative paths: stdout byte for byte, the
discarded-items warnings (`(UID: …)` where 2.0.4 printed `(UUID: …)`) and the
exit status must agree (test_view_diff.py checks the same traces
against the recorded 2.0.4 outputs, which these equal). Then the two ways
2.1.2 prints CTF 1.8 differently from 2.0.4, on TSDL traces written here:
enumeration values matching several labels (`{ "Z", "WARM", "RED" }` in
2.1.2's label order) and empty strings after non-empty ones. Skipped, with the
reason, when the sid root is not there.
"""
from __future__ import annotations

import os
import pathlib
import shlex
import struct
import subprocess
import sys

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build"))
FIXTURES = pathlib.Path(os.environ.get("CTFLIVE_FIXTURES_DIR", "../shared/fixtures")).resolve()
CTFLIVE = (BUILD / "src" / "cli" / "ctflive").resolve()


def _traces():
    out = []
    for s in ("succeed", "intersection", "packet_seq_num", "deterministic-ordering", "fail"):
        d = FIXTURES / "ctf-traces" / s
        if d.is_dir():
            out += sorted(f"ctf-traces/{s}/{p.name}" for p in d.iterdir() if p.is_dir())
    d = FIXTURES / "relay-output"
    if d.is_dir():
        out += sorted(f"relay-output/{p.name}" for p in d.iterdir() if p.is_dir())
    return out


TRACES = _traces()


def _sid_root():
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "integration"))
    try:
        import sidroot
    finally:
        sys.path.pop(0)
    return sidroot.ready_root(namespace=True)


def _bt212_dir(root, directory: pathlib.Path, names, opts=()):
    """{name: (stdout, exit status)} of babeltrace2 2.1.2 run in `directory`
    (bind-mounted into the sid root) on each relative name."""
    mnt = f"/tmp/ctflive-ctf18-{os.getpid()}"
    inner = "; ".join(
        f"echo '#@{n}'; babeltrace2 {' '.join(map(shlex.quote, opts))} {shlex.quote(n)} "
        f"2>/tmp/bt212.err; rc=$?; grep '^WARNING: Tracer' /tmp/bt212.err | sed 's/^/#@w/'; "
        f"echo \"#@rc $rc\"" for n in names)
    script = (f"mkdir -p {root}{mnt} && mount --bind {shlex.quote(str(directory))} {root}{mnt}"
              f" && TZ=UTC chroot {root} sh -c {shlex.quote(f'cd {mnt} && {inner}')}")
    try:
        p = subprocess.run(["unshare", "-m", "sh", "-c", script], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=900)
    finally:
        try:
            os.rmdir(f"{root}{mnt}")
        except OSError:
            pass
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    out: dict[str, tuple[bytes, int, list[str]]] = {}
    name, buf, warn = None, b"", []
    for line in p.stdout.splitlines(keepends=True):
        if line.startswith(b"#@rc "):
            out[name] = (buf, int(line[5:]), warn)
        elif line.startswith(b"#@w"):
            # stream paths relative to the directory given
            warn.append(line[3:].decode(errors="replace").rstrip("\n").replace(mnt + "/", ""))
        elif line.startswith(b"#@"):
            name, buf, warn = line[2:].strip().decode(), b"", []
        else:
            buf += line
    return out


def _ctflive(cwd, name, *opts):
    env = dict(os.environ, TZ="UTC")
    env.pop("BABELTRACE_TERM_COLOR", None)
    return subprocess.run([str(CTFLIVE), "view", *opts, name], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


@pytest.fixture(scope="module")
def root():
    if not CTFLIVE.exists():
        pytest.skip(f"{CTFLIVE} not built")
    r, why = _sid_root()
    if r is None:
        pytest.skip(why)
    return r


@pytest.fixture(scope="module")
def fixture_outputs(root):
    if not TRACES:
        pytest.skip(f"CTF 1.8 fixtures not found at {FIXTURES}")
    return _bt212_dir(root, FIXTURES, TRACES)


@pytest.mark.parametrize("trace", TRACES)
def test_fixture_vs_babeltrace212(fixture_outputs, trace):
    exp, rc, warn = fixture_outputs[trace]
    p = _ctflive(FIXTURES, trace)
    assert p.returncode == rc, p.stderr.decode(errors="replace")
    assert [line.replace(str(FIXTURES) + "/", "")
            for line in p.stderr.decode(errors="replace").splitlines()
            if line.startswith("WARNING: Tracer")] == warn
    if p.stdout != exp:
        got, want = p.stdout.decode(errors="replace").splitlines(), exp.decode(
            errors="replace").splitlines()
        for i, (a, b) in enumerate(zip(got, want)):
            assert a == b, f"first difference at line {i + 1}"
        assert len(got) == len(want), "different number of lines"


TSDL_HEAD = """/* CTF 1.8 */
trace { major = 1; minor = 8; byte_order = le; };
typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
typealias integer { size = 16; align = 8; signed = true; } := int16_t;
typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
stream { packet.context := struct { uint32_t packet_size; uint32_t content_size; }; };
"""


def _write_tsdl(d: pathlib.Path, fields: str, body: bytes):
    d.mkdir(parents=True)
    (d / "metadata").write_text(TSDL_HEAD + 'event { name = "ev"; fields := struct { '
                                + fields + " }; };\n")
    n = 8 + len(body)
    (d / "stream").write_bytes(struct.pack("<II", n * 8, n * 8) + body)


def _tsdl_traces(base: pathlib.Path):
    labels = ["M", "B", "Q", "A", "X", "C", "RED", "GREEN", "blue", "a1", "a2", "Zz_9", "_x",
              "WARM", "w\\\"q"]
    enum = ", ".join(f'"{lab}" = 1' for lab in labels)
    _write_tsdl(base / "labels", f"enum : uint8_t {{ {enum}, ZERO = 0, \"TWO\" = 2 ... 3 }} e;",
                bytes([1, 0, 2, 9]))
    _write_tsdl(base / "ranges",
                "enum : uint8_t { RED = 0 ... 2, WARM = 1 ... 5, Z = 1, RED = 7 } e; "
                "enum : int16_t { NEG = -300 ... -1, MINUS_ONE = -1, ONE = 1, POS = 1 ... 300 } s;",
                b"".join(bytes([v]) + struct.pack("<h", s)
                         for v, s in ((1, -1), (4, 1), (7, 0), (9, -300))))
    # empty strings after non-empty ones (2.0.4 could print the stale value)
    _write_tsdl(base / "strings", "string a; uint8_t n; uint8_t t[n]; string b;",
                b"abc\0\3xyzq\0" + b"\0\0\0" + b"\0\1\0\0")
    return ["labels", "ranges", "strings"]


def test_tsdl_2_1_differences(root, tmp_path):
    names = _tsdl_traces(tmp_path)
    bt = _bt212_dir(root, tmp_path, names)
    for n in names:
        exp, rc, _ = bt[n]
        assert rc == 0, n
        p = _ctflive(tmp_path, n)
        assert p.returncode == 0 and p.stdout == exp, (n, p.stdout, exp)
    # what makes them 2.1's: several labels in braces, and "" after "abc"
    assert b'{ "' in bt["labels"][0] and b'b = ""' in bt["strings"][0]
