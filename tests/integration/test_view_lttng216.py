# SPDX-License-Identifier: MIT
"""`ctflive view` and `ctflive follow` on CTF 2 traces recorded here by LTTng
2.16 (its default trace format; Debian sid root, sidroot.py) against
babeltrace2 2.1.2 of the same root.

Offline: one session daemon per module records, once, local sessions of the
sample program with `--types` (four providers, every lttng-ust field kind it
has): per-UID with contexts, per-PID with three programs, two channels, a
channel small enough that the tracer discards events, two rotations of a
session whose channel splits its files by size, the per-UID session in
CTF 1.8, and lttng-ust 2.16's BLOB fields (blob-app/, built in the sid root)
in CTF 2 and CTF 1.8. For each trace and each option set, `ctflive view`
prints babeltrace2 2.1.2's stdout byte for byte, the same discarded-events
warnings and the same exit status; `--json` prints one valid JSON object per
line, one per event.

Live: LTTng 2.16 -> ctflive-relayd or lttng-relayd 2.16 -> `ctflive view
net://...` prints every event, the lines babeltrace2 2.1.2 prints offline on
the relay's copy. Follow: `ctflive follow` on ctflive-relayd's session
directory while it is written prints what babeltrace2 2.1.2 prints offline
afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import live_support as ls
import lttng_harness as h

TIMER_US = 100000
PROVIDERS = "ctflive_sample:*,ctflive_extra:*,lttng_ust_tracef:*,lttng_ust_tracelog:*"
# Events per tick with --types: tick, types, arrays, tracef, tracelog.
PER_TICK = 5
APPS = [(300, 200, "a"), (200, 300, "b"), (100, 100, "c")]
CONTEXTS = ["vpid", "vtid", "procname", "pthread_id", "vuid", "vgid"]
PERF_CONTEXT = "perf:thread:cpu-cycles"
BLOB_EVENTS = 40
# Channels that make the program wait rather than discard events (with
# LTTNG_UST_ALLOW_BLOCKING=1 in its environment): a loaded machine must not
# change what a trace holds. The "disc" channel does not block.
BLOCKING = ["--blocking-timeout=inf"]

OPTION_SETS = [
    [],
    ["--clock-seconds"],
    ["--no-delta", "-n", "all"],
    ["-f", "all"],
    ["-n", "all", "-f", "all"],
    ["--clock-cycles", "-f", "loglevel,emf"],
    ["--clock-date", "--clock-gmt", "-n", "none"],
    ["--clock-offset", "5", "--clock-offset-ns", "123456789", "-n", "payload,scope"],
]


def ctflive() -> str:
    return str(h.build_dir() / "src" / "cli" / "ctflive")


def env() -> dict[str, str]:
    e = dict(os.environ, TZ="UTC", LANG="C")
    e.pop("BABELTRACE_TERM_COLOR", None)
    return e


@pytest.fixture(scope="module", autouse=True)
def _need_ctflive():
    if not os.access(ctflive(), os.X_OK):
        pytest.skip(f"ctflive not built ({ctflive()})")


def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """argv with stdout and stderr as bytes."""
    return subprocess.run(argv, env=env(), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout)


def warnings(stderr: bytes) -> list[str]:
    """The warning lines (babeltrace2's discarded events/packets messages)."""
    return [x for x in stderr.decode(errors="replace").splitlines()
            if x.startswith("WARNING")]


def first_diff(a: bytes, b: bytes) -> str:
    la, lb = a.decode(errors="replace").splitlines(), b.decode(errors="replace").splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"first difference at line {i + 1}:\n  ctflive:     {x}\n  babeltrace2: {y}"
    return f"ctflive printed {len(la)} lines, babeltrace2 {len(lb)}"


def assert_like_bt212(sid: h.SidTools, trace: Path, opts: list[str]) -> bytes:
    """ctflive view and babeltrace2 2.1.2: same stdout bytes, same warnings,
    same exit status. Returns the stdout."""
    bt = run([*sid.prefix(), "babeltrace2", *opts, str(trace)])
    cl = run([ctflive(), "view", *opts, str(trace)])
    assert bt.returncode == 0, bt.stderr.decode(errors="replace")[-2000:]
    assert cl.returncode == bt.returncode, cl.stderr.decode(errors="replace")[-2000:]
    assert cl.stdout == bt.stdout, first_diff(cl.stdout, bt.stdout)
    assert warnings(cl.stderr) == warnings(bt.stderr)
    return bt.stdout


def perf_cycles_available() -> bool:
    """perf_event_open() of this thread's CPU cycles, user space only, works
    (a virtual machine often has no hardware counters: ENOENT)."""
    import ctypes
    import struct

    if os.uname().machine != "x86_64":
        return False
    attr = bytearray(128)
    # type PERF_TYPE_HARDWARE, size, config PERF_COUNT_HW_CPU_CYCLES
    struct.pack_into("IIQ", attr, 0, 0, len(attr), 0)
    # disabled, exclude_kernel, exclude_hv
    struct.pack_into("Q", attr, 40, (1 << 0) | (1 << 5) | (1 << 6))
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(298, ctypes.create_string_buffer(bytes(attr)), 0, -1, -1, 0)
    if fd < 0:
        return False
    os.close(fd)
    return True


# --------------------------------------------------------------------------
# Offline: traces recorded once per module


class Recorded:
    def __init__(self, path: Path, ticks: int, perf: bool = False):
        self.path = path
        self.ticks = ticks  # ticks of every program together
        self.perf = perf


@pytest.fixture(scope="module")
def traces(user, sid):
    """name -> Recorded: LTTng 2.16 local sessions of one session daemon,
    CTF 2 unless the name ends in 18 (CTF 1.8). "uidctx", "pid3", "twoch"
    and "uid18" record the same run of three programs; "disc" a fast
    program alone, in a channel too small for it; "rot" three programs one
    after the other, with a rotation between them; "blob2" and "blob18" the
    same run of blob-app."""
    ws = h.Workspace(user, prefix="ctfl-v216-")
    lt = h.Lttng(ws, tools=sid)
    orig = lt.app_argv
    lt.app_argv = lambda *a: orig(*a) + ["--types"]
    failed = True
    try:
        lt.start()
        # (the session daemon refuses to start with it)
        base_env = lt.env
        lt.env = lambda: dict(base_env(), LTTNG_UST_ALLOW_BLOCKING="1")
        out = ws.mkdir("traces", owned=True)

        def create(name: str, fmt: str = "ctf-2") -> Path:
            lt.cmd("create", name, "--output", str(out / name), f"--trace-format={fmt}")
            return out / name

        got: dict[str, Recorded] = {}
        # A channel too small for a program that never sleeps.
        got["disc"] = Recorded(create("disc"), 0)
        lt.enable_channel("disc", "ch", buffers="uid", subbuf_size=4096, num_subbuf=2)
        lt.enable_event("disc", PROVIDERS, channel="ch")
        lt.start_session("disc")
        lt.run_app(20000, 0, "fast")
        lt.stop_session("disc")
        lt.destroy("disc")

        # Rotations (trace archives) and a tracefile ring (files split by
        # size), each rotation between two runs of a program.
        got["rot"] = Recorded(create("rot"), 0)
        lt.enable_channel("rot", "ch", buffers="uid", subbuf_size=8192, num_subbuf=4,
                          tracefile_size=16384, tracefile_count=4, extra=BLOCKING)
        lt.enable_event("rot", PROVIDERS, channel="ch")
        lt.start_session("rot")
        for k in range(3):
            lt.run_app(100, 50, f"r{k}")
            if k < 2:
                lt.rotate("rot")
        lt.stop_session("rot")
        lt.destroy("rot")

        # lttng-ust 2.16's BLOB fields, in CTF 2 and in CTF 1.8 (arrays
        # of bytes there).
        import sidroot
        blob_app = sidroot.build_sample_app(sid.root, Path(__file__).parent / "blob-app",
                                            ws.root)
        for n, fmt in (("blob2", "ctf-2"), ("blob18", "ctf-1.8")):
            got[n] = Recorded(create(n, fmt), BLOB_EVENTS)
            lt.enable_channel(n, "ch", buffers="uid", extra=BLOCKING)
            lt.enable_event(n, "ctflive_blob:*", channel="ch")
            lt.start_session(n)
        argv, kw = sid.popen(user, [str(blob_app), str(BLOB_EVENTS)])
        subprocess.run(argv, env=lt.env(), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60, check=True, **kw)
        for n in ("blob2", "blob18"):
            lt.stop_session(n)
            lt.destroy(n)

        ticks = sum(n for n, _i, _name in APPS)
        got["uidctx"] = Recorded(create("uidctx"), ticks)
        lt.enable_channel("uidctx", "ch", buffers="uid", extra=BLOCKING)
        ctx = [a for c in CONTEXTS for a in ("-t", c)]
        lt.cmd("add-context", "-u", "-s", "uidctx", "-c", "ch", *ctx)
        # `lttng add-context` accepts a perf counter the machine lacks; the
        # program's registration then never completes.
        if perf_cycles_available():
            lt.cmd("add-context", "-u", "-s", "uidctx", "-c", "ch", "-t", PERF_CONTEXT)
            got["uidctx"].perf = True
        lt.enable_event("uidctx", PROVIDERS, channel="ch")

        got["pid3"] = Recorded(create("pid3"), ticks)
        lt.enable_channel("pid3", "ch", buffers="pid", extra=BLOCKING)
        lt.enable_event("pid3", PROVIDERS, channel="ch")

        got["twoch"] = Recorded(create("twoch"), ticks)
        lt.enable_channel("twoch", "c0", buffers="uid", extra=BLOCKING)
        lt.enable_channel("twoch", "c1", buffers="uid", subbuf_size=65536, num_subbuf=4,
                          extra=BLOCKING)
        lt.enable_event("twoch", "ctflive_sample:*", channel="c0")
        lt.enable_event("twoch", "ctflive_extra:*,lttng_ust_tracef:*,lttng_ust_tracelog:*",
                        channel="c1")
        lt.cmd("add-context", "-u", "-s", "twoch", "-c", "c1", "-t", "vtid")

        # The same events in CTF 1.8, for JSON Lines (same values whatever
        # the metadata's format).
        got["uid18"] = Recorded(create("uid18", "ctf-1.8"), ticks)
        lt.enable_channel("uid18", "ch", buffers="uid", extra=BLOCKING)
        lt.cmd("add-context", "-u", "-s", "uid18", "-c", "ch", *ctx)
        lt.enable_event("uid18", PROVIDERS, channel="ch")

        names = ("uidctx", "pid3", "twoch", "uid18")
        for n in names:
            lt.start_session(n)
        procs = [lt.spawn_app(count, interval, name) for count, interval, name in APPS]
        for p in procs:
            lt.wait_app(p)
        for n in names:
            lt.stop_session(n)
            lt.destroy(n)
        for n, r in got.items():
            md = sorted(r.path.rglob("metadata"))
            start = b"/* CTF 1.8" if n.endswith("18") else b"\x1e"
            assert md and all(m.read_bytes().startswith(start) for m in md), \
                f"{r.path}: metadata does not start with {start!r}"
        failed = False
        yield got
    finally:
        lt.stop()
        ws.cleanup(failed=failed)


EVENT_NAME_RE = re.compile(r"^\[[^]]*\] \([^)]*\) \S+ (\S+): ")
TRACES = ["uidctx", "pid3", "twoch", "disc", "uid18", "rot", "blob2", "blob18"]
# Traces ctflive cannot print yet -> what it says instead. Their cases are
# strict xfails: once one decodes, its cases fail until it is unlisted.
KNOWN_UNSUPPORTED: dict[str, str] = {}
TRACE_PARAMS = [pytest.param(n, marks=pytest.mark.xfail(
    strict=True, reason=f"ctflive: {KNOWN_UNSUPPORTED[n]}")) if n in KNOWN_UNSUPPORTED else n
    for n in TRACES]


@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: " ".join(o) or "default")
@pytest.mark.parametrize("name", TRACE_PARAMS)
def test_view_like_babeltrace212(traces, sid, name, opts):
    """stdout byte for byte, warnings and exit status of babeltrace2 2.1.2;
    with the default options, the trace also holds what the programs
    emitted (every event, payload values, contexts)."""
    r = traces[name]
    out = assert_like_bt212(sid, r.path, opts).decode()
    if opts or name in ("disc", "rot", "blob2", "blob18"):
        return
    lines = out.splitlines()
    for event in ("ctflive_sample:types", "ctflive_extra:arrays", "lttng_ust_tracef:event",
                  "lttng_ust_tracelog:LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING"):
        assert sum(f" {event}: " in x for x in lines) == r.ticks, event
    for count, _interval, app in APPS:
        assert h.tick_indices(lines, app) == list(range(count)), app
    assert not h.tick_payload_problems(lines)
    if name in ("uidctx", "uid18"):
        for c in CONTEXTS:
            assert all(f" {c} = " in x for x in lines), c
        if r.perf:
            assert all(" perf_thread_cpu_cycles = " in x for x in lines)


