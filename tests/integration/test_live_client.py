# SPDX-License-Identifier: MIT
"""ctflive's live viewer client (`ctflive ls`, `ctflive view net://...`)
against a real lttng-relayd 2.13, compared with babeltrace2, plus a hostile
fake relay.

Pitfalls this file works around:
* lttng-relayd 2.13 allows one viewer per session, so babeltrace2 and
  ctflive cannot read the same session live at once. Comparisons with
  babeltrace2's live output use twin sessions recording the same program
  run, each on its own relay (with two live sessions on one lttng-relayd,
  `lttng destroy` of the first hangs, viewers or not); their timestamps differ (each session reads the clock for its own
  copy of an event), so lines are compared without timestamps. Exact lines
  are compared with babeltrace2 reading the relay's output of the session
  ctflive viewed.
* With per-PID buffers, lttng-relayd 2.13.9 reports HUP for an exiting
  program's streams before the packets flushed at its exit are indexed, so
  every live viewer (babeltrace2 included) misses the program's last live
  timer period. How many events that is depends on the timer phase, which
  differs between twin sessions: per-PID checks compare prefixes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

import lttng_harness as h

TIMER_US = 100000
HOST = socket.gethostname()


def ctflive_path() -> Path:
    return h.build_dir() / "src" / "cli" / "ctflive"


@pytest.fixture(autouse=True)
def _need_ctflive():
    if not ctflive_path().exists():
        pytest.skip(f"ctflive not built ({ctflive_path()})")


def env() -> dict[str, str]:
    return dict(os.environ, TZ="UTC", LANG="C")


def live_url(relay: h.Relay, session: str | None = None) -> str:
    base = f"net://{h.LOCALHOST}:{relay.ports.live}"
    return f"{base}/host/{HOST}/{session}" if session else base


def spawn_view(url: str, *extra: str) -> subprocess.Popen:
    """`ctflive view` with its stdout read as it comes (by a thread): a
    viewer whose pipe fills blocks in write and stops asking the relay."""
    p = subprocess.Popen([str(ctflive_path()), "view", *extra, url], env=env(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.out_chunks = []
    p.out_reader = threading.Thread(target=lambda: p.out_chunks.extend(iter(p.stdout.read, "")),
                                    daemon=True)
    p.out_reader.start()
    return p


def spawn_bt_live(url: str) -> subprocess.Popen:
    return subprocess.Popen(["babeltrace2", "-i", "lttng-live", url], env=env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen, timeout: float = 30) -> tuple[int, list[str], str]:
    reader = getattr(p, "out_reader", None)
    if reader is None:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            h.stop_popen(p)
            out, err = p.communicate()
            raise AssertionError(f"viewer did not exit; stderr: {err[-2000:]}")
        return p.returncode, out.splitlines(), err
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        h.stop_popen(p)
        reader.join(10)
        raise AssertionError(f"viewer did not exit; stderr: {p.stderr.read()[-2000:]}")
    reader.join(30)
    return p.returncode, "".join(p.out_chunks).splitlines(), p.stderr.read()


def wait_attached(relay: h.Relay, session: str, timeout: float = 10) -> None:
    """Until the relay lists `session` with a viewer attached."""
    def attached():
        r = subprocess.run([str(ctflive_path()), "ls", live_url(relay)], capture_output=True,
                           text=True, timeout=10)
        return any(f"/{session} (" in line and " 0 client(s) connected, " not in line
                   for line in r.stdout.splitlines())
    h.wait_for(attached, timeout, what=f"a viewer attached to {session}")


def setup_session(lttng: h.Lttng, relay: h.Relay, name: str, buffers: str = "uid",
                  num_subbuf: int = 8) -> None:
    lttng.create_live(name, relay, TIMER_US)
    lttng.enable_channel(name, "ch", buffers=buffers, subbuf_size=4096, num_subbuf=num_subbuf)
    lttng.enable_event(name, channel="ch")
    lttng.start_session(name)


# --------------------------------------------------------------------------
# ls


def test_ls_matches_babeltrace(lttng, make_relay):
    relay = make_relay("lttng-relayd", "ref")
    setup_session(lttng, relay, "lsa")
    lttng.run_app(5, 1000, "ls")  # streams exist once the program registered
    lttng.create_live("lsb", relay, 2 * TIMER_US)
    lttng.enable_event("lsb")
    url = live_url(relay)
    r = subprocess.run([str(ctflive_path()), "ls", url], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    bt = subprocess.run(["babeltrace2", "-i", "lttng-live", url], capture_output=True,
                        text=True, timeout=30, env=env())
    assert bt.returncode == 0, bt.stderr
    # babeltrace2 2.0.4's lines, plus the trace format as 2.1 prints it.
    lines = r.stdout.splitlines()
    assert all(line.endswith(", CTF 1.8)") for line in lines), lines
    assert sorted(x[:-len(", CTF 1.8)")] + ")" for x in lines) == \
        sorted(bt.stdout.splitlines())
    assert any(f"{url}/host/{HOST}/lsa (timer = {TIMER_US}, " in line
               for line in r.stdout.splitlines()), r.stdout


def test_ls_usage_and_unreachable():
    r = subprocess.run([str(ctflive_path()), "ls", "tcp://x"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown protocol" in r.stderr
    port = h.free_port()
    r = subprocess.run([str(ctflive_path()), "ls", f"net://{h.LOCALHOST}:{port}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "connection refused" in r.stderr.lower()


# --------------------------------------------------------------------------
# view: per-UID, steady program


def test_view_per_uid_same_as_babeltrace(lttng, make_relay):
    """Attached before the program starts: every event, exactly the lines
    babeltrace2 prints for the relay's output of the same session, and the
    same lines (without timestamps) as babeltrace2 reading a twin session
    live. Both viewers exit 0 at `lttng destroy`."""
    relay = make_relay("lttng-relayd", "rct")
    relay_bt = make_relay("lttng-relayd", "rbt")
    setup_session(lttng, relay, "vct")  # read by ctflive
    setup_session(lttng, relay_bt, "vbt")  # read by babeltrace2
    view = spawn_view(live_url(relay, "vct"))
    bt = spawn_bt_live(live_url(relay_bt, "vbt"))
    wait_attached(relay, "vct")
    wait_attached(relay_bt, "vbt")
    n = 400
    lttng.run_app(n, 500, "uid")
    time.sleep(3 * TIMER_US / 1e6)
    out_dir = relay.session_dir("vct")
    lttng.stop_session("vct")
    lttng.stop_session("vbt")
    lttng.destroy("vct")
    lttng.destroy("vbt")
    rc, lines, err = finish(view)
    assert rc == 0, err
    rc_bt, bt_lines, bt_err = finish(bt)
    assert rc_bt == 0, bt_err

    assert h.tick_indices(lines, "uid") == list(range(n))
    offline = h.babeltrace(out_dir)
    assert offline.rc == 0, offline.err
    assert lines == offline.lines
    assert h.normalise_all(lines) == h.normalise_all(bt_lines)


_WARN_RE = re.compile(r"discarded \d+ events between \[[^]]*\] and \[[^]]*\]|"
                      r"U?UID: [0-9a-f-]+")  # 2.0.4: UUID, 2.1: UID


def test_view_fields_and_warnings_like_babeltrace(lttng, make_relay):
    """`-f all` and discarded-event warnings, live: babeltrace2's lttng-live
    source names no trace (no `trace` field, "(unknown)" in warnings), names
    streams "stream-<viewer stream id>" and takes the stream ID from the
    packets' stream_instance_id. Twin sessions with a channel too small for
    the load, one viewer each."""
    relay = make_relay("lttng-relayd", "rct")
    relay_bt = make_relay("lttng-relayd", "rbt")
    for name, r in (("fct", relay), ("fbt", relay_bt)):
        lttng.create_live(name, r, TIMER_US)
        lttng.enable_channel(name, "ch", buffers="uid", subbuf_size=4096, num_subbuf=2)
        lttng.enable_event(name, channel="ch")
        lttng.start_session(name)
    view = spawn_view(live_url(relay, "fct"), "-f", "all")
    bt = subprocess.Popen(["babeltrace2", "-i", "lttng-live", "-f", "all",
                           live_url(relay_bt, "fbt")], env=env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_attached(relay, "fct")
    wait_attached(relay_bt, "fbt")
    lttng.run_app(20000, 0, "fast")
    time.sleep(3 * TIMER_US / 1e6)
    for name in ("fct", "fbt"):
        lttng.stop_session(name)
        lttng.destroy(name)
    rc, lines, err = finish(view)
    assert rc == 0, err
    rc_bt, bt_lines, bt_err = finish(bt)
    assert rc_bt == 0, bt_err
    # the program's first events fit in the buffers of both sessions
    assert h.normalise_all(lines[:3]) == h.normalise_all(bt_lines[:3])
    assert f") {HOST}:ust:TRACE_DEBUG_LINE (13) ctflive_sample:start: " in lines[0]
    warn = sorted({_WARN_RE.sub("*", line) for line in err.splitlines()
                   if line.startswith("WARNING")})
    bt_warn = sorted({_WARN_RE.sub("*", line) for line in bt_err.splitlines()
                      if line.startswith("WARNING")})
    if not warn or not bt_warn:
        pytest.skip("a tracer did not discard any event this time")
    assert all('in trace "(unknown)"' in w for w in warn), warn
    # the same streams are named the same (twin sessions: same layout)
    assert set(warn) <= set(bt_warn) or set(bt_warn) <= set(warn), (warn, bt_warn)


def test_view_json(lttng, make_relay):
    relay = make_relay("lttng-relayd", "ref")
    setup_session(lttng, relay, "vjs")
    view = spawn_view(live_url(relay, "vjs"), "--json")
    wait_attached(relay, "vjs")
    lttng.run_app(50, 500, "js")
    time.sleep(3 * TIMER_US / 1e6)
    out_dir = relay.session_dir("vjs")
    lttng.destroy("vjs")
    rc, lines, err = finish(view)
    assert rc == 0, err
    records = [json.loads(line) for line in lines]
    assert len(records) == 52  # start, 50 ticks, stop
    assert all(isinstance(r, dict) for r in records)
    # the same records as reading the relay's output afterwards, trace names
    # included ("<hostname>/ust/uid/<uid>/64-bit"); only the stream label
    # differs (a file path on disk, "stream-<id>" live)
    offline = subprocess.run([str(ctflive_path()), "view", "--json", str(out_dir)],
                             capture_output=True, text=True, timeout=30, env=env())
    assert offline.returncode == 0, offline.stderr
    off = [json.loads(line) for line in offline.stdout.splitlines()]
    assert all(r["trace"].startswith(f"{HOST}/ust/uid/") for r in records), records[0]
    assert all(r.pop("stream").startswith("stream-") for r in records)
    for r in off:
        del r["stream"]
    assert records == off


def test_view_from_now(lttng, make_relay):
    """--from-now (seek LAST): only packets indexed after the attach, then
    every later event, without gaps."""
    relay = make_relay("lttng-relayd", "ref")
    setup_session(lttng, relay, "vfn")
    n = 150
    app = lttng.spawn_app(n, 10000, "fn")  # 1.5 s
    time.sleep(0.8)
    view = spawn_view(live_url(relay, "vfn"), "--from-now")
    lttng.wait_app(app)
    time.sleep(3 * TIMER_US / 1e6)
    lttng.destroy("vfn")
    rc, lines, err = finish(view)
    assert rc == 0, err
    ticks = h.tick_indices(lines, "fn")
    assert ticks, "nothing printed"
    assert 0 < ticks[0] < n - 1, ticks[:5]
    assert ticks == list(range(ticks[0], n)), ticks


# --------------------------------------------------------------------------
# view: per-PID, programs starting and stopping while viewing


def strip_delta(lines: list[str]) -> list[str]:
    return [re.sub(r"^(\[[0-9:.]+\]) \(\+[0-9.?]+\) ", r"\1 ", line) for line in lines]


def test_view_per_pid_programs_start_and_stop(lttng, make_relay):
    relay = make_relay("lttng-relayd", "rct")
    relay_bt = make_relay("lttng-relayd", "rbt")
    # Programs emitting every 20 ms, like real ones rather than a flood.
    iv = 20000
    counts = {"pa": 100, "pb": 20, "pc": 50, "pd": 30}

    def scenario(attempt: int):
        pct, pbt = f"pct{attempt}", f"pbt{attempt}"
        setup_session(lttng, relay, pct, buffers="pid", num_subbuf=16)
        setup_session(lttng, relay_bt, pbt, buffers="pid", num_subbuf=16)
        view = spawn_view(live_url(relay, pct))
        bt = spawn_bt_live(live_url(relay_bt, pbt))
        wait_attached(relay, pct)
        wait_attached(relay_bt, pbt)
        apps = {"pa": lttng.spawn_app(counts["pa"], iv, "pa")}
        time.sleep(0.5)
        apps["pb"] = lttng.spawn_app(counts["pb"], iv, "pb")  # exits early
        time.sleep(0.5)
        apps["pc"] = lttng.spawn_app(counts["pc"], iv, "pc")
        for p in apps.values():
            lttng.wait_app(p)
        # A program registering while every stream is idle (lttng bug #1406).
        time.sleep(1.0)
        lttng.run_app(counts["pd"], iv, "pd")
        time.sleep(3 * TIMER_US / 1e6)
        dirs = relay.session_dir(pct), relay_bt.session_dir(pbt)
        lttng.stop_session(pct)
        lttng.stop_session(pbt)
        lttng.destroy(pct)
        lttng.destroy(pbt)
        return (finish(view), finish(bt), *dirs)

    # babeltrace2 2.0.4's own per-PID race (h.bt204_clock_overflow), and
    # only it, runs the scenario once more; ctflive's view must be clean.
    (rc, lines, err), (rc_bt, bt_lines, bt_err), out_dir, out_dir_bt = \
        h.once_more_on_peer_failure(
            scenario, lambda r: h.bt204_clock_overflow(r[1][0], r[1][2]) if r[0][0] == 0
            else None)
    assert rc == 0, err
    assert rc_bt == 0, bt_err

    # Exactly babeltrace2's lines for the relay's output, minus what the
    # relay never announced live (see the module docstring). Deltas differ
    # where events are missing: compare without them.
    offline = h.babeltrace(out_dir)
    assert offline.rc == 0, offline.err
    off = iter(strip_delta(offline.lines))
    assert all(line in off for line in strip_delta(lines)), \
        "not an ordered subset of the offline output"
    offline_bt = h.babeltrace(out_dir_bt)
    assert offline_bt.rc == 0, offline_bt.err
    # lttng-relayd 2.13.9 hides the end of per-PID programs from every live
    # viewer (module docstring): ctflive must show what babeltrace2 shows of
    # its twin session, give or take the live timer phase.
    slack = 3 * TIMER_US // iv + 10
    for name in counts:
        ours = h.tick_indices(lines, name)
        theirs = h.tick_indices(bt_lines, name)
        rec = h.tick_indices(offline.lines, name)
        rec_bt = h.tick_indices(offline_bt.lines, name)
        assert ours == rec[:len(ours)], name
        assert theirs == rec_bt[:len(theirs)], name
        assert len(ours) >= len(theirs) - slack, (name, len(ours), len(theirs), len(rec))
    # The program that registered while every stream was idle was seen.
    assert h.tick_indices(lines, "pd"), "new program not discovered"


def test_view_per_pid_on_ctflive_relayd(lttng, make_relay):
    """ctflive-relayd announces every packet of exiting per-PID programs:
    the live view prints exactly what babeltrace2 prints for its output."""
    relay = make_relay("ctflive-relayd", "cand")
    setup_session(lttng, relay, "cpd", buffers="pid", num_subbuf=16)
    view = spawn_view(live_url(relay, "cpd"))
    wait_attached(relay, "cpd")
    iv = 20000
    a = lttng.spawn_app(60, iv, "ca")
    time.sleep(0.4)
    lttng.run_app(20, iv, "cb")
    lttng.wait_app(a)
    time.sleep(1.0)
    lttng.run_app(20, iv, "cc")
    time.sleep(3 * TIMER_US / 1e6)
    out_dir = relay.session_dir("cpd")
    lttng.stop_session("cpd")
    lttng.destroy("cpd")
    rc, lines, err = finish(view)
    assert rc == 0, err
    offline = h.babeltrace(out_dir)
    assert offline.rc == 0, offline.err
    assert lines == offline.lines
    for name, n in (("ca", 60), ("cb", 20), ("cc", 20)):
        assert h.tick_indices(lines, name) == list(range(n)), name


# --------------------------------------------------------------------------
# view: failures


def test_view_session_not_found(lttng, make_relay):
    relay = make_relay("lttng-relayd", "ref")
    r = subprocess.run([str(ctflive_path()), "view", live_url(relay, "nosuch")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "no session 'nosuch'" in r.stderr


@pytest.mark.parametrize("kind", ["lttng-relayd", "ctflive-relayd"])
def test_view_session_not_found_action(lttng, make_relay, kind):
    """--session-not-found-action, as babeltrace2's lttng-live parameter:
    end prints nothing and exits 0, fail (the default) exits 1, continue
    waits for the session, then prints it whole."""
    relay = make_relay(kind, "nf")
    url = live_url(relay, "nf1")
    r = subprocess.run([str(ctflive_path()), "view", "--session-not-found-action", "end", url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    r = subprocess.run([str(ctflive_path()), "view", "--session-not-found-action", "fail", url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no session 'nf1'" in r.stderr, r.stderr
    r = subprocess.run([str(ctflive_path()), "view", "--session-not-found-action", "maybe", url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "continue, fail or end" in r.stderr, r.stderr
    view = spawn_view(url, "--session-not-found-action", "continue")
    try:
        time.sleep(1)
        assert view.poll() is None, view.stderr.read()
        setup_session(lttng, relay, "nf1")
        lttng.run_app(200, 1000, "nf")
        lttng.stop_session("nf1")
        lttng.destroy("nf1")
        rc, lines, err = finish(view, 60)
    finally:
        h.stop_popen(view)
    assert rc == 0, err
    assert "waiting for it" in err, err
    assert h.tick_indices(lines, "nf") == list(range(200)), err[-2000:]


def test_view_second_viewer_refused(lttng, make_relay):
    relay = make_relay("lttng-relayd", "ref")
    setup_session(lttng, relay, "dup")
    lttng.run_app(5, 1000, "dup")
    view = spawn_view(live_url(relay, "dup"))
    wait_attached(relay, "dup")
    r = subprocess.run([str(ctflive_path()), "view", live_url(relay, "dup")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "already attached" in r.stderr
    lttng.destroy("dup")
    rc, _, err = finish(view)
    assert rc == 0, err


def test_view_relay_killed(lttng, make_relay):
    relay = make_relay("lttng-relayd", "ref")
    setup_session(lttng, relay, "kil")
    view = spawn_view(live_url(relay, "kil"))
    wait_attached(relay, "kil")
    app = lttng.spawn_app(3000, 1000, "kil")
    time.sleep(0.8)
    relay.proc.send_signal(signal.SIGKILL)
    relay.proc.wait(timeout=10)
    rc, lines, err = finish(view)
    assert rc == 1, (rc, err)
    assert "relay closed the connection" in err or "reset" in err.lower(), err
    assert "ctflive: error:" in err
    h.stop_popen(app)
    lttng.destroy("kil", check=False)


# --------------------------------------------------------------------------
# A hostile relay: absurd counts and lengths must give a clean error


class CutProxy:
    """A TCP proxy to a relay's live port whose connections the test cuts
    (both sides closed), as a network failure or a restarted middlebox
    would: the relay stays up."""

    def __init__(self, port: int):
        self.target = port
        self.srv = socket.socket()
        self.srv.bind((h.LOCALHOST, 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.create_connection((h.LOCALHOST, self.target))
            with self.lock:
                self.conns += [c, u]
                self.accepted += 1
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.srv.close()
        self.cut()


@pytest.mark.parametrize("kind", ["lttng-relayd", "ctflive-relayd"])
def test_view_resumes_after_connection_cut(lttng, make_relay, kind):
    """`ctflive view --reconnect-timeout` whose connection to a relay that
    stays up is cut twice mid-session (a proxy closes it): it reconnects,
    says so once per cut on stderr, resumes every stream after the last
    packet it had, and its output equals babeltrace2's of the relay's trace
    directory (no gap, no duplicate)."""
    if kind == "ctflive-relayd" and not h.have_ctflive_relayd():
        pytest.skip("ctflive-relayd not built")
    relay = make_relay(kind, "cut")
    setup_session(lttng, relay, "cut")
    proxy = CutProxy(relay.ports.live)
    try:
        view = spawn_view(f"net://{h.LOCALHOST}:{proxy.port}/host/{HOST}/cut",
                          "--reconnect-timeout", "20000")
        # read as it prints (spawn_view()): a view blocked on a full pipe
        # would not see the cuts
        wait_attached(relay, "cut")
        n = 3000
        app = lttng.spawn_app(n, 500, "cut")
        for _ in range(2):
            time.sleep(0.6)
            proxy.cut()
        lttng.wait_app(app)
        time.sleep(3 * TIMER_US / 1e6)
        out_dir = relay.session_dir("cut")
        lttng.stop_session("cut")
        lttng.destroy("cut")
        try:
            rc = view.wait(60)
        except subprocess.TimeoutExpired:
            h.stop_popen(view)
            raise
        err = view.stderr.read()
        view.out_reader.join(10)
        lines = "".join(view.out_chunks).splitlines()
    finally:
        proxy.close()
    assert rc == 0, err[-3000:]
    assert err.count("reconnected to relay") == 2, err[-3000:]
    assert proxy.accepted >= 3
    assert h.tick_indices(lines, "cut") == list(range(n))
    offline = h.babeltrace(out_dir)
    assert offline.rc == 0, offline.err
    assert lines == offline.lines


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


REQ_SIZE = {1: 20, 2: 0, 3: 20, 4: 8, 5: 20, 6: 8, 7: 8, 8: 0, 9: 8}


def _session_record(sid: int, name: str) -> bytes:
    return (struct.pack(">QIII", sid, TIMER_US, 0, 1) + HOST.encode().ljust(64, b"\0")[:64]
            + name.encode().ljust(255, b"\0"))


def _stream_record(sid: int, trace: int, metadata: bool, channel: str) -> bytes:
    return (struct.pack(">QQI", sid, trace, 1 if metadata else 0)
            + b"ust/uid/0/64-bit".ljust(4096, b"\0") + channel.encode().ljust(255, b"\0"))


class FakeRelay:
    """Answers CONNECT, CREATE_SESSION, LIST (one session "evil"), ATTACH
    (one data stream 10 and one metadata stream 11), then hands the request
    to `behaviour(cmd, payload)`, which returns raw reply bytes (or None to
    close the connection)."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((h.LOCALHOST, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            try:
                while True:
                    hdr = _recv_exact(conn, 16)
                    _, cmd, _ = struct.unpack(">QII", hdr)
                    payload = _recv_exact(conn, REQ_SIZE.get(cmd, 0))
                    reply = self._default(cmd, payload)
                    if reply is None:
                        reply = self.behaviour(cmd, payload)
                    if reply is None:
                        return
                    conn.sendall(reply)
            except (ConnectionError, OSError):
                return

    def _default(self, cmd, payload):
        if cmd == 1:
            return struct.pack(">QIII", 1, 2, 13, 0)
        if cmd == 8:
            return struct.pack(">I", 1)
        if cmd == 9:
            return struct.pack(">I", 1)
        return None

    def close(self):
        self.sock.close()


