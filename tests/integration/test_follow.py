# SPDX-License-Identifier: MIT
"""Acceptance tests of `ctflive follow` (issue 5): reading a session directory
live, straight from disk, while ctflive-relayd writes it, under the lock
protocol of doc/file-formats.md.

1. real lttng-sessiond live session: follow prints exactly what babeltrace2
   reads offline afterwards, and exits 0 by itself;
2. a fast synthetic producer: a reader that ignores the locks counts the
   partial entries/packets it meets, follow meets none;
3. lost packets (data never sent): all-ones index entries, babeltrace2 still
   reads the trace, follow and view report them;
4. kill -9 of the relay during ingest, restart on the same output: every
   trace readable, every packet published before the kill still there.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

import live_support as ls
import lttng_harness as h
import relayd_client as rc

MARKER = ".ctflive-session"
ENTRY = struct.Struct(">QQQQQQQQQ")  # index 1.1 entry, 72 bytes
FLOCK = "hh4xqqi4x"                   # struct flock on x86-64 / aarch64 Linux


def ctflive_path() -> Path:
    return h.build_dir() / "src" / "cli" / "ctflive"


@pytest.fixture(autouse=True)
def _need_ctflive():
    if not ctflive_path().exists():
        pytest.skip(f"ctflive not built ({ctflive_path()})")


def env() -> dict[str, str]:
    return dict(os.environ, TZ="UTC", LANG="C")


def wait_marker(session_dir: Path, timeout: float = 10.0) -> None:
    """The relay creates the marker with the session; without it follow would
    read the directory once and exit."""
    try:
        h.wait_for(lambda: (session_dir / MARKER).exists(), timeout,
                   what=f"session marker in {session_dir}")
    except TimeoutError:
        pytest.fail(f"ctflive-relayd wrote no {MARKER} in {session_dir} "
                    "(doc/file-formats.md §4)")


class Follow:
    """`ctflive follow` in the background, output to files."""

    def __init__(self, d: Path, tmp: Path, *args: str):
        self.out, self.err = tmp / "follow.out", tmp / "follow.err"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.p = subprocess.Popen([str(ctflive_path()), "follow", *args, str(d)],
                                      stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=env())

    def finish(self, timeout: float = 60.0) -> tuple[int, list[str], str]:
        try:
            rcode = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            h.stop_popen(self.p)
            raise AssertionError(f"ctflive follow did not exit within {timeout} s; "
                                 f"stderr: {self.err.read_text()[-2000:]}")
        return rcode, self.out.read_text().splitlines(), self.err.read_text()

    def stop(self) -> None:
        if self.p.poll() is None:
            h.stop_popen(self.p)


def view(d: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ctflive_path()), "view", str(d)], capture_output=True,
                          text=True, env=env(), timeout=60)


def synthetic_session(relay: h.Relay, name: str, live_timer: int = 100000):
    """VERSION, CREATE_SESSION, chunk, one data stream and metadata."""
    c, d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
    c.version()
    rep = c.create_session(rc.enc_create_session_2_11(name, "synhost", live_timer=live_timer))
    assert rep.ret_code == rc.LTTNG_OK, rep
    assert c.create_trace_chunk(0, int(time.time())) == rc.LTTNG_OK
    data_h, ret = c.add_stream("chan_0", "ust/uid/1000/64-bit")
    assert ret == rc.LTTNG_OK
    meta_h, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
    assert ret == rc.LTTNG_OK
    assert c.streams_sent() == rc.LTTNG_OK
    c.send_metadata(meta_h, rc.make_metadata("synhost"), 0)
    return c, d, data_h, meta_h


def ticks(lines: list[str]) -> list[int]:
    out = []
    for line in lines:
        if "ctflive_test:tick" in line:
            out.append(int(line.rsplit("index = ", 1)[1].split()[0].rstrip(",}")))
    return out


# --------------------------------------------------------------------------
# 1. real LTTng live session


def test_follow_lttng_live_exact(lttng, make_relay, ws):
    """follow started before the program prints exactly the lines that
    babeltrace2 reads offline after the session ends, and exits 0."""
    relay = make_relay("ctflive-relayd", "r")
    ls.setup_session(lttng, relay, "fol1")
    sdir = relay.session_dir("fol1")
    wait_marker(sdir)
    fo = Follow(sdir, ws.mkdir("f1"))
    try:
        n = 400
        lttng.run_app(n, 1000, "f1")
        time.sleep(0.3)
        lttng.stop_session("fol1")
        lttng.destroy("fol1")
        rcode, lines, err = fo.finish()
    finally:
        fo.stop()
    assert rcode == 0, err
    bt = h.babeltrace(sdir)
    assert bt.rc == 0, bt.err
    assert h.tick_indices(lines, "f1") == list(range(n))
    assert lines == bt.lines
    print(f"follow printed {len(lines)} lines, identical to babeltrace2's offline read")


def test_view_says_session_unfinished(ws):
    """`ctflive view DIR` of a session directory prints what is published
    and says on stderr when the session is still being written (its marker
    locked: use follow) or did not end normally; nothing for "complete"."""
    fx = h.fixtures_dir()
    if fx is None:
        pytest.skip("no fixtures")
    d = ws.mkdir("vu") / "s"
    subprocess.run(["cp", "-a", str(fx / "relay-output" / "rrm7-20261129-105252"), str(d)],
                   check=True)
    subprocess.run(["chmod", "-R", "u+w", str(d)], check=True)
    whole = view(d)
    assert whole.returncode == 0 and whole.stderr == "", whole.stderr
    with open(d / MARKER, "w+") as marker:
        marker.write("active\n")
        marker.flush()
        fcntl.lockf(marker, fcntl.LOCK_EX)
        r = view(d)
        assert r.returncode == 0 and r.stdout == whole.stdout
        assert "still being written" in r.stderr and "ctflive follow" in r.stderr, r.stderr
        marker.seek(0)
        marker.truncate(0)
        marker.write("interrupted\n")
        marker.flush()
        fcntl.lockf(marker, fcntl.LOCK_UN)
    r = view(d)
    assert r.returncode == 0 and r.stdout == whole.stdout
    assert "did not end normally (session marker: 'interrupted')" in r.stderr, r.stderr
    (d / MARKER).write_text("complete\n")
    r = view(d)
    assert r.returncode == 0 and r.stderr == "", r.stderr


_DELTA_RE = re.compile(r"^(\[[0-9:.]+\]) \(\+[0-9.?]+\) ")


def no_delta(lines: list[str]) -> list[str]:
    """Lines without the delta to the previous line (which depends on what
    precedes a line: follow printed more than what is left on disk)."""
    return [_DELTA_RE.sub(r"\1 ", x) for x in lines]


def follow_warned_lost(err: str) -> bool:
    """follow told its user that packets are missing (overwritten by the
    tracefile ring, or removed by a clear before it could read them)."""
    return any(w in err for w in ("discarded", "lost", "replaced before"))


@pytest.mark.parametrize("pause", [False, True], ids=["keeps-up", "paused"])
def test_follow_tracefile_ring(lttng, make_relay, ws, pause):
    """--tracefile-size/--tracefile-count: the relay replaces the files of a
    ring slot (new inode at the same path). follow continues with each new
    file in time order: every line babeltrace2 reads offline at the end (the
    packets still on disk) is in follow's output, follow exits 0, and if it
    missed overwritten packets it said so."""
    relay = make_relay("ctflive-relayd", "r")
    lttng.create_live("ring", relay, 100000)
    lttng.enable_channel("ring", "ch", subbuf_size=16384, num_subbuf=4,
                         tracefile_size=32768, tracefile_count=2)
    lttng.enable_event("ring", channel="ch")
    lttng.start_session("ring")
    sdir = relay.session_dir("ring")
    wait_marker(sdir)
    fo = Follow(sdir, ws.mkdir("fr"))
    old = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(old)})  # one CPU: one ring
        try:
            app = lttng.spawn_app(3000, 1000, "ring")
        finally:
            os.sched_setaffinity(0, old)
        if pause:
            # follow falls behind: the ring overwrites files it has not read
            time.sleep(0.5)
            os.kill(fo.p.pid, signal.SIGSTOP)
            time.sleep(1.5)
            os.kill(fo.p.pid, signal.SIGCONT)
        lttng.wait_app(app)
        time.sleep(0.3)
        lttng.stop_session("ring")
        lttng.destroy("ring")
        rcode, lines, err = fo.finish()
    finally:
        fo.stop()
    assert rcode == 0, err
    bt = h.babeltrace(sdir)
    assert bt.rc == 0, bt.err
    got = set(no_delta(lines))
    missing = [x for x in no_delta(bt.lines) if x not in got]
    assert not missing, (f"{len(missing)} of {len(bt.lines)} lines of babeltrace2 missing "
                         f"from follow's {len(lines)}: {missing[:3]}; stderr: {err[-2000:]}")
    idx = h.tick_indices(lines, "ring")
    assert idx == sorted(idx), "follow's ticks are not in time order"
    if len(set(idx)) < 3000:
        assert follow_warned_lost(err), (f"follow printed {len(set(idx))} of 3000 ticks "
                                         f"without a warning: {err[-2000:]}")
    rings = sorted(p.name for p in sdir.rglob("ch_*") if p.parent.name != "index")
    print(f"follow printed {len(idx)} ticks (babeltrace2 offline: {len(bt.lines)} lines, "
          f"files {rings}); stderr: {err.strip()[-500:]}")


def test_follow_lttng_clear(lttng, make_relay, ws):
    """`lttng clear` during a live session: the relay re-creates the files of
    each stream (and the metadata, a full re-send) at the same paths in a new
    trace chunk and deletes the old one. follow continues with the new files:
    every line babeltrace2 reads afterwards (the post-clear data) is in
    follow's output, and follow exits 0."""
    relay = make_relay("ctflive-relayd", "r")
    ls.setup_session(lttng, relay, "clr")
    sdir = relay.session_dir("clr")
    wait_marker(sdir)
    # The clear holds packets back for a while: order across streams relies
    # on --grace covering it (follow.h, "Merging while live").
    fo = Follow(sdir, ws.mkdir("fc"), "--grace", "3000")
    try:
        app = lttng.spawn_app(1000, 2000, "clr")
        time.sleep(1.0)
        lttng.clear("clr")
        lttng.wait_app(app)
        time.sleep(0.3)
        lttng.stop_session("clr")
        lttng.destroy("clr")
        rcode, lines, err = fo.finish()
    finally:
        fo.stop()
    assert rcode == 0, err
    bt = h.babeltrace(sdir)
    assert bt.rc == 0, bt.err
    after = h.tick_indices(bt.lines, "clr")
    assert after and after[-1] == 999, f"babeltrace2 read {len(after)} ticks after the clear"
    got = set(no_delta(lines))
    missing = [x for x in no_delta(bt.lines) if x not in got]
    assert not missing, (f"{len(missing)} of {len(bt.lines)} lines of babeltrace2 missing "
                         f"from follow's {len(lines)}: {missing[:3]}; stderr: {err[-2000:]}")
    idx = h.tick_indices(lines, "clr")
    assert idx == sorted(idx), "follow's ticks are not in time order"
    print(f"follow printed {len(idx)} ticks ({len(set(idx))} distinct), babeltrace2 "
          f"{len(after)} after the clear; stderr: {err.strip()[-500:]}")