def test_view_discards_like_babeltrace212(traces, sid):
    """The small channel: the tracer discarded events and both tools warn
    about them alike (checked line by line in test_view_like_babeltrace212)."""
    bt = run([*sid.prefix(), "babeltrace2", str(traces["disc"].path)])
    if not any("discarded" in w for w in warnings(bt.stderr)):
        pytest.skip("the tracer did not discard any event this time")
    cl = run([ctflive(), "view", str(traces["disc"].path)])
    assert warnings(cl.stderr) == warnings(bt.stderr)


@pytest.mark.parametrize("name", sorted(KNOWN_UNSUPPORTED))
def test_known_unsupported_fail_clearly(traces, name):
    """What ctflive cannot decode yet is one clear error, not a crash or
    wrong output."""
    r = run([ctflive(), "view", str(traces[name].path)])
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 1, err
    assert "error:" in err and KNOWN_UNSUPPORTED[name] in err, err
    assert len(err.strip().splitlines()) <= 5, err


def test_blob_values(traces, sid):
    """babeltrace2 2.1.2 prints lttng-ust 2.16's BLOBs of the CTF 2 trace
    with the bytes the program wrote (ctflive prints the same text,
    test_view_like_babeltrace212), and ctflive prints them from the CTF 1.8
    trace of the same events, as arrays of bytes."""
    bt = run([*sid.prefix(), "babeltrace2", str(traces["blob2"].path)])
    cl = run([ctflive(), "view", str(traces["blob18"].path)])
    assert bt.returncode == 0 and cl.returncode == 0, cl.stderr
    blob_re = re.compile(r"index = (\d+), fixed = \{ ((?:[0-9a-f]{2} )*)\}, "
                         r"_var_length = (\d+), var = \{ ((?:[0-9a-f]{2} )*)\}")
    items = r"((?:\[\d+\] = 0x[0-9A-F]+(?:, )?)*)"
    arr_re = re.compile(rf"index = (\d+), fixed = \[ {items} \], _var_length = (\d+), "
                        rf"var = \[ {items} ?\]")
    bt_lines = bt.stdout.decode().splitlines()
    cl_lines = cl.stdout.decode().splitlines()
    assert len(bt_lines) == len(cl_lines) == BLOB_EVENTS
    for b, c in zip(bt_lines, cl_lines):
        mb, mc = blob_re.search(b), arr_re.search(c)
        assert mb and mc, (b, c)
        i, n = int(mb[1]), int(mb[3])
        assert (int(mc[1]), int(mc[3])) == (i, n) and n == i % 17
        want = [(i * 7 + k) & 0xFF for k in range(32)]
        assert [int(x, 16) for x in mb[2].split()] == want[:6]
        assert [int(x, 16) for x in mb[4].split()] == want[:n]
        assert [int(x.split(" = ")[1], 0) for x in mc[2].split(", ")] == want[:6]
        assert [int(x.split(" = ")[1], 0) for x in mc[4].split(", ") if x.strip()] == want[:n]