def _list_one(cmd, payload):
    if cmd == 2:
        return struct.pack(">I", 1) + _session_record(1, "evil")
    return None


def _attached(cmd, payload):
    r = _list_one(cmd, payload)
    if r is not None:
        return r
    if cmd == 3:
        return (struct.pack(">II", 1, 2) + _stream_record(10, 1, False, "ch_0")
                + _stream_record(11, 1, True, "metadata"))
    return None


def _index(status, offset=0, psize=0, csize=0, flags=0) -> bytes:
    return struct.pack(">QQQQQQQII", offset, psize, csize, 1, 2, 0, 0, status, flags)


HOSTILE = {
    "list count 2^32-1": lambda c, p: struct.pack(">I", 0xFFFFFFFF) if c == 2 else None,
    "list truncated": lambda c, p: struct.pack(">I", 3) + b"x" * 100 if c == 2 else None,
    "session name without NUL": lambda c, p: (struct.pack(">I", 1) + struct.pack(">QIII", 1, 1, 0, 0)
                                              + b"h" * 64 + b"s" * 255) if c == 2 else None,
    "attach stream count 2^31": lambda c, p: _list_one(c, p) or (
        struct.pack(">II", 1, 0x80000000) if c == 3 else None),
    "attach status 0": lambda c, p: _list_one(c, p) or (
        struct.pack(">II", 0, 0) if c == 3 else None),
    "metadata length 2^63": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 1 << 63, 1) if c == 6 else None),
    "metadata length lies": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 1000, 1) + b"\x57\x1d" if c == 6 else None),
    "index packet of 2^60 bits": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 0, 2) if c == 6 else
        _index(1, 0, 1 << 60, 1 << 59) if c == 4 else None),
    "index content > packet": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 0, 2) if c == 6 else _index(1, 0, 8192, 16384) if c == 4 else None),
    "index status 77": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 0, 2) if c == 6 else _index(77) if c == 4 else None),
    "packet reply longer than asked": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 0, 2) if c == 6 else _index(1, 0, 8192 * 8, 8192 * 8) if c == 4
        else struct.pack(">III", 1, 1 << 31, 0) if c == 5 else None),
    "packet error with payload": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 0, 2) if c == 6 else _index(1, 0, 8192 * 8, 8192 * 8) if c == 4
        else struct.pack(">III", 3, 8192, 0) if c == 5 else None),
    "closes mid-reply": lambda c, p: _attached(c, p) or (
        struct.pack(">QI", 0, 2) if c == 6 else _index(1)[:10] + b"" if c == 4 else None),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_relay(case):
    calls = {"n": 0}

    def behaviour(cmd, payload):
        calls["n"] += 1
        if calls["n"] > 200:
            return None
        r = HOSTILE[case](cmd, payload)
        if r is None:
            return None  # unexpected request: hang up
        if case == "closes mid-reply" and cmd == 4:
            raise ConnectionError("close")
        return r

    relay = FakeRelay(behaviour)
    try:
        url = f"net://{h.LOCALHOST}:{relay.port}"
        argv = [str(ctflive_path()), "view", "--timeout", "5000", f"{url}/host/{HOST}/evil"]
        if case.startswith("list"):
            argv = [str(ctflive_path()), "ls", "--timeout", "5000", url]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env())
    finally:
        relay.close()
    # A clean error: exit status 1 (not a signal), one error line.
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "ctflive: error:" in r.stderr, r.stderr
    assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr


# --------------------------------------------------------------------------
# view: merge order of equal times


def _scripted_session(relay: h.Relay, name: str, host: str, channels: list[str]):
    """A live session of a scripted consumer (relayd_client) into `relay`,
    up to STREAMS_SENT: (control, data, CREATE_SESSION reply, data stream
    handles in `channels` order, metadata stream handle)."""
    import relayd_client as rc

    c, d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
    try:
        c.version()
        rep = c.create_session(rc.enc_create_session_2_11(name, host, live_timer=TIMER_US))
        assert rep.ret_code == rc.LTTNG_OK, rep
        assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        path = "ust/uid/1000/64-bit"
        handles = []
        for ch in channels:
            sh, ret = c.add_stream(ch, path)
            assert ret == rc.LTTNG_OK
            handles.append(sh)
        meta, ret = c.add_stream("metadata", path)
        assert ret == rc.LTTNG_OK
        assert c.streams_sent() == rc.LTTNG_OK
    except BaseException:
        c.close()
        d.close()
        raise
    return c, d, rep, handles, meta


def test_view_equal_times_in_stream_order(ws, request):
    """Two streams whose events carry the same times, the stream with the
    larger stream_instance_id announced first: like babeltrace2, ties go to
    the smaller stream ID, whatever order the relay lists the streams in. The
    session is produced by a scripted consumer into ctflive-relayd; the live
    output must equal babeltrace2's for the relay's output directory."""
    import relayd_client as rc

    if not h.have_ctflive_relayd():
        pytest.skip("ctflive-relayd not built")
    relay = h.CtfliveRelayd(ws, "r")
    relay.start()
    request.addfinalizer(relay.stop)  # also when the test fails before its end
    c, d, rep, hs, meta = _scripted_session(relay, "eq", "eqhost", ["chan_1", "chan_0"])
    handles = list(zip(hs, (1, 0)))
    view = None
    try:
        c.send_metadata(meta, rc.make_metadata("eqhost"), 0)
        view = spawn_view(f"net://{h.LOCALHOST}:{relay.ports.live}/host/eqhost/eq")
        wait_attached(relay, "eq")
        packets, per_packet = 3, 20
        for seq in range(packets):
            for sh, cpu in handles:
                pk = rc.make_packet(seq * per_packet, per_packet, seq, cpu=cpu)
                d.send_packet(sh, seq, pk.data, pk.padding)
                assert c.send_index(sh, seq, pk.index) == rc.LTTNG_OK
        time.sleep(3 * TIMER_US / 1e6)
        assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
        for sh, _cpu in handles:
            assert c.close_stream(sh, packets - 1) == rc.LTTNG_OK
        out_dir = relay.output / rep.path.rstrip(b"\0").decode()
    finally:
        c.close()
        d.close()
    try:
        rc_, lines, err = finish(view)
        assert rc_ == 0, err
        offline = h.babeltrace(out_dir)
        assert offline.rc == 0, offline.err
        assert len(lines) == 2 * packets * per_packet
        assert lines == offline.lines
        # each time twice in a row: cpu 0 (stream ID 0) first
        assert [("cpu_id = 0" in a, "cpu_id = 1" in b) for a, b in zip(lines[::2], lines[1::2])] \
            == [(True, True)] * (packets * per_packet)
    finally:
        relay.stop()