# --------------------------------------------------------------------------
# 2. lock-ignoring reader vs follow, fast synthetic producer


class GreedyReader(threading.Thread):
    """Reads the index and tracefile as fast as it can, ignoring the locks,
    and counts what a reader that trusts file sizes meets: entries not whole,
    packets past the end of the data, packet bytes unlike what was sent."""

    def __init__(self, trace_dir: Path, expected: list[bytes], stop: threading.Event):
        super().__init__(daemon=True)
        self.trace_dir, self.expected, self.stop_ev = trace_dir, expected, stop
        self.partial_entries = self.past_end = self.mismatched = 0
        self.read_ok = 0

    def run(self) -> None:
        idx_p, dat_p = self.trace_dir / "index" / "chan_0.idx", self.trace_dir / "chan_0"
        while not (idx_p.exists() and dat_p.exists()):
            if self.stop_ev.is_set():
                return
            time.sleep(0.0005)
        with open(idx_p, "rb") as fi, open(dat_p, "rb") as fd:
            k, seen_partial = 0, set()
            while True:
                last = self.stop_ev.is_set()
                size = os.fstat(fi.fileno()).st_size
                if size >= 16 and (size - 16) % ENTRY.size and size not in seen_partial:
                    seen_partial.add(size)
                    self.partial_entries += 1
                while 16 + (k + 1) * ENTRY.size <= size:
                    raw = os.pread(fi.fileno(), ENTRY.size, 16 + k * ENTRY.size)
                    if len(raw) < ENTRY.size:
                        self.partial_entries += 1
                        break
                    off, psize = ENTRY.unpack(raw)[:2]
                    if off == rc.U64_MAX:
                        k += 1
                        continue
                    n = psize // 8
                    if off + n > os.fstat(fd.fileno()).st_size:
                        self.past_end += 1
                        break
                    data = os.pread(fd.fileno(), n, off)
                    if k < len(self.expected) and data != self.expected[k]:
                        self.mismatched += 1
                        break
                    self.read_ok += 1
                    k += 1
                if last:
                    return