def test_perf_context(traces):
    """The per-UID trace carries a perf counter context where the machine
    has one (its values are checked with the other contexts)."""
    if not traces["uidctx"].perf:
        pytest.skip("no CPU cycles counter here (perf_event_open)")
    assert PERF_CONTEXT.replace(":", "_").replace("-", "_") in \
        (traces["uidctx"].path / "ust/uid").rglob("metadata").__next__().read_text()


@pytest.mark.parametrize("name", TRACE_PARAMS)
def test_json_lines(traces, sid, name):
    """--json: one valid JSON object per line; the events are babeltrace2
    2.1.2's events (same count, names and order)."""
    r = traces[name]
    bt = run([*sid.prefix(), "babeltrace2", str(r.path)])
    assert bt.returncode == 0
    cl = run([ctflive(), "view", "--json", str(r.path)])
    assert cl.returncode == 0, cl.stderr.decode(errors="replace")
    events, other = [], []
    for line in cl.stdout.decode().splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        (events if obj.get("type") == "event" else other).append(obj)
    bt_lines = bt.stdout.decode().splitlines()
    assert len(events) == len(bt_lines)
    names = [EVENT_NAME_RE.match(x).group(1) for x in bt_lines]
    assert [e["name"] for e in events] == names
    if name == "disc":
        nwarn = sum("discarded" in w for w in warnings(bt.stderr))
        assert sum(o.get("type") == "discarded_events" for o in other) == nwarn
    else:
        assert not other