def test_view_waits_for_metadata_of_stream_class(ws, request):
    """A relay may hand out a packet's index before the metadata declaring
    its stream class (seen with LTTng 2.16 sessions under load): the scripted
    consumer sends the trace's metadata up to its stream declarations, then
    packets, and the rest of the metadata 1.5 s later. `ctflive view` waits
    for the class (asking for metadata again) instead of failing with
    'metadata declares no stream class', and prints every event."""
    import relayd_client as rc

    if not h.have_ctflive_relayd():
        pytest.skip("ctflive-relayd not built")
    relay = h.CtfliveRelayd(ws, "r")
    relay.start()
    request.addfinalizer(relay.stop)  # also when the test fails before its end
    c, d, rep, (sh,), meta = _scripted_session(relay, "md", "mdhost", ["chan_0"])
    view = None
    packets, per_packet = 3, 20
    try:
        full = rc.make_metadata("mdhost")
        cut = full.index(b"stream {")
        c.send_metadata(meta, full[:cut], 0)
        view = spawn_view(f"net://{h.LOCALHOST}:{relay.ports.live}/host/mdhost/md")
        wait_attached(relay, "md")
        for seq in range(packets):
            pk = rc.make_packet(seq * per_packet, per_packet, seq)
            d.send_packet(sh, seq, pk.data, pk.padding)
            assert c.send_index(sh, seq, pk.index) == rc.LTTNG_OK
        time.sleep(1.5)
        assert view.poll() is None, "ctflive view gave up before the metadata came"
        c.send_metadata(meta, full[cut:], 0)
        time.sleep(3 * TIMER_US / 1e6)
        assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
        assert c.close_stream(sh, packets - 1) == rc.LTTNG_OK
        out_dir = relay.output / rep.path.rstrip(b"\0").decode()
    finally:
        c.close()
        d.close()
    try:
        rc_, lines, err = finish(view)
        assert rc_ == 0, err
        offline = h.babeltrace(out_dir)
        assert offline.rc == 0, offline.err
        assert len(lines) == packets * per_packet
        assert lines == offline.lines
    finally:
        relay.stop()