def test_follow_never_sees_partial_writes(make_relay, ws):
    relay = make_relay("ctflive-relayd", "r")
    n, per = 3000, 2
    pkts = [rc.make_packet(i * per, per, i, packet_bytes=256) for i in range(n)]
    expected = [p.data + b"\0" * p.padding for p in pkts]
    c, d, data_h, meta_h = synthetic_session(relay, "greedy")
    try:
        sdir = relay.session_dir("greedy")
        wait_marker(sdir)
        tdir = sdir / "ust" / "uid" / "1000" / "64-bit"
        fo = Follow(sdir, ws.mkdir("f2"))
        stop = threading.Event()
        greedy = GreedyReader(tdir, expected, stop)
        greedy.start()
        for i, p in enumerate(pkts):
            d.send_packet(data_h, i, p.data, p.padding)
            assert c.send_index(data_h, i, p.index) == rc.LTTNG_OK
        assert c.close_stream(data_h, n - 1) == rc.LTTNG_OK
        assert c.close_stream(meta_h, rc.U64_MAX) == rc.LTTNG_OK
    finally:
        c.close()
        d.close()
    try:
        rcode, lines, err = fo.finish()
    finally:
        fo.stop()
        stop.set()
        greedy.join(30)
    print(f"lock-ignoring reader: {greedy.read_ok} packets read, "
          f"{greedy.partial_entries} partial index entries, "
          f"{greedy.past_end} packets past the end of the data, "
          f"{greedy.mismatched} packets with bytes unlike what was sent")
    got = ticks(lines)
    bad = sum(1 for i, v in enumerate(got) if v != i) + abs(len(got) - n * per)
    print(f"ctflive follow: {len(got)} events, {bad} wrong or missing (partial reads: 0 "
          f"unless this is non-zero)")
    assert rcode == 0, err
    assert got == list(range(n * per))
    off = view(sdir)
    assert off.returncode == 0, off.stderr
    assert lines == off.stdout.splitlines()