def test_json_lines_same_values_as_ctf18(traces):
    """The same events recorded in CTF 2 and in CTF 1.8 (two sessions, one
    run of the programs): --json gives each event the same name, contexts
    and payload whatever the metadata's format."""
    def values(name):
        r = run([ctflive(), "view", "--json", str(traces[name].path)])
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        out = []
        for line in r.stdout.decode().splitlines():
            e = json.loads(line)
            out.append(json.dumps([e["name"], e.get("loglevel"),
                                   e.get("stream_event_context"), e.get("event_context"),
                                   e["payload"]], sort_keys=True))
        # Each session timestamps its own copy of an event: compare as sets
        # of (name, values), with counts.
        return sorted(out)
    v2, v18 = values("uidctx"), values("uid18")
    assert len(v2) == PER_TICK * traces["uidctx"].ticks + 2 * len(APPS)
    assert v2 == v18


# --------------------------------------------------------------------------
# Live and follow: LTTng 2.16's default (CTF 2) through a relay


@pytest.fixture
def types_sid(lttng_sid, monkeypatch):
    """lttng_sid whose sample program also emits the --types events and may
    block on a full channel (see BLOCKING)."""
    orig, base_env = lttng_sid.app_argv, lttng_sid.env
    monkeypatch.setattr(lttng_sid, "app_argv", lambda *a: orig(*a) + ["--types"])
    monkeypatch.setattr(lttng_sid, "env",
                        lambda: dict(base_env(), LTTNG_UST_ALLOW_BLOCKING="1"))
    return lttng_sid