def _relay_with_stalled_metadata_sync(ws, request, name: str = "r"):
    """A ctflive-relayd whose fdatasync of a `metadata` file waits while the
    returned arm file exists (fault-shim.c, "stall"): metadata it received
    stays unpublished for as long as the test wants, as under heavy load."""
    shim = h.build_dir() / "tests" / "integration" / "ctflive-fault-shim.so"
    if not h.have_ctflive_relayd():
        pytest.skip("ctflive-relayd not built")
    if not shim.exists():
        pytest.skip(f"fault shim not built ({shim})")
    relay = h.CtfliveRelayd(ws, name)
    copy = relay.dir / "fault-shim.so"
    shutil.copy2(shim, copy)
    os.chmod(copy, 0o755)
    arm = relay.dir / "stall-metadata-sync"
    relay.extra_env = {
        "LD_PRELOAD": str(copy),
        "CTFLIVE_FAULT": "fdatasync:from:1:stall:64-bit/metadata",
        "CTFLIVE_FAULT_ARM": str(arm),
        # An ASan build of the relay: the shim may come first.
        "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""),
    }
    relay.start()
    request.addfinalizer(relay.stop)
    request.addfinalizer(lambda: arm.unlink(missing_ok=True))  # runs first: unblocks the sync
    return relay, arm