# --------------------------------------------------------------------------
# 3. lost packets


def test_follow_reports_lost_packets(make_relay, ws):
    relay = make_relay("ctflive-relayd", "r")
    n, skipped, tail = 10, 3, [10, 11]
    pkts = [rc.make_packet(i * 5, 5, i) for i in range(n + len(tail))]
    c, d, data_h, meta_h = synthetic_session(relay, "lost")
    try:
        sdir = relay.session_dir("lost")
        wait_marker(sdir)
        fo = Follow(sdir, ws.mkdir("f3"))
        for i in range(n):
            if i != skipped:
                d.send_packet(data_h, i, pkts[i].data, pkts[i].padding)
        time.sleep(0.2)  # the data connection is read independently
        for i in range(n + len(tail)):
            assert c.send_index(data_h, i, pkts[i].index) == rc.LTTNG_OK
        d.close()  # the indexes of `tail` will never get their data
        time.sleep(0.2)
        assert c.close_stream(data_h, n + len(tail) - 1) == rc.LTTNG_OK
        assert c.close_stream(meta_h, rc.U64_MAX) == rc.LTTNG_OK
    finally:
        c.close()
        d.close()
    try:
        rcode, lines, err = fo.finish()
    finally:
        fo.stop()
    tdir = sdir / "ust" / "uid" / "1000" / "64-bit"
    idx = h.read_index(tdir / "index" / "chan_0.idx")
    lost = [k for k, e in enumerate(idx.entries) if e[0] == rc.U64_MAX]
    assert lost == [skipped, *tail], idx.entries
    bt = h.babeltrace(sdir)
    assert bt.rc == 0, bt.err
    assert "discarded 1 packet" in bt.err, bt.err
    assert rcode == 0, err
    want = [t for i in range(n) if i != skipped for t in range(i * 5, i * 5 + 5)]
    assert ticks(lines) == want
    assert lines == bt.lines
    v = view(sdir)
    assert v.returncode == 0 and "Tracer discarded 1 packet" in v.stderr, v.stderr
    warn = [x for x in err.splitlines() if x.startswith("WARNING: Tracer discarded")]
    assert len(warn) == 2, err
    # view reads the same index: the packets lost after the last one too
    assert [x for x in v.stderr.splitlines() if x.startswith("WARNING: Tracer")] == warn
    assert "discarded 1 packet " in warn[0] and "discarded 2 packets " in warn[1], warn
    js = subprocess.run([str(ctflive_path()), "follow", "--json", str(sdir)],
                        capture_output=True, text=True, env=env(), timeout=60)
    assert js.returncode == 0, js.stderr
    recs = [x for x in js.stdout.splitlines() if "lost_in_transit" in x]
    assert len(recs) == 2, js.stdout[-2000:]
    print("follow stderr:\n" + "\n".join(warn))