def live_session(lt: h.Lttng, relay: h.Relay, name: str, buffers: str = "uid",
                 pattern: str = PROVIDERS) -> None:
    """A started live session with one blocking channel."""
    lt.create_live(name, relay, TIMER_US)
    lt.enable_channel(name, "ch", buffers=buffers, subbuf_size=16384, num_subbuf=8,
                      extra=BLOCKING)
    lt.enable_event(name, pattern, channel="ch")
    lt.start_session(name)


# name -> (ticks, interval µs); per-PID: three programs, one living less
# than a live timer period.
LIVE_APPS = {"uid": {"lu": (300, 500)},
             "pid": {"pa": (200, 1000), "pb": (10, 100), "pc": (100, 1500)}}


def run_live_apps(lt: h.Lttng, buffers: str) -> None:
    procs = []
    for name, (n, interval) in LIVE_APPS[buffers].items():
        procs.append(lt.spawn_app(n, interval, name))
        time.sleep(0.05)
    for p in procs:
        lt.wait_app(p)
    time.sleep(3 * TIMER_US / 1e6)


def check_every_tick(lines: list[str], buffers: str) -> None:
    for name, (n, _i) in LIVE_APPS[buffers].items():
        assert h.tick_indices(lines, name) == list(range(n)), name
    assert not h.tick_payload_problems(lines)