def _poll_metadata(conn, stream_id: int, timeout: float = 10.0) -> bytes:
    """GET_METADATA until the relay hands out bytes (NO_NEW meanwhile)."""
    import live_client as lc

    deadline = time.monotonic() + timeout
    while True:
        status, data = conn.get_metadata(stream_id)
        if status == lc.METADATA_OK:
            return data
        assert status == lc.METADATA_NO_NEW, f"GET_METADATA status {status}"
        assert time.monotonic() < deadline, "no metadata published"
        time.sleep(0.02)


def test_relay_metadata_ends_only_once_published(ws, request):
    """Per-PID sessions: a short-lived program's consumer sends the last
    metadata of its trace and closes the metadata stream at once, while the
    relay's sync of those bytes is still under way. ctflive-relayd must not
    end the metadata stream (GET_METADATA ERR, which viewers take as "you
    have it all") before those bytes are published: NO_NEW until then, the
    bytes, then NO_NEW and ERR."""
    import live_client as lc
    import relayd_client as rc

    relay, arm = _relay_with_stalled_metadata_sync(ws, request)
    c, d, _rep, _hs, meta = _scripted_session(relay, "mp", "mphost", ["chan_0"])
    try:
        full = rc.make_metadata("mphost")
        cut = full.index(b"stream {")
        c.send_metadata(meta, full[:cut], 0)
        with lc.LiveConn(relay.ports.live) as v:
            v.connect()
            assert v.create_session() == lc.CREATE_SESSION_OK
            status, streams = v.attach(lc.find_session(v, "mp").id, lc.SEEK_BEGINNING)
            assert status == lc.ATTACH_OK
            (ms,) = [s for s in streams if s.metadata]
            assert _poll_metadata(v, ms.id) == full[:cut]
            assert v.get_metadata(ms.id)[0] == lc.METADATA_NO_NEW
            arm.touch()
            c.send_metadata(meta, full[cut:], 0)
            assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
            # received and closed, not yet published: never ERR
            for _ in range(5):
                assert v.get_metadata(ms.id) == (lc.METADATA_NO_NEW, b"")
                time.sleep(0.05)
            arm.unlink()
            assert _poll_metadata(v, ms.id) == full[cut:]
            assert v.get_metadata(ms.id)[0] == lc.METADATA_NO_NEW
            assert v.get_metadata(ms.id)[0] == lc.METADATA_ERR
    finally:
        c.close()
        d.close()


