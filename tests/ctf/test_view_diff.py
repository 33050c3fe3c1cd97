# SPDX-License-Identifier: MIT
"""Differential test of `ctflive view` against babeltrace2 2.0.4 oracle outputs.

Every trace of the shared fixtures comes with `<name>.expect.{txt,err,rc}`
produced by `TZ=UTC babeltrace2 <dir>` run from the directory above
`fixtures/` with relative paths. We run `ctflive view` the same way and
require: byte-identical stdout, the same exit status, the same
`WARNING: Tracer discarded ...` lines (absolute paths made relative the same
way the oracle files were), and a metadata warning for every metadata line
babeltrace2 warned about. Traces of the `fail` set must exit 1 with a clear
`error:` message, print exactly the events babeltrace2 printed before
failing, and never crash.
"""
import os
import pathlib
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build"))
FIXTURES = pathlib.Path(os.environ.get("CTFLIVE_FIXTURES_DIR", "../shared/fixtures")).resolve()
CTFLIVE = BUILD / "src" / "cli" / "ctflive"
ROOT = FIXTURES.parent  # babeltrace2 was run from here

GOOD_SETS = ["succeed", "intersection", "packet_seq_num", "deterministic-ordering"]


def _traces(sets):
    out = []
    for s in sets:
        d = FIXTURES / "ctf-traces" / s
        if d.is_dir():
            out += sorted(p for p in d.iterdir() if p.is_dir())
    return out


GOOD = _traces(GOOD_SETS)
RELAY = sorted(p for p in (FIXTURES / "relay-output").glob("*") if p.is_dir())
FAIL = _traces(["fail"])