class Bg:
    """A ctflive command in the background, stdout and stderr to files."""

    def __init__(self, argv: list[str], tmp: Path):
        self.out, self.err = tmp / "out", tmp / "err"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.p = subprocess.Popen(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                                      env=env())

    def finish(self, timeout: float = 60.0) -> tuple[int, bytes, str]:
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            h.stop_popen(self.p)
            raise AssertionError(f"{self.p.args[:2]} did not exit within {timeout} s; "
                                 f"stderr: {self.err.read_text()[-2000:]}")
        return rc, self.out.read_bytes(), self.err.read_text(errors="replace")

    def stop(self) -> None:
        if self.p.poll() is None:
            h.stop_popen(self.p)


def assert_offline_same(sid: h.SidTools, sdir: Path, out: bytes, err: str,
                        live: bool = False) -> None:
    """out is what babeltrace2 2.1.2 prints offline on sdir, byte for byte;
    the metadata there is CTF 2. live: out comes from a live view, whose
    traces have no name (as babeltrace2's lttng-live gives them none), so
    equal-time events of different traces come in UID order, where offline
    they come in trace name order."""
    md = sorted(sdir.rglob("metadata"))
    assert md and all(m.read_bytes()[:1] == b"\x1e" for m in md), md
    bt = run([*sid.prefix(), "babeltrace2", str(sdir)])
    assert bt.returncode == 0, bt.stderr.decode(errors="replace")[-2000:]
    if live and out != bt.stdout:
        assert h.ties_unordered(out.decode().splitlines()) == \
            h.ties_unordered(bt.stdout.decode().splitlines()), first_diff(out, bt.stdout)
    else:
        assert out == bt.stdout, first_diff(out, bt.stdout)
    assert not any("discarded" in w for w in warnings(bt.stderr)), \
        "the tracer discarded events (machine overloaded?)"


@pytest.mark.parametrize("buffers", ["uid", "pid"])
@pytest.mark.parametrize("relay_kind", ["ctflive-relayd", "lttng-relayd"])
def test_live_view_ctf2(types_sid, sid, make_relay, ws, relay_kind, buffers):
    """LTTng 2.16, live, CTF 2 -> relay -> `ctflive view net://...` attached
    before the programs: every event, exit 0 at `lttng destroy`, the lines
    babeltrace2 2.1.2 prints offline on the relay's copy. `lttng stop` not
    answering because lttng-consumerd 2.16 locked up (h.consumerd_deadlock:
    no daemon thread waits for the relay) reruns the scenario once with a
    new session daemon; any other timeout fails."""
    relay = make_relay(relay_kind, "r", tools=sid)

    def scenario(attempt: int):
        if attempt:
            types_sid.stop()
            types_sid.start()
        name = f"lv{attempt}"
        live_session(types_sid, relay, name, buffers=buffers)
        view = Bg([ctflive(), "view", ls.live_url(relay, name)], ws.mkdir(f"view{attempt}"))
        try:
            ls.wait_clients(relay, name)
            run_live_apps(types_sid, buffers)
            try:
                ls.end_sessions(types_sid, name)
            except subprocess.TimeoutExpired as e:
                return (None, h.consumerd_deadlock(types_sid.pid),
                        f"{e}\n{h.blocked_report(types_sid.pid)}", name)
            return view.finish(), None, "", name
        finally:
            view.stop()

    res, _, hang, name = h.once_more_on_peer_failure(
        scenario, lambda r: r[1] and f"{r[1]}\n{r[2][:4000]}")
    assert not hang, hang
    rc, out, err = res
    assert rc == 0, err
    check_every_tick(out.decode().splitlines(), buffers)
    assert_offline_same(sid, relay.session_dir(name), out, err, live=True)


