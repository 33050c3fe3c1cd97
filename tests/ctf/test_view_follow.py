# SPDX-License-Identifier: MIT
"""`ctflive view DIR` and `ctflive follow DIR` on a finished trace directory
give the same events, warnings and errors: the same stdout (byte for byte,
text and JSON), the same stderr lines (babeltrace2's discarded-items
warnings, metadata warnings, the error), the same exit status. Both read
through libctflive's iterator and the one merger (include/ctflive/iter.h,
merge.h). A directory that ctflive-relayd is not writing (no session marker,
or a marker no longer locked) is read by `follow` exactly as `view` reads it,
whatever indexes it has; the only extra line of `follow` is its notice that
the directory has no session marker.

Cases: fixture traces with indexes (one with discarded events, tracefile
rotation, session rotation), directories recorded by relays, a copy with
corrupt timestamps (an event older than one printed: both stop with the
same error after the same events), and a copy with packets lost in transit,
in the middle of a stream and after its last packet.
"""
import os
import pathlib
import shutil
import struct
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build"))
FIXTURES = pathlib.Path(os.environ.get("CTFLIVE_FIXTURES_DIR", "../shared/fixtures")).resolve()
CTFLIVE = BUILD / "src" / "cli" / "ctflive"

INDEXED = [FIXTURES / "ctf-traces" / "succeed" / n for n in
           ("trace-with-index", "multi-domains", "lttng-tracefile-rotation", "session-rotation")]
RELAY = sorted(p for p in (FIXTURES / "relay-output").glob("*") if p.is_dir())
ENTRY = struct.Struct(">QQQQQQQQQ")  # index 1.1 entry, 72 bytes


@pytest.fixture(scope="module", autouse=True)
def _need_binary():
    if not CTFLIVE.exists():
        pytest.skip(f"{CTFLIVE} not built")
    if not FIXTURES.is_dir():
        pytest.skip(f"fixtures not found at {FIXTURES}")


def _run(cmd, trace, *opts):
    env = dict(os.environ, TZ="UTC", LANG="C")
    env.pop("BABELTRACE_TERM_COLOR", None)
    return subprocess.run([str(CTFLIVE), cmd, *opts, str(trace)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


def _stderr_lines(p):
    return [l for l in p.stderr.decode(errors="replace").splitlines()
            if "no session marker" not in l]


def same(trace, *opts):
    v = _run("view", trace, *opts)
    f = _run("follow", trace, *opts)
    assert f.returncode == v.returncode, f.stderr
    if f.stdout != v.stdout:
        a, b = v.stdout.splitlines(), f.stdout.splitlines()
        for i, (x, y) in enumerate(zip(a, b)):
            assert x == y, f"first difference at line {i + 1}"
        assert len(a) == len(b), f"view printed {len(a)} lines, follow {len(b)}"
    assert _stderr_lines(f) == _stderr_lines(v)
    return v


@pytest.mark.parametrize("trace", INDEXED + RELAY, ids=lambda p: getattr(p, "name", str(p)))
def test_same_output(trace):
    if not trace.is_dir():
        pytest.skip(f"{trace} missing")
    v = same(trace)
    assert v.returncode == 0 and v.stdout


# Every other fixture trace, without indexes too, and those that must fail.
OTHERS = sorted(p for sub in ("succeed", "fail")
                for p in (FIXTURES / "ctf-traces" / sub).glob("*")
                if p.is_dir() and p not in INDEXED)


@pytest.mark.parametrize("trace", OTHERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_same_output_all_fixtures(trace):
    v = same(trace)
    if trace.parent.name == "fail":
        assert v.returncode != 0


def test_same_json_and_discarded_events():
    trace = FIXTURES / "ctf-traces" / "succeed" / "multi-domains"
    if not trace.is_dir():
        pytest.skip("fixture missing")
    v = same(trace)
    assert b"WARNING: Tracer discarded" in v.stderr
    same(trace, "--json")


def test_same_error_on_corrupt_timestamps(tmp_path):
    """One flipped bit of a compact timestamp: the stream's clock jumps
    ahead, the next packet's events are older than events printed. Both
    stop there with the same error (babeltrace2's muxer does too)."""
    src = FIXTURES / "ctf-traces" / "succeed" / "trace-with-index"
    if not src.is_dir():
        pytest.skip("fixture missing")
    dst = tmp_path / "t"
    shutil.copytree(src, dst)
    f = dst / "ust_channel_3"
    data = bytearray(f.read_bytes())
    data[15257] = 127
    f.write_bytes(bytes(data))
    v = same(dst)
    assert v.returncode == 1
    assert b"earlier than the previous event" in v.stderr and v.stdout


def test_same_lost_packets(tmp_path):
    """Index entries with an all-ones offset (packets lost in transit): one
    in the middle of a stream (a packet_seq_num gap) and two after its last
    packet (reported when the stream ends, by both)."""
    src = FIXTURES / "relay-output" / "rrlive1-20261129-105018"
    if not src.is_dir():
        pytest.skip("relay fixture missing")
    dst = tmp_path / "t"
    shutil.copytree(src, dst)
    tdir = dst / "ust" / "uid" / "0" / "64-bit"
    ipath = tdir / "index" / "channel0_1.idx"
    idx = ipath.read_bytes()
    data = (tdir / "channel0_1").read_bytes()
    _, _, minor, elen = struct.unpack(">IIII", idx[:16])
    assert minor == 1 and elen == ENTRY.size
    entries = [list(ENTRY.unpack_from(idx, 16 + i * elen))
               for i in range((len(idx) - 16) // elen)]
    assert len(entries) >= 3
    victim = entries[1]
    off, size = victim[0], victim[1] // 8
    (tdir / "channel0_1").write_bytes(data[:off] + data[off + size:])
    victim[0] = 2**64 - 1
    for e in entries[2:]:
        e[0] -= size
    last = entries[-1]
    for k in (1, 2):
        tail = list(last)
        tail[0] = 2**64 - 1
        tail[3] = last[4] + (k - 1) * 1000
        tail[4] = last[4] + k * 1000
        tail[8] = last[8] + k
        entries.append(tail)
    ipath.write_bytes(idx[:16] + b"".join(ENTRY.pack(*e) for e in entries))

    v = same(dst)
    assert v.returncode == 0
    warn = [l for l in v.stderr.decode().splitlines() if l.startswith("WARNING: Tracer")]
    assert len(warn) == 2, warn
    assert "discarded 1 packet " in warn[0] and "discarded 2 packets " in warn[1], warn
    j = same(dst, "--json")
    assert j.stdout.count(b'"lost_in_transit":true') == 2, j.stdout[-2000:]