def _run(trace, *opts):
    env = dict(os.environ, TZ="UTC")
    env.pop("BABELTRACE_TERM_COLOR", None)
    rel = os.path.relpath(trace, ROOT)
    p = subprocess.run([str(CTFLIVE), "view", *opts, rel], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return p


def _expect(trace):
    base = str(trace)
    txt = pathlib.Path(base + ".expect.txt").read_bytes()
    err = pathlib.Path(base + ".expect.err").read_text(errors="replace")
    rc = int(pathlib.Path(base + ".expect.rc").read_text().strip())
    return txt, err, rc


def _discard_lines(text):
    """Discarded-items warnings, paths relative; babeltrace2 2.0.4's
    "(UUID: x)" / "(no UUID)" as 2.1.2 (and ctflive) print them: "(UID: x)"."""
    prefix = str(ROOT) + "/"
    return [l.replace(prefix, "").replace("(UUID: ", "(UID: ").replace("(no UUID)", "(no UID)")
            for l in text.splitlines() if l.startswith("WARNING: Tracer")]


def _metadata_warning_lines(bt_err):
    lines = set()
    for l in bt_err.splitlines():
        if " W " in l and "in metadata stream" in l and "At line " in l:
            lines.add(int(l.split("At line ")[1].split()[0]))
    return lines


@pytest.fixture(scope="module", autouse=True)
def _need_binary():
    if not CTFLIVE.exists():
        pytest.skip(f"{CTFLIVE} not built")
    if not FIXTURES.is_dir():
        pytest.skip(f"fixtures not found at {FIXTURES}")


# (ids cope with the empty parameter set pytest substitutes when fixtures are missing)
@pytest.mark.parametrize("trace", GOOD + RELAY,
                         ids=lambda p: f"{p.parent.name}/{p.name}" if hasattr(p, "parent") else str(p))
def test_matches_babeltrace2(trace):
    txt, err, rc = _expect(trace)
    p = _run(trace)
    assert p.returncode == rc, p.stderr.decode(errors="replace")
    if p.stdout != txt:
        got = p.stdout.decode(errors="replace").splitlines()
        exp = txt.decode(errors="replace").splitlines()
        for i, (a, b) in enumerate(zip(got, exp)):
            assert a == b, f"first difference at line {i + 1}"
        assert len(got) == len(exp), "different number of lines"
    ours = p.stderr.decode(errors="replace")
    assert _discard_lines(ours) == _discard_lines(err)
    if rc == 0:
        wanted = _metadata_warning_lines(err)
        for line in wanted:
            assert f"/metadata:{line}:" in ours, f"no warning for metadata line {line}"
        if not wanted:
            assert "warning:" not in ours
    else:
        assert "error:" in ours


@pytest.mark.parametrize("trace", FAIL, ids=lambda p: str(getattr(p, "name", p)))
def test_fail_traces(trace):
    txt, _, rc = _expect(trace)
    p = _run(trace)
    assert rc != 0
    assert p.returncode == 1, f"exit status {p.returncode}"
    assert p.stdout == txt  # events decoded before the error are kept
    err = p.stderr.decode(errors="replace")
    assert "error:" in err and len(err.strip().splitlines()) <= 5


@pytest.mark.parametrize("opts", [["--clock-seconds"], ["--clock-cycles"], ["--no-delta"],
                                  ["-n", "none"], ["-n", "all"], ["-f", "all"],
                                  ["--clock-date", "--clock-gmt"]])
def test_options_shapes(opts):
    """Option spellings of babeltrace2; first line shapes from ctf-decoding.md §5.7."""
    trace = FIXTURES / "relay-output" / "rrlive1-20261129-105018"
    if not trace.is_dir():
        pytest.skip("relay fixture missing")
    p = _run(trace, *opts)
    assert p.returncode == 0
    first = p.stdout.decode().splitlines()[0]
    if opts == ["--clock-cycles"]:
        assert first.startswith("[") and "(+????????????)" in first
    elif opts == ["-n", "none"]:
        assert first.endswith('vm lttng_ust_tracef:event: { 1 }, { 7, "hello 0" }')
    elif opts == ["-n", "all"]:
        assert first.startswith("timestamp = ")
        assert "stream.packet.context = { cpu_id = " in first
    elif opts == ["-f", "all"]:
        assert "vm/ust/uid/0/64-bitvm:ust:TRACE_DEBUG (14) lttng_ust_tracef:event:" in first
    elif opts == ["--no-delta"]:
        assert "(+" not in first
    elif opts == ["--clock-seconds"]:
        assert first[1:11].isdigit() and first[11] == "."


BT_OPTS = [["--clock-seconds"], ["--clock-cycles"], ["--no-delta"], ["--clock-date"],
           ["-n", "none"], ["-n", "all"], ["-n", "scope"], ["-n", "header"], ["-n", "payload"],
           ["-f", "all"], ["-f", "loglevel"], ["-f", "trace:domain,trace:hostname"],
           ["-f", "trace"], ["--clock-seconds", "--no-delta", "-n", "none"],
           ["--clock-offset=3600"], ["--clock-offset-ns=-1500"],
           # repeated -n/-f options add up as in babeltrace2; with header names
           # the trace name gets ", , " and clockless events lose separators
           ["-n", "all", "-f", "all"], ["-n", "payload", "-n", "scope"],
           ["-n", "none", "-n", "payload"], ["-n", "payload,all"],
           ["-f", "trace", "-f", "loglevel"], ["-f", "all", "-f", "trace"],
           ["-n", "header", "-f", "all", "--no-delta"],
           # negative times: seconds the first time, then babeltrace2's odd clock time
           ["--clock-offset=-2000000000"], ["--clock-offset=-2000000000", "--clock-date"],
           # empty list items are skipped
           ["-n", ",payload,,scope,"], ["-f", ","]]
BT_TRACES = ["relay-output/rrlive1-20261129-105018", "ctf-traces/succeed/wk-heartbeat-u",
             "ctf-traces/succeed/session-rotation", "ctf-traces/succeed/debug-info",
             "ctf-traces/packet_seq_num/2_streams_lost_in_2", "ctf-traces/succeed/env-warning"]


@pytest.mark.parametrize("opts", BT_OPTS, ids=lambda o: " ".join(o))
@pytest.mark.parametrize("trace", BT_TRACES)
def test_options_vs_babeltrace2(trace, opts):
    """Same options given to the installed babeltrace2 and to ctflive."""
    import shutil
    bt = shutil.which("babeltrace2")
    if not bt:
        pytest.skip("babeltrace2 not installed")
    path = FIXTURES / trace
    env = dict(os.environ, TZ="UTC")
    env.pop("BABELTRACE_TERM_COLOR", None)
    rel = os.path.relpath(path, ROOT)
    exp = subprocess.run([bt, *opts, rel], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=120)
    p = _run(path, *opts)
    assert p.returncode == exp.returncode
    assert p.stdout == exp.stdout
    assert _discard_lines(p.stderr.decode()) == _discard_lines(exp.stderr.decode())


def test_json_lines():
    import json
    trace = FIXTURES / "ctf-traces" / "succeed" / "multi-domains"
    p = _run(trace, "--json")
    assert p.returncode == 0
    lines = p.stdout.decode().splitlines()
    events = [json.loads(l) for l in lines]
    assert sum(1 for e in events if e["type"] == "event") == 4272
    disc = [e for e in events if e["type"] == "discarded_events"]
    assert len(disc) == 1 and disc[0]["count"] == 728
    ev = next(e for e in events if e["type"] == "event")
    for key in ("timestamp_ns", "time", "trace", "stream", "stream_id", "name", "payload"):
        assert key in ev
    assert ev["time"].endswith("Z") and "T" in ev["time"]


def test_truncated_copies_never_crash(tmp_path):
    """Every data file of a real trace cut at many offsets: error or success, no signal."""
    import shutil
    src = FIXTURES / "ctf-traces" / "succeed" / "2packets"
    data = [p for p in src.iterdir() if p.is_file() and p.name != "metadata"][0]
    blob = data.read_bytes()
    for cut in list(range(1, 200, 7)) + list(range(len(blob) - 200, len(blob), 13)):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        shutil.copy(src / "metadata", d / "metadata")
        (d / data.name).write_bytes(blob[:cut])
        p = subprocess.run([str(CTFLIVE), "view", str(d)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        assert p.returncode in (0, 1), f"cut {cut}: status {p.returncode}"
        if p.returncode == 1:
            assert b"error:" in p.stderr


def test_lost_in_transit(tmp_path):
    """A packet missing from the data file whose index entry has an all-ones
    offset (what a relay writes for a packet lost in transit): text output
    reports the sequence gap like babeltrace2, JSON marks it lost in transit."""
    import json
    import shutil
    import struct
    src = FIXTURES / "relay-output" / "rrlive1-20261129-105018"
    if not src.is_dir():
        pytest.skip("relay fixture missing")
    dst = tmp_path / "t"
    shutil.copytree(src, dst)
    tdir = dst / "ust" / "uid" / "0" / "64-bit"
    idx = bytearray((tdir / "index" / "channel0_1.idx").read_bytes())
    data = (tdir / "channel0_1").read_bytes()
    _, _, minor, elen = struct.unpack(">IIII", idx[:16])
    assert minor == 1 and elen == 72
    entries = [list(struct.unpack(">QQQQQQQQQ", idx[16 + i * elen:16 + (i + 1) * elen]))
               for i in range((len(idx) - 16) // elen)]
    assert len(entries) >= 3
    victim = entries[1]
    off, size = victim[0], victim[1] // 8
    (tdir / "channel0_1").write_bytes(data[:off] + data[off + size:])
    victim[0] = 2**64 - 1
    for e in entries[2:]:
        e[0] -= size
    out = idx[:16] + b"".join(struct.pack(">QQQQQQQQQ", *e) for e in entries)
    (tdir / "index" / "channel0_1.idx").write_bytes(out)

    p = _run(dst)
    assert p.returncode == 0
    warn = _discard_lines(p.stderr.decode())
    assert len(warn) == 1 and "Tracer discarded 1 packet between" in warn[0]
    j = _run(dst, "--json")
    recs = [json.loads(l) for l in j.stdout.decode().splitlines()]
    lost = [r for r in recs if r["type"] == "discarded_packets"]
    assert len(lost) == 1 and lost[0]["count"] == 1 and lost[0].get("lost_in_transit") is True


def _bt(*args):
    import shutil
    if not shutil.which("babeltrace2"):
        pytest.skip("babeltrace2 not installed")
    return subprocess.run(["babeltrace2", *map(str, args)], env=dict(os.environ, TZ="UTC"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


def _view(*args):
    return subprocess.run([str(CTFLIVE), "view", *map(str, args)], env=dict(os.environ, TZ="UTC"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def test_copies_of_a_trace_merge(tmp_path):
    """The same trace twice (two inputs, or two copies below one directory):
    one trace (same UUID) whose duplicate packets are dropped, as babeltrace2
    does; symbolic links that loop are searched once."""
    import shutil
    src = FIXTURES / "ctf-traces" / "succeed" / "2packets"
    txt, _, _ = _expect(src)
    p = _view(src, src)
    assert p.returncode == 0, p.stderr
    assert p.stdout == txt and b"WARNING" not in p.stderr
    shutil.copytree(src, tmp_path / "a")
    shutil.copytree(src, tmp_path / "b")
    (tmp_path / "self").symlink_to(".")
    (tmp_path / "a" / "up").symlink_to("..")
    p = _view("-f", "trace", tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == _view("-f", "trace", src, src).stdout
    assert b"WARNING" not in p.stderr


def test_framing_checked_before_printing(tmp_path):
    """A data file cut inside a packet: an error and no event at all, like
    babeltrace2, which indexes every packet before it prints."""
    import shutil
    src = FIXTURES / "relay-output" / "rrlive1-20261129-105018"
    if not src.is_dir():
        pytest.skip("relay fixture missing")
    dst = tmp_path / "t"
    shutil.copytree(src, dst)
    data = dst / "ust" / "uid" / "0" / "64-bit" / "channel0_1"
    with open(data, "r+b") as f:
        f.truncate(30001)
    p = _view(dst)
    assert p.returncode == 1 and p.stdout == b""
    assert b"larger than the remaining data" in p.stderr
    bt = _bt(dst)
    assert bt.returncode == 1 and bt.stdout == b""


def test_single_event_class_any_id(tmp_path):
    """No event header, one event class whose id is not 0: that class."""
    import shutil
    src = FIXTURES / "ctf-traces" / "succeed" / "succeed1"
    dst = tmp_path / "t"
    shutil.copytree(src, dst)
    md = (dst / "metadata").read_text()
    assert "name = string" in md
    (dst / "metadata").write_text(md.replace("name = string", 'name = "x"; id = 5', 1))
    p = _view(dst)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b'x: { str = "akonadi" }\n')
    bt = _bt(dst)
    assert (bt.returncode, bt.stdout) == (0, p.stdout)


def test_decode_only_write_error():
    p = subprocess.run([str(CTFLIVE), "view", "--decode-only",
                        str(FIXTURES / "ctf-traces" / "succeed" / "2packets")],
                       stdout=open("/dev/full", "w"), stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 1 and b"cannot write output" in p.stderr


def test_live_options_on_a_directory():
    for opt in (["--timeout", "100"], ["--from-now"]):
        p = _view(*opt, FIXTURES / "ctf-traces" / "succeed" / "2packets")
        assert p.returncode == 2 and b"applies to net:// URLs only" in p.stderr


def test_unreadable_parts():
    """As a user without access: a subdirectory that cannot be read is
    skipped with a warning; a trace whose metadata cannot be read is skipped,
    and an error only when nothing else is found (as babeltrace2 does)."""
    import shutil
    if os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root to run as another user")

    def as_nobody(*args):
        return subprocess.run(["runuser", "-u", "nobody", "--", str(CTFLIVE), "view",
                               *map(str, args)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
    if as_nobody("--help").returncode != 0:
        pytest.skip("the build directory is not reachable by 'nobody'")
    import tempfile
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="ctflive-perm-"))  # pytest's is 0700
    try:
        _unreadable_parts(tmp_path, as_nobody)
    finally:
        shutil.rmtree(tmp_path)


def _unreadable_parts(tmp_path, as_nobody):
    import shutil
    os.chmod(tmp_path, 0o755)
    shutil.copytree(FIXTURES / "ctf-traces" / "succeed" / "2packets", tmp_path / "a")
    shutil.copytree(FIXTURES / "ctf-traces" / "succeed" / "wk-heartbeat-u", tmp_path / "b")
    for d in (tmp_path / "a", tmp_path / "b"):
        os.chmod(d, 0o755)
        for f in d.iterdir():
            os.chmod(f, 0o644)
    os.chmod(tmp_path / "b" / "metadata", 0o600)
    p = as_nobody(tmp_path)
    assert p.returncode == 0, p.stderr
    assert b"warning: cannot read" in p.stderr and b"ignoring this trace" in p.stderr
    assert p.stdout.count(b"\n") == 2
    p = as_nobody(tmp_path / "b")
    assert p.returncode == 1 and b"Permission denied" in p.stderr
    os.chmod(tmp_path / "b" / "metadata", 0o644)
    (tmp_path / "private").mkdir(mode=0o700)
    p = as_nobody(tmp_path)
    assert p.returncode == 0 and p.stdout == _view(tmp_path / "a", tmp_path / "b").stdout
    assert b"warning: cannot open directory" in p.stderr and b"private" in p.stderr


PAIRS = [("smalltrace", "meta-variant-one-underscore"),
         ("no-packet-context", "meta-variant-one-underscore"),
         ("smalltrace", "no-packet-context"),
         ("2packets", "succeed1"),            # a clock and none: babeltrace2 refuses
         ("2packets", "wk-heartbeat-u"),
         ("debug-info", "session-rotation")]


@pytest.mark.parametrize("pair", PAIRS + [p[::-1] for p in PAIRS], ids="+".join)
def test_two_traces_vs_babeltrace2(pair):
    """Two traces given together: the merge order of babeltrace2's muxer,
    including ties between traces without UUID or name (decided by the
    messages), and its refusal to merge clocks that cannot be compared."""
    paths = [FIXTURES / "ctf-traces" / "succeed" / n for n in pair]
    bt = _bt(*paths)
    p = _view(*paths)
    assert (p.returncode, p.stdout) == (bt.returncode, bt.stdout), p.stderr


def test_time_going_backwards(tmp_path):
    """One flipped bit of a compact timestamp makes a stream's clock jump
    ahead, so the next packet's events are older than events already
    printed: stop with an error there, as babeltrace2's muxer does."""
    import shutil
    dst = tmp_path / "t"
    shutil.copytree(FIXTURES / "ctf-traces" / "succeed" / "trace-with-index", dst)
    f = dst / "ust_channel_3"
    data = bytearray(f.read_bytes())
    data[15257] = 127
    f.write_bytes(bytes(data))
    p = _view(dst)
    assert p.returncode == 1 and b"earlier than the previous event" in p.stderr
    assert b"(+18446744" not in p.stdout
    bt = _bt(dst)
    assert (bt.returncode, bt.stdout) == (1, p.stdout)


def test_stream_id_without_header_field(tmp_path):
    """`stream { id = N; }` needs a stream_id in the packet header."""
    import shutil
    dst = tmp_path / "t"
    shutil.copytree(FIXTURES / "ctf-traces" / "succeed" / "wk-heartbeat-u", dst)
    md = (dst / "metadata").read_bytes()  # packetized: same length edit
    assert b"uint32_t stream_id;" in md
    (dst / "metadata").write_bytes(md.replace(b"uint32_t stream_id;", b"uint32_t xtream_id;", 1))
    p = _view(dst)
    assert p.returncode == 1 and p.stdout == b""
    assert b"no integer 'stream_id' field" in p.stderr
    assert _bt(dst).returncode == 1


def test_discovery_like_babeltrace2(tmp_path):
    """A trace directory is not searched for more traces; a trace reached
    through two symbolic links is read twice (no UUID: two traces)."""
    import shutil
    succeed = FIXTURES / "ctf-traces" / "succeed"
    nest = tmp_path / "nest"
    shutil.copytree(succeed / "2packets", nest)
    shutil.copytree(succeed / "smalltrace", nest / "inner")
    links = tmp_path / "links"
    links.mkdir()
    (links / "a").symlink_to(succeed / "smalltrace")
    (links / "b").symlink_to(succeed / "smalltrace")
    for d in (nest, links):
        p = _view(d)
        bt = _bt(d)
        assert (p.returncode, p.stdout) == (bt.returncode, bt.stdout), d
    assert _view(links).stdout.count(b"\n") == 2 * _view(succeed / "smalltrace").stdout.count(b"\n")


@pytest.mark.parametrize("damage", ["bad magic in an indexed file", "copy without an index"])
def test_indexed_framing_like_babeltrace2(tmp_path, damage):
    """babeltrace2 frames a file by its sound .idx and decodes headers only
    without one: a bad header after indexed packets comes after their events;
    a copy of a file next to the original is a different packet (no
    packet_seq_num without an index), so times go backwards. Same stdout and
    status as babeltrace2."""
    import shutil
    src = FIXTURES / "relay-output" / "rrtf-20261129-105453"
    if not src.is_dir():
        pytest.skip("relay fixture missing")
    dst = tmp_path / "t"
    shutil.copytree(src, dst)
    tdir = dst / "ust" / "uid" / "0" / "64-bit"
    if damage.startswith("bad magic"):
        with open(tdir / "chtf_0_2", "r+b") as f:
            f.seek(4096)
            f.write(b"\0")
    else:
        shutil.copy(tdir / "chtf_0_1", tdir / "chtf_0_1.copy")
    p = _view(dst)
    bt = _bt(dst)
    assert (p.returncode, p.stdout) == (bt.returncode, bt.stdout)
    assert p.returncode == 1


def test_input_without_trace_among_others(tmp_path):
    """An input with no trace (empty, missing) is skipped with a warning when
    another input has one, as with babeltrace2; alone, it is an error."""
    empty = tmp_path / "empty"
    empty.mkdir()
    trace = FIXTURES / "ctf-traces" / "succeed" / "2packets"
    txt, _, _ = _expect(trace)
    for args in ((empty, trace), (trace, tmp_path / "missing")):
        p = _view(*args)
        assert (p.returncode, p.stdout) == (0, txt), p.stderr
        assert b"warning:" in p.stderr and b"ignoring" in p.stderr
    p = _view(empty)
    assert p.returncode == 1 and b"no CTF trace found" in p.stderr


def test_error_names_the_file_of_a_multi_file_stream(tmp_path):
    """A stream read from several files: an error names the file it is in
    and the offset in that file."""
    import shutil
    src = FIXTURES / "relay-output" / "rrtf-20261129-105453"
    if not src.is_dir():
        pytest.skip("relay fixture missing")
    dst = tmp_path / "t"
    shutil.copytree(src, dst)
    with open(dst / "ust" / "uid" / "0" / "64-bit" / "chtf_0_1", "r+b") as f:
        f.seek(5500)
        f.write(b"\x7f")
    p = _view(dst)
    assert p.returncode == 1
    assert b"/chtf_0_1: offset 5501: " in p.stderr, p.stderr