@pytest.mark.parametrize("buffers", ["uid", "pid"])
def test_follow_ctf2(types_sid, sid, make_relay, ws, buffers):
    """`ctflive follow` on ctflive-relayd's directory of a CTF 2 live session,
    started before the programs: exits 0 by itself once the session ended,
    having printed what babeltrace2 2.1.2 prints offline afterwards."""
    relay = make_relay("ctflive-relayd", "r")
    live_session(types_sid, relay, "fo", buffers=buffers)
    sdir = relay.session_dir("fo")
    h.wait_for(lambda: (sdir / h.CTFLIVE_MARKER).exists(), 10, what="session marker")
    fo = Bg([ctflive(), "follow", str(sdir)], ws.mkdir("follow"))
    try:
        run_live_apps(types_sid, buffers)
        ls.end_sessions(types_sid, "fo")
        rc, out, err = fo.finish()
    finally:
        fo.stop()
    assert rc == 0, err
    check_every_tick(out.decode().splitlines(), buffers)
    assert_offline_same(sid, sdir, out, err)


@pytest.mark.parametrize("reader", ["view ctflive-relayd", "view lttng-relayd", "follow"])
def test_live_metadata_grows_ctf2(types_sid, sid, make_relay, ws, reader):
    """Event record classes added while the reader runs: a second program
    run after `lttng enable-event` of more providers appends fragments to
    the CTF 2 metadata the reader already decoded. live view and follow
    print both runs, as babeltrace2 2.1.2 prints them offline."""
    how, _, relay_kind = reader.partition(" ")
    relay = make_relay(relay_kind or "ctflive-relayd", "r", tools=sid)
    live_session(types_sid, relay, "mg", pattern="ctflive_sample:*")
    if how == "view":
        bg = Bg([ctflive(), "view", ls.live_url(relay, "mg")], ws.mkdir("view"))
        ls.wait_clients(relay, "mg")
    else:
        sdir = relay.session_dir("mg")
        h.wait_for(lambda: (sdir / h.CTFLIVE_MARKER).exists(), 10, what="session marker")
        bg = Bg([ctflive(), "follow", str(sdir)], ws.mkdir("follow"))
    try:
        types_sid.run_app(50, 1000, "m1")
        time.sleep(3 * TIMER_US / 1e6)
        types_sid.enable_event("mg", "ctflive_extra:*,lttng_ust_tracef:*", channel="ch")
        types_sid.run_app(50, 1000, "m2")
        time.sleep(3 * TIMER_US / 1e6)
        ls.end_sessions(types_sid, "mg")
        rc, out, err = bg.finish()
    finally:
        bg.stop()
    assert rc == 0, err
    lines = out.decode().splitlines()
    for name in ("m1", "m2"):
        assert h.tick_indices(lines, name) == list(range(50)), name
    assert sum(" ctflive_extra:arrays: " in x for x in lines) == 50
    assert_offline_same(sid, relay.session_dir("mg"), out, err, live=how == "view")


# --------------------------------------------------------------------------
# Equal times in different traces


def _u(n: int, role: str | None = None) -> dict:
    fc = {"type": "fixed-length-unsigned-integer", "length": n,
          "byte-order": "little-endian", "alignment": 8}
    if role:
        fc["roles"] = [role]
    return fc