def test_view_metadata_published_after_its_stream_closed(ws, request):
    """`ctflive view` holds a packet of a stream class its metadata does not
    declare yet; the declaring metadata arrives and the metadata stream
    closes while the relay's sync of it is still under way (1 s). The view
    gets that metadata once published and prints every event (it failed
    after 10 s with 'still no metadata declaring that class')."""
    import relayd_client as rc

    relay, arm = _relay_with_stalled_metadata_sync(ws, request)
    c, d, rep, (sh,), meta = _scripted_session(relay, "mc", "mchost", ["chan_0"])
    view = None
    packets, per_packet = 3, 20
    try:
        full = rc.make_metadata("mchost")
        cut = full.index(b"stream {")
        c.send_metadata(meta, full[:cut], 0)
        view = spawn_view(f"net://{h.LOCALHOST}:{relay.ports.live}/host/mchost/mc")
        wait_attached(relay, "mc")
        for seq in range(packets):
            pk = rc.make_packet(seq * per_packet, per_packet, seq)
            d.send_packet(sh, seq, pk.data, pk.padding)
            assert c.send_index(sh, seq, pk.index) == rc.LTTNG_OK
        time.sleep(1.0)  # the view holds a packet and asks for its class
        arm.touch()
        c.send_metadata(meta, full[cut:], 0)
        assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
        time.sleep(1.0)  # asking for metadata while its sync waits
        arm.unlink()
        assert view.poll() is None, "ctflive view gave up"
        time.sleep(3 * TIMER_US / 1e6)
        assert c.close_stream(sh, packets - 1) == rc.LTTNG_OK
        out_dir = relay.output / rep.path.rstrip(b"\0").decode()
    finally:
        c.close()
        d.close()
    rc_, lines, err = finish(view)
    assert rc_ == 0, err
    offline = h.babeltrace(out_dir)
    assert offline.rc == 0, offline.err
    assert len(lines) == packets * per_packet
    assert lines == offline.lines