# --------------------------------------------------------------------------
# 4. kill -9 during ingest, recovery


def ofd_safe_end(fd: int, start: int) -> int | None:
    """F_OFD_GETLK from `start`: where the unpublished region begins (None:
    the whole file is published)."""
    arg = struct.pack(FLOCK, fcntl.F_RDLCK, os.SEEK_SET, start, 0, 0)
    typ, _w, lstart, _l, _p = struct.unpack(FLOCK, fcntl.fcntl(fd, fcntl.F_OFD_GETLK, arg))
    return None if typ == fcntl.F_UNLCK else max(lstart, start)


class PublishedReader(threading.Thread):
    """Follows the locks (as `ctflive follow` does) and records every index
    entry and packet published so far."""

    def __init__(self, tdir: Path, stop: threading.Event):
        super().__init__(daemon=True)
        self.tdir, self.stop_ev = tdir, stop
        self.got: list[tuple[bytes, bytes]] = []

    def run(self) -> None:
        idx_p, dat_p = self.tdir / "index" / "chan_0.idx", self.tdir / "chan_0"
        while not (idx_p.exists() and dat_p.exists()):
            if self.stop_ev.wait(0.002):
                return
        fi, fd = os.open(idx_p, os.O_RDONLY), os.open(dat_p, os.O_RDONLY)
        try:
            while not self.stop_ev.is_set():
                a = 16 + len(self.got) * ENTRY.size
                end = ofd_safe_end(fi, 0)
                if end is not None and end < a + ENTRY.size:
                    time.sleep(0.001)
                    continue
                raw = os.pread(fi, ENTRY.size, a)
                if len(raw) < ENTRY.size:
                    time.sleep(0.001)
                    continue
                off, psize = ENTRY.unpack(raw)[:2]
                data = b"" if off == rc.U64_MAX else os.pread(fd, psize // 8, off)
                self.got.append((raw, data))
        finally:
            os.close(fi)
            os.close(fd)


def producer(relay: h.Relay, name: str, stop: threading.Event, sent: list[int]) -> None:
    try:
        c, d, data_h, _m = synthetic_session(relay, name)
        i = 0
        while not stop.is_set():
            p = rc.make_packet(i * 3, 3, i, packet_bytes=512)
            d.send_packet(data_h, i, p.data, p.padding)
            c.send_index(data_h, i, p.index)
            i += 1
            sent.append(i)
            if i % 50 == 0:
                time.sleep(0.001)
    except (OSError, rc.ConnectionClosed) as e:
        if not stop.is_set():
            print(f"producer {name}: {e}")


def test_follow_relay_kill9_recovery(make_relay, ws):
    kills = 50 if os.environ.get("CTFLIVE_SOAK") == "1" else 8
    seed = int(os.environ.get("CTFLIVE_TEST_SEED", str(random.randrange(1 << 30))))
    rnd = random.Random(seed)
    print(f"seed {seed} (CTFLIVE_TEST_SEED), {kills} kills")
    relay = make_relay("ctflive-relayd", "r")
    published: dict[str, list[tuple[bytes, bytes]]] = {}
    for k in range(kills):
        name = f"k{k}"
        stop, sent = threading.Event(), []
        prod = threading.Thread(target=producer, args=(relay, name, stop, sent), daemon=True)
        prod.start()
        sdir = relay.session_dir(name)
        tdir = sdir / "ust" / "uid" / "1000" / "64-bit"
        reader = PublishedReader(tdir, stop)
        reader.start()
        time.sleep(rnd.uniform(0.1, 0.8))
        reader_stop_at = len(reader.got)
        os.kill(relay.proc.pid, 9)
        relay.proc.wait(10)
        stop.set()
        prod.join(10)
        reader.join(10)
        # Once the relay is dead its locks are gone: only what was read
        # before the kill was known to be published.
        published[name] = reader.got[:reader_stop_at]
        print(f"kill {k}: {len(sent)} packets sent, {len(reader.got)} seen published "
              f"({reader_stop_at} before the kill signal)")
        (relay.dir / "ports").unlink(missing_ok=True)  # else start() reads the old one
        relay.start()
    # Let the last restart recover, then check every session.
    time.sleep(0.5)
    problems = []
    for name, got in published.items():
        sdir = relay.session_dir(name)
        tdir = sdir / "ust" / "uid" / "1000" / "64-bit"
        bt = h.babeltrace(sdir)
        if bt.rc != 0 or "ERROR" in bt.err:
            problems.append(f"{name}: babeltrace2 rc {bt.rc}: {bt.err[-500:]}")
        state = (sdir / MARKER).read_text().strip() if (sdir / MARKER).exists() else "none"
        if state != "recovered":
            problems.append(f"{name}: marker {state!r}, want 'recovered'")
        idx = (tdir / "index" / "chan_0.idx").read_bytes()
        data = (tdir / "chan_0").read_bytes()
        for k, (raw, pkt) in enumerate(got):
            a = 16 + k * ENTRY.size
            if idx[a:a + ENTRY.size] != raw:
                problems.append(f"{name}: published index entry {k} lost or changed")
                break
            off, psize = ENTRY.unpack(raw)[:2]
            if off != rc.U64_MAX and data[off:off + psize // 8] != pkt:
                problems.append(f"{name}: published packet {k} lost or changed")
                break
        fo = subprocess.run([str(ctflive_path()), "follow", str(sdir)], capture_output=True,
                            text=True, env=env(), timeout=60)
        # A recovered session did not end normally: exit status 3, with the warning.
        if (fo.returncode != 3 or "did not end normally" not in fo.stderr
                or fo.stdout.splitlines() != bt.lines):
            problems.append(f"{name}: ctflive follow rc {fo.returncode}, "
                            f"{len(fo.stdout.splitlines())} lines vs {len(bt.lines)}: "
                            f"{fo.stderr[-300:]}")
    assert not problems, "\n".join(problems)


def test_kill9_cuts_incomplete_text_metadata(make_relay):
    """Text metadata (LTTng >= 2.14 sends TSDL or CTF 2 JSON as plain text):
    a relay killed after receiving part of a declaration leaves it on disk;
    the restarted relay cuts the file after the last complete declaration,
    keeps every published packet, and the trace reads again."""
    relay = make_relay("ctflive-relayd", "r")
    c, d, data_h, meta_h = synthetic_session(relay, "tmd")
    sdir = relay.session_dir("tmd")
    tdir = sdir / "ust" / "uid" / "1000" / "64-bit"
    try:
        for i in range(4):
            p = rc.make_packet(i * 5, 5, i)
            d.send_packet(data_h, i, p.data, p.padding)
            assert c.send_index(data_h, i, p.index) == rc.LTTNG_OK
        full = rc.make_metadata("synhost")
        partial = b'\nevent {\n\tname = "ctflive_test:later";\n\tid = 1;\n\tstr'
        c.send_metadata(meta_h, partial, 0)
        h.wait_for(lambda: (tdir / "metadata").stat().st_size == len(full) + len(partial), 10,
                   what="partial metadata written")
        time.sleep(0.3)  # the packets are published
    finally:
        os.kill(relay.proc.pid, 9)
        relay.proc.wait(10)
        c.close()
        d.close()
    (relay.dir / "ports").unlink(missing_ok=True)
    relay.start()
    h.wait_for(lambda: (sdir / MARKER).read_text().strip() == "recovered", 10,
               what="recovered marker")
    md = (tdir / "metadata").read_bytes()
    assert md == rc.make_metadata("synhost") + b"\n", md[-80:]
    bt = h.babeltrace(sdir)
    assert bt.rc == 0, bt.err
    assert ticks(bt.lines) == list(range(20))