def _struct(*members) -> dict:
    return {"type": "structure",
            "member-classes": [{"name": n, "field-class": f} for n, f in members]}


def write_tie_trace(d: Path, fmt: str, name: str, uuid: bytes) -> None:
    """A trace of one event at 500 ns past a shared clock origin, with the
    given UUID (CTF 1.8: trace UUID; CTF 2: metadata stream UUID and
    trace class UID)."""
    import struct
    import uuid as uuidlib

    d.mkdir(parents=True)
    text = str(uuidlib.UUID(bytes=uuid))
    if fmt == "ctf-1.8":
        md = ("/* CTF 1.8 */\n"
              "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
              "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
              f'trace {{ major = 1; minor = 8; uuid = "{text}"; byte_order = le;\n'
              "  packet.header := struct { uint32_t magic; }; };\n"
              'env { hostname = "h"; };\n'
              'clock { name = c; uuid = "11111111-2222-3333-4444-555555555555";\n'
              "  freq = 1000000000; offset_s = 1000; absolute = true; };\n"
              "typealias integer { size = 64; align = 8; signed = false;\n"
              "  map = clock.c.value; } := ts_t;\n"
              "stream { packet.context := struct { uint64_t packet_size;\n"
              "  uint64_t content_size; ts_t timestamp_begin; ts_t timestamp_end; };\n"
              "  event.header := struct { uint32_t id; ts_t timestamp; }; };\n"
              f'event {{ name = "ev_{name}"; id = 0; fields := struct {{ uint32_t v; }}; }};\n'
              ).encode()
    else:
        frags = [
            {"type": "preamble", "version": 2, "uuid": list(uuid)},
            {"type": "trace-class", "uid": text, "environment": {"hostname": "h"},
             "packet-header-field-class": _struct(("magic", _u(32, "packet-magic-number")))},
            {"type": "clock-class", "id": "c", "name": "c", "frequency": 1000000000,
             "offset-from-origin": {"seconds": 1000, "cycles": 0}, "origin": "unix-epoch"},
            {"type": "data-stream-class", "default-clock-class-id": "c",
             "packet-context-field-class": _struct(
                 ("packet_size", _u(64, "packet-total-length")),
                 ("content_size", _u(64, "packet-content-length")),
                 ("timestamp_begin", _u(64, "default-clock-timestamp")),
                 ("timestamp_end", _u(64, "packet-end-default-clock-timestamp"))),
             "event-record-header-field-class": _struct(
                 ("id", _u(32, "event-record-class-id")),
                 ("timestamp", _u(64, "default-clock-timestamp")))},
            {"type": "event-record-class", "id": 0, "name": f"ev_{name}",
             "payload-field-class": _struct(("v", _u(32)))},
        ]
        md = b"".join(b"\x1e" + json.dumps(f).encode() + b"\n" for f in frags)
    (d / "metadata").write_bytes(md)
    ev = struct.pack("<IQI", 0, 500, 7)
    size = 4 + 32 + len(ev)
    (d / "s0").write_bytes(struct.pack("<I", 0xC1FC1FC1)
                           + struct.pack("<QQQQ", size * 8, size * 8, 500, 500) + ev)


@pytest.mark.parametrize("fmt", ["ctf-1.8", "ctf-2"])
def test_equal_times_across_traces_like_babeltrace212(sid, ws, fmt):
    """Two traces, one event each at the same time, whose UUID order is not
    their name order: babeltrace2 2.1.2 orders them by trace name (its muxer
    compares trace identities, name before UID), and so does ctflive."""
    top = ws.root / "ties"
    write_tie_trace(top / "a", fmt, "a", b"\xff" * 16)
    write_tie_trace(top / "b", fmt, "b", b"\x00" * 15 + b"\x01")
    out = assert_like_bt212(sid, top, []).decode().splitlines()
    assert [x.split()[3] for x in out] == ["ev_a:", "ev_b:"], out