def test_not_a_relay():
    """Another service on the port: said plainly, not as a version number."""
    srv = socket.socket()
    srv.bind((h.LOCALHOST, 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def answer():
        c, _ = srv.accept()
        c.recv(100)
        c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)
        c.close()
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        r = subprocess.run([str(ctflive_path()), "ls", "--timeout", "5000",
                            f"net://{h.LOCALHOST}:{port}"], capture_output=True, text=True,
                           timeout=30)
    finally:
        t.join(5)
        srv.close()
    assert r.returncode == 1
    assert "does not speak the LTTng live protocol" in r.stderr, r.stderr


def test_ls_escapes_control_characters():
    """Names from a relay are printed with control characters escaped: a
    hostile relay cannot drive the terminal or forge a line of the listing."""
    def behaviour(cmd, payload):
        if cmd == 2:
            rec = struct.pack(">QIII", 1, 100000, 0, 1)
            rec += b"ho\x1b[31mst".ljust(64, b"\0") + b"na\nme\x7f".ljust(255, b"\0")
            return struct.pack(">I", 1) + rec
        return None

    relay = FakeRelay(behaviour)
    try:
        url = f"net://{h.LOCALHOST}:{relay.port}"
        r = subprocess.run([str(ctflive_path()), "ls", "--timeout", "5000", url],
                           capture_output=True, text=True, timeout=60, env=env())
    finally:
        relay.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"{url}/host/ho\\x1b[31mst/na\\x0ame\\x7f (timer = 100000, "
                        "1 stream(s), 0 client(s) connected, CTF 1.8)\n"), r.stdout
