# SPDX-License-Identifier: MIT
"""Reliability of ctflive-relayd: it fails loudly and loses nothing.

* A failed fdatasync stops that session for good: the producer gets an
  error reply and its connections close, nothing past the last durable
  point is published (live or on disk), viewers end after the last
  published entry, the marker says "interrupted", one log line, and every
  other session carries on (the fault comes from an LD_PRELOAD shim built
  with the tests, fault-shim.c).
* Two sessions never share a directory: the same host, session name and
  creation time get two directories; a second relay on the same output
  directory refuses to start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import struct
import time
from pathlib import Path

import pytest

import live_client as lc
import lttng_harness as h
import relayd_client as rc

pytestmark = pytest.mark.skipif(not h.have_ctflive_relayd(),
                                reason="ctflive-relayd not built")


def shim_path() -> Path:
    return h.build_dir() / "tests" / "integration" / "ctflive-fault-shim.so"


def marker_state(relay: h.Relay, path: str) -> str:
    try:
        return (relay.output / path / h.CTFLIVE_MARKER).read_text().strip()
    except OSError:
        return "missing"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_pid(relay: h.Relay) -> int:
    return relay.daemon_pid or relay.proc.pid


class FaultRelay:
    """A ctflive-relayd with the fault shim preloaded (CTFLIVE_FAULT=spec),
    armed when `arm()` is called if `armed_later`."""

    def __init__(self, ws: h.Workspace, spec: str, armed_later: bool = False,
                 name: str = "fr"):
        if not shim_path().exists():
            pytest.skip(f"fault shim not built ({shim_path()})")
        self.relay = h.CtfliveRelayd(ws, name)
        shim = self.relay.dir / "fault-shim.so"
        shutil.copy2(shim_path(), shim)
        os.chmod(shim, 0o755)
        self.log = self.relay.dir / "faults.log"
        self.arm_file = self.relay.dir / "armed"
        env = {"LD_PRELOAD": str(shim), "CTFLIVE_FAULT": spec,
               "CTFLIVE_FAULT_LOG": str(self.log),
               # An ASan build of the relay: the shim may come first.
               "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", "")}
        if armed_later:
            env["CTFLIVE_FAULT_ARM"] = str(self.arm_file)
        self.relay.extra_env = env

    def start(self, extra=()) -> h.Relay:
        self.relay.start(extra=extra)
        return self.relay

    def arm(self) -> None:
        self.arm_file.write_text("")

    def faults(self) -> list[str]:
        try:
            return self.log.read_text().splitlines()
        except OSError:
            return []

    def stop(self) -> None:
        self.relay.stop()


def wait_indexes(v: lc.LiveConn, sid: int, n: int, timeout: float = 10.0) -> list[lc.Index]:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n:
        ix = v.get_next_index(sid)
        if ix.status == lc.INDEX_OK:
            got.append(ix)
            continue
        assert ix.status in (lc.INDEX_RETRY, lc.INDEX_INACTIVE), ix
        assert time.monotonic() < deadline, f"only {len(got)} of {n} indexes published"
        time.sleep(0.02)
    return got


def control_refused(c: rc.ControlConn, hnd: int, seq: int) -> str:
    """Sends one SEND_INDEX: "ok", "error N, closed", "error N, open" or "closed"."""
    pk = rc.make_packet(seq * 50, 50, seq)
    try:
        c.send(rc.SEND_INDEX, rc.enc_send_index(hnd, seq, pk.index))
        status = struct.unpack(">I", rc.recv_exact(c.sock, 4))[0]
    except (rc.ConnectionClosed, OSError):
        return "closed"
    if status == rc.LTTNG_OK:
        return "ok"
    return f"error {status}, " + ("closed" if rc.is_closed(c.sock, 3.0) else "open")


# --------------------------------------------------------------------------
# 1. a failed fdatasync stops that session, and only that one


def test_sync_failure_stops_the_session(ws):
    fr = FaultRelay(ws, "fdatasync:from:1:EIO:/badhost/", armed_later=True)
    relay = fr.start()
    try:
        good = rc.GoodSession(relay.ports.control, relay.ports.data, name="good",
                              hostname="goodhost", live_timer=100000).setup()
        bad = rc.GoodSession(relay.ports.control, relay.ports.data, name="bad",
                             hostname="badhost", live_timer=100000, packets=2).setup()
        bad.send_data()  # two packets, made durable and published
        v = lc.LiveConn(relay.ports.live)
        v.connect()
        assert v.create_session() == lc.CREATE_SESSION_OK
        sess = lc.find_session(v, "bad")
        status, streams = v.attach(sess.id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_OK
        data_sid = next(s.id for s in streams if not s.metadata)
        first = wait_indexes(v, data_sid, 2)

        # The disk fails: the next sync of the bad session gets EIO.
        fr.arm()
        pk = rc.make_packet(100, 50, 2)
        bad.d.send_packet(bad.data_h, 2, pk.data, pk.padding)
        assert bad.c.send_index(bad.data_h, 2, pk.index) == rc.LTTNG_OK
        h.wait_for(lambda: fr.faults(), 10, what="the injected fdatasync failure")

        # The producer is told: an error reply to its next command, then close;
        # its data connection is closed by the relay.
        outcome = "ok"
        deadline = time.monotonic() + 5
        seq = 3
        while outcome == "ok" and time.monotonic() < deadline:
            outcome = control_refused(bad.c, bad.data_h, seq)
            seq += 1
            time.sleep(0.05)
        assert outcome.startswith("error") and outcome.endswith("closed"), outcome
        assert rc.is_closed(bad.d.sock, 5.0), "data connection of the stopped session open"

        # Viewers end cleanly after the last published entry (no third packet).
        deadline = time.monotonic() + 10
        while True:
            ix = v.get_next_index(data_sid)
            if ix.status == lc.INDEX_HUP:
                break
            assert ix.status != lc.INDEX_OK, "an entry past the last durable point was published"
            assert ix.status in (lc.INDEX_RETRY, lc.INDEX_INACTIVE), ix
            assert time.monotonic() < deadline, "viewer of the stopped session never ends"
            time.sleep(0.05)
        v.close()

        # On disk: what was durable, nothing more; the marker tells the truth.
        h.wait_for(lambda: marker_state(relay, bad.path) != "active", 10,
                   what="the stopped session's marker")
        assert marker_state(relay, bad.path) == "interrupted"
        bt = h.babeltrace(relay.output / bad.path)
        assert bt.rc == 0, bt.err[-2000:]
        assert sum("index = " in line for line in bt.lines) == 100
        chan = next((relay.output / bad.path).rglob("chan_0"))
        assert chan.stat().st_size == sum(len(rc.make_packet(0, 50, 0).data) +
                                          rc.make_packet(0, 50, 0).padding for _ in first)

        # One log line, no busy loop.
        time.sleep(0.5)
        pid = relay_pid(relay)
        cpu0 = cpu_seconds(pid)
        time.sleep(1.0)
        assert cpu_seconds(pid) - cpu0 < 0.2, "relay busy after the failure"
        assert relay.log().count("cannot sync to disk") == 1, relay.log()[-3000:]

        # Every other session carries on.
        good.send_data()
        good.finish()
        assert relay.alive()
        bt = h.babeltrace(relay.output / good.path)
        assert bt.rc == 0, bt.err[-2000:]
        assert sum("index = " in line for line in bt.lines) == good.events
        h.wait_for(lambda: marker_state(relay, good.path) != "active", 10,
                   what="the good session's marker")
        assert marker_state(relay, good.path) == "complete"
        bad.close()
    finally:
        fr.stop()


@pytest.mark.lttng
def test_sync_failure_with_lttng(ws, lttng):
    """The same with LTTng 2.13's consumerd as the producer and babeltrace2
    as the live viewer: the viewer ends (it used to hang with 0 events), what
    it printed is exactly what the stopped session's directory holds, the
    relay logs once and idles, the other session is whole."""
    import live_support as ls
    fr = FaultRelay(ws, "fdatasync:from:1:EIO:/failing-", armed_later=True)
    relay = fr.start()
    n = 3000
    try:
        ls.setup_session(lttng, relay, "failing")
        ls.setup_session(lttng, relay, "healthy")
        viewer = ls.BtLive(ls.live_url(relay, "failing")).start()
        ls.wait_clients(relay, "failing")
        app = lttng.spawn_app(n, interval_us=1000, name="r")
        h.wait_for(lambda: len(viewer.lines) > 0, 20, what="first live events")
        fr.arm()
        h.wait_for(lambda: fr.faults(), 10, what="the injected fdatasync failure")
        rc_, lines, err = viewer.finish(timeout=30)
        live_events = h.tick_indices(lines, "r")
        lttng.wait_app(app)
        ls.end_sessions(lttng, "healthy")
        lttng.stop_session("failing")
        lttng.destroy("failing", check=False)

        failing = relay.session_dir("failing")
        h.wait_for(lambda: marker_state(relay, failing.relative_to(relay.output).as_posix())
                   != "active", 10, what="marker")
        assert (failing / h.CTFLIVE_MARKER).read_text().strip() == "interrupted"
        bt = h.babeltrace(failing)
        assert bt.rc == 0, bt.err[-2000:]
        on_disk = h.tick_indices(bt.lines, "r")
        assert 0 < len(live_events) < n
        assert on_disk == live_events, (len(on_disk), len(live_events))

        healthy = relay.session_dir("healthy")
        bt = h.babeltrace(healthy)
        assert bt.rc == 0, bt.err[-2000:]
        assert h.tick_indices(bt.lines, "r") == list(range(n))
        assert (healthy / h.CTFLIVE_MARKER).read_text().strip() == "complete"

        pid = relay_pid(relay)
        cpu0 = cpu_seconds(pid)
        time.sleep(1.0)
        assert cpu_seconds(pid) - cpu0 < 0.2, "relay busy after the failure"
        assert relay.log().count("cannot sync to disk") == 1, relay.log()[-3000:]
        assert relay.alive()
    finally:
        fr.stop()


# --------------------------------------------------------------------------
# 2. a directory is never handed to two sessions


def events_in(relay: h.Relay, path: str) -> int:
    bt = h.babeltrace(relay.output / path)
    assert bt.rc == 0, bt.err[-2000:]
    return sum("index = " in line for line in bt.lines)


def test_same_name_same_second_get_own_directories(make_relay):
    """Hosts called localhost (or cloned VMs) starting LTTng's auto-named
    sessions in the same second: two tracing sessions (two sessiond UUIDs),
    one would-be directory. Each gets its own and keeps all its events."""
    relay = make_relay("ctflive-relayd")
    kw = dict(name="auto-20251129-105018", hostname="localhost", packets=3)
    g1 = rc.GoodSession(relay.ports.control, relay.ports.data, **kw).setup()
    g2 = rc.GoodSession(relay.ports.control, relay.ports.data, **kw).setup()
    try:
        assert g1.path != g2.path, f"both sessions were given '{g1.path}'"
        assert g2.path == g1.path + "-1"
        g1.send_data()
        g2.send_data()
        g1.finish()
        g2.finish()
    finally:
        g1.close()
        g2.close()
    for g in (g1, g2):
        h.wait_for(lambda: marker_state(relay, g.path) != "active", 10, what="marker")
        assert marker_state(relay, g.path) == "complete"
        assert events_in(relay, g.path) == g.events
    assert f"directory '{g1.path}' is in use by another session, writing to '{g2.path}'" \
        in relay.log()


def test_one_tracing_session_shares_its_directory(make_relay):
    """The relay sessions of one tracing session (one per consumer daemon,
    one per snapshot record: same sessiond UUID and session id) share one
    directory, as with lttng-relayd, even after the first one ended."""
    relay = make_relay("ctflive-relayd")
    uuid = bytes(range(16))
    paths = []
    for _ in range(3):
        c = rc.ControlConn(relay.ports.control)
        c.version()
        rep = c.create_session(rc.enc_create_session_2_11("snap", "h", sessiond_uuid=uuid,
                                                          session_id=7))
        assert rep.ret_code == rc.LTTNG_OK
        paths.append(rep.path.rstrip(b"\0").decode())
        if len(paths) == 2:
            c.close()  # the second one ends before the third starts
            time.sleep(0.3)
    assert len(set(paths)) == 1, paths


def test_directory_of_an_earlier_run_is_not_reused(ws, make_relay):
    """A restarted relay (or lttng-relayd before it) left a session directory
    with files: a new session with the same name gets a new directory, and
    the old files stay as they were."""
    relay = make_relay("ctflive-relayd")
    res = rc.good_session(relay.ports.control, relay.ports.data, name="again")
    h.wait_for(lambda: marker_state(relay, res["path"]) == "complete", 10, what="marker")
    before = {p: p.read_bytes() for p in (relay.output / res["path"]).rglob("*")
              if p.is_file()}
    relay.stop()
    relay.start()
    res2 = rc.good_session(relay.ports.control, relay.ports.data, name="again")
    assert res2["path"] == res["path"] + "-1"
    assert {p: p.read_bytes() for p in (relay.output / res["path"]).rglob("*")
            if p.is_file()} == before
    assert events_in(relay, res2["path"]) == res2["events"]


def test_second_relay_on_the_same_output_refuses(ws, make_relay):
    first = make_relay("ctflive-relayd", "first")
    second = h.CtfliveRelayd(ws, "second")
    second.output = first.output
    with pytest.raises(RuntimeError):
        second.start()
    assert "is in use by another ctflive-relayd: refusing to start" in second.log()
    assert first.alive()
    assert rc.good_session(first.ports.control, first.ports.data)["events"] > 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs the separate test user (root runs)")
def test_read_only_output_refuses(ws):
    relay = h.CtfliveRelayd(ws, "ro")
    relay.output.chmod(0o555)
    with pytest.raises(RuntimeError):
        relay.start()
    assert "is not writable" in relay.log()


def test_long_session_name_is_accepted(make_relay):
    """Session names up to 254 bytes are valid for LTTng: the directory name
    (name-YYYYmmdd-HHMMSS) would exceed 255 bytes, so the name is cut in it,
    on a character boundary."""
    relay = make_relay("ctflive-relayd")
    name = "é" * 126 + "x"  # 253 bytes
    res = rc.good_session(relay.ports.control, relay.ports.data, name=name)
    last = res["path"].rsplit("/", 1)[1]
    assert len(last.encode()) <= 255
    last.encode().decode("utf-8")  # whole characters only
    assert last.endswith("-20251129-105018")
    assert events_in(relay, res["path"]) == res["events"]


# --------------------------------------------------------------------------
# smaller defects


def test_long_hostname_is_refused(make_relay):
    """The live session list gives viewers 63 bytes of the host name: a longer
    one could never be attached to, so CREATE_SESSION refuses it, saying why."""
    relay = make_relay("ctflive-relayd")
    c = rc.ControlConn(relay.ports.control)
    c.version()
    c.send(rc.CREATE_SESSION, rc.enc_create_session_2_11("s", "h" * 64))
    try:
        status = struct.unpack(">Q I", rc.recv_exact(c.sock, 12))[1]
    except rc.ConnectionClosed:
        status = None
    assert status is not None and status != rc.LTTNG_OK
    assert rc.is_closed(c.sock)
    c.close()
    assert "host name 'h" in relay.log() and "live viewers can only be given 63" in relay.log()
    # 63 bytes is fine.
    res = rc.good_session(relay.ports.control, relay.ports.data, hostname="h" * 63)
    assert events_in(relay, res["path"]) == res["events"]


def test_failed_first_metadata_write_leaves_no_empty_metadata(ws):
    """The metadata file's first write fails (ENOSPC): the session is
    interrupted and its empty `metadata` is removed, so that babeltrace2
    still reads the output tree (it failed on the whole tree before)."""
    fr = FaultRelay(ws, "write:nth:1:ENOSPC:/metadata")
    relay = fr.start()
    try:
        g = rc.GoodSession(relay.ports.control, relay.ports.data, name="nometa",
                           hostname="nometa").setup()
        h.wait_for(lambda: fr.faults(), 10, what="the injected write failure")
        assert rc.is_closed(g.c.sock, 5.0)
        g.close()
        res = rc.good_session(relay.ports.control, relay.ports.data, name="other")
        h.wait_for(lambda: marker_state(relay, g.path) == "interrupted", 10, what="marker")
        assert not [p for p in (relay.output / g.path).rglob("metadata")
                    if p.stat().st_size == 0]
        bt = h.babeltrace(relay.output)
        assert bt.rc == 0, bt.err[-2000:]
        assert sum("index = " in line for line in bt.lines) == res["events"]
    finally:
        fr.stop()


def test_full_disk_is_the_cause_logged(ws):
    """The output on a full tmpfs: the data connection's write fails
    (ENOSPC), the session stops; the relay names ENOSPC as the cause of the
    removed empty metadata and of the producer's next SEND_METADATA refusal
    (it said "no metadata was ever written" and "Protocol error")."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    relay = h.CtfliveRelayd(ws, "full")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                       str(relay.output)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs")
    try:
        relay.start(extra=["-v"])
        g = rc.GoodSession(relay.ports.control, relay.ports.data, name="full", hostname="full")
        g.c, g.d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
        try:
            g.c.version()
            rep = g.c.create_session(rc.enc_create_session_2_11(g.name, g.hostname))
            assert rep.ret_code == rc.LTTNG_OK, rep
            assert g.c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
            g.data_h, _ = g.c.add_stream("chan_0", g.pathname)
            g.meta_h, _ = g.c.add_stream("metadata", g.pathname)
            assert g.c.streams_sent() == rc.LTTNG_OK
            with open(relay.output / "fill", "wb", buffering=0) as f:  # fill the tmpfs
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            pk = rc.make_packet(0, g.per_packet, 0)
            g.d.send_packet(g.data_h, 0, pk.data, pk.padding)
            h.wait_for(lambda: "removed" in relay.log(), 10, what="the session stopped")
            g.c.send_metadata(g.meta_h, rc.make_metadata(g.hostname), 0)
            assert rc.is_closed(g.c.sock, 5.0)
        finally:
            g.close()
        h.wait_for(lambda: "connection closed: No space left on device" in
                   relay.log().split("SEND_METADATA for stream")[-1], 5,
                   what="the control connection closed with ENOSPC")
        log = relay.log()
        assert "no metadata was ever written" not in log and "Protocol error" not in log, log
        assert "removed: empty, the session stopped on an error: No space left on device" \
            in log, log
        assert "SEND_METADATA for stream" in log and \
            "control" in log.split("SEND_METADATA for stream")[0].splitlines()[-1]
    finally:
        relay.stop()
        subprocess.run(["umount", "-l", str(relay.output)], capture_output=True)


def test_packets_without_index_are_cut_when_interrupted(make_relay):
    """The producer vanished after a packet but before its SEND_INDEX: the
    packet is cut from the data file (no reader could use it)."""
    relay = make_relay("ctflive-relayd")
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="cut", packets=3).setup()
    pks = [rc.make_packet(seq * 50, 50, seq) for seq in range(3)]
    for seq, pk in enumerate(pks):
        g.d.send_packet(g.data_h, seq, pk.data, pk.padding)
        if seq < 2:
            assert g.c.send_index(g.data_h, seq, pk.index) == rc.LTTNG_OK
    time.sleep(0.3)
    g.close()
    h.wait_for(lambda: marker_state(relay, g.path) == "interrupted", 10, what="marker")
    chan = next((relay.output / g.path).rglob("chan_0"))
    assert chan.stat().st_size == 2 * (len(pks[0].data) + pks[0].padding)
    assert events_in(relay, g.path) == 100
    assert "never got an index entry" in relay.log()


def test_recovery_scan_of_a_large_tree_is_logged(ws):
    """The start-up recovery scan runs before the ports are bound: on a large
    output tree it takes seconds, and the log says what it did."""
    relay = h.CtfliveRelayd(ws, "scan")
    for i in range(1200):
        (relay.output / "host" / f"s{i}").mkdir(parents=True)
    try:
        relay.start()
        assert "recovery scan of the output directory: 1202 directories" in relay.log()
    finally:
        relay.stop()


def test_help_says_what_signals_do():
    exe = h.ctflive_relayd_path()
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True,
                                       timeout=10).stdout
    assert "SIGHUP" in out and "interrupted" in out


# --------------------------------------------------------------------------
# 5. streams are not capped by the soft descriptor limit


def test_2000_streams_under_ulimit_1024(ws):
    """Under a limit of 1024 descriptors (soft and hard: the relay cannot
    raise it) a session with 2000 streams completes: idle streams' files
    are closed and reopened when used. Before, ADD_STREAM failed at stream
    335."""
    import resource
    relay = h.CtfliveRelayd(ws, "fds")
    relay.preexec_fn = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    relay.start()
    try:
        n = 2000
        c, d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
        c.version()
        rep = c.create_session(rc.enc_create_session_2_11("many", "fdhost"))
        assert rep.ret_code == rc.LTTNG_OK
        path = rep.path.rstrip(b"\0").decode()
        assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        handles = []
        for i in range(n):
            hnd, ret = c.add_stream(f"chan_{i}", "ust/uid/1000/64-bit")
            assert ret == rc.LTTNG_OK, f"ADD_STREAM {i} refused:\n{relay.log()[-1500:]}"
            handles.append(hnd)
        meta, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
        assert ret == rc.LTTNG_OK
        assert c.streams_sent() == rc.LTTNG_OK
        c.send_metadata(meta, rc.make_metadata("fdhost"), 0)
        for i, hnd in enumerate(handles):
            pk = rc.make_packet(i * 2, 2, 0, cpu=i)
            d.send_packet(hnd, 0, pk.data, pk.padding)
            assert c.send_index(hnd, 0, pk.index) == rc.LTTNG_OK
        for hnd in handles:
            assert c.close_stream(hnd, 0) == rc.LTTNG_OK
        assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
        c.close()
        d.close()
        h.wait_for(lambda: marker_state(relay, path) != "active", 20, what="marker")
        assert marker_state(relay, path) == "complete", relay.log()[-2000:]
        assert events_in(relay, path) == 2 * n
    finally:
        relay.stop()


def test_streams_past_the_descriptor_limit(ws):
    """Under a hard limit of 64 descriptors (room for the files of a few
    streams), a live session with 150 streams written in three rounds
    completes: idle streams' files are closed and reopened when used. Every
    packet is on disk, babeltrace2 reads the directory, a viewer gets every
    packet (also of closed streams, reopened read-only), and files reopened
    hold their write locks again from their safe points. Before, ADD_STREAM
    failed at the 15th stream and the session was interrupted."""
    import resource
    relay = h.CtfliveRelayd(ws, "lowfd")
    relay.preexec_fn = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    relay.start()
    c = d = v = follow = None
    try:
        n, rounds = 150, 3
        ts0 = time.time_ns()  # the follower merges idle streams by the wall clock
        c, d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
        c.version()
        rep = c.create_session(rc.enc_create_session_2_11("lowfd", "fdhost",
                                                          live_timer=100000))
        assert rep.ret_code == rc.LTTNG_OK
        path = rep.path.rstrip(b"\0").decode()
        assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        handles = []
        for i in range(n):
            hnd, ret = c.add_stream(f"chan_{i}", "ust/uid/1000/64-bit")
            assert ret == rc.LTTNG_OK, f"ADD_STREAM {i} refused:\n{relay.log()[-1500:]}"
            handles.append(hnd)
        meta, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
        assert ret == rc.LTTNG_OK
        assert c.streams_sent() == rc.LTTNG_OK
        c.send_metadata(meta, rc.make_metadata("fdhost"), 0)
        # A follower reads the directory meanwhile, under the locks: files
        # of parked streams are unlocked for a while, then locked again.
        ctflive = h.build_dir() / "src" / "cli" / "ctflive"
        if ctflive.exists():
            follow = subprocess.Popen([str(ctflive), "follow", "--grace", "120000",
                                       str(relay.output / path)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True,
                                      env=dict(os.environ, TZ="UTC", LANG="C"))
        v = lc.LiveConn(relay.ports.live)
        v.connect()
        assert v.create_session() == lc.CREATE_SESSION_OK
        status, streams = v.attach(lc.find_session(v, "lowfd").id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_OK
        assert sorted(s.id for s in streams if not s.metadata) == sorted(handles)
        sent = {hnd: [] for hnd in handles}
        for r in range(rounds):
            for i, hnd in enumerate(handles):
                pk = rc.make_packet(r * 2, 2, r, cpu=i, ts0=ts0)
                d.send_packet(hnd, r, pk.data, pk.padding)
                assert c.send_index(hnd, r, pk.index) == rc.LTTNG_OK, relay.log()[-1500:]
                sent[hnd].append(pk.data + bytes(pk.padding))
        # The viewer gets every packet, from reopened files too.
        for hnd in handles:
            for k in range(rounds):
                ix = wait_indexes(v, hnd, 1)[0]
                st, _flags, data = v.get_packet(hnd, ix.offset, ix.packet_size // 8)
                assert st == lc.PACKET_OK and data == sent[hnd][k], (hnd, k, st)
        # Streams parked long ago: a packet without its index entry goes to
        # their reopened files, write-locked again from their safe points
        # (the data file's moves past the packet once it is synced; the
        # index file's stays at its last published entry).
        chans = {hnd: next((relay.output / path).rglob(f"chan_{i}"))
                 for i, hnd in enumerate(handles)}
        for i, hnd in enumerate(handles[:10]):
            pk = rc.make_packet(rounds * 2, 2, rounds, cpu=i, ts0=ts0)
            d.send_packet(hnd, rounds, pk.data, pk.padding)
            sent[hnd].append(pk.data + bytes(pk.padding))
            end = sum(len(b) for b in sent[hnd][:rounds])
            h.wait_for(lambda: chans[hnd].stat().st_size == end + len(sent[hnd][-1]), 10,
                       what="packet written")
            assert h.unsafe_from(chans[hnd]) in (end, end + len(sent[hnd][-1])), \
                relay.log()[-1500:]
            idx = chans[hnd].parent / "index" / f"{chans[hnd].name}.idx"
            assert h.unsafe_from(idx) == idx.stat().st_size  # entries published
        for i, hnd in enumerate(handles[:10]):
            pk = rc.make_packet(rounds * 2, 2, rounds, cpu=i, ts0=ts0)
            assert c.send_index(hnd, rounds, pk.index) == rc.LTTNG_OK
        for hnd in handles:
            assert c.close_stream(hnd, len(sent[hnd]) - 1) == rc.LTTNG_OK
        assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
        c.close()
        d.close()
        # The viewer reads the last packets of the closed streams (reopened
        # read-only), then each stream ends.
        for i, hnd in enumerate(handles[:10]):
            ix = wait_indexes(v, hnd, 1)[0]
            st, _flags, data = v.get_packet(hnd, ix.offset, ix.packet_size // 8)
            assert st == lc.PACKET_OK and data == sent[hnd][-1], (hnd, st)
        for hnd in handles[:20]:
            assert v.get_next_index(hnd).status == lc.INDEX_HUP
        v.close()
        h.wait_for(lambda: marker_state(relay, path) != "active", 20, what="marker")
        assert marker_state(relay, path) == "complete", relay.log()[-2000:]
        # Every packet on disk, in order; babeltrace2 reads them all.
        for hnd in handles:
            assert chans[hnd].read_bytes() == b"".join(sent[hnd]), hnd
        assert events_in(relay, path) == 2 * (n * rounds + 10)
        if follow is not None:
            out, err = follow.communicate(timeout=60)
            assert follow.returncode == 0, err[-2000:]
            assert sum("index = " in line for line in out.splitlines()) == \
                2 * (n * rounds + 10), err[-2000:]
        assert relay.alive()
        assert "cannot" not in relay.log(), relay.log()[-2000:]
        assert "closing idle streams' files" in relay.log()
    finally:
        for conn in (v, c, d):
            if conn is not None:
                conn.close()
        if follow is not None and follow.poll() is None:
            h.stop_popen(follow)
        relay.stop()


def test_out_of_descriptors_on_accept(ws):
    """Connections past the descriptor limit: the relay neither spins nor
    dies; a pending connection is accepted with its reserve descriptor and
    closed at once (the peer sees the end), with one warning; once the
    others leave, a producer gets in and completes."""
    import resource
    import socket
    relay = h.CtfliveRelayd(ws, "accept")
    relay.preexec_fn = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    relay.start()
    conns = []
    try:
        for _ in range(80):
            s = socket.create_connection(("127.0.0.1", relay.ports.control), timeout=5)
            conns.append(s)
        # Some were closed at once by the relay (end of stream, no bytes).
        closed = sum(rc.is_closed(s, 0.5) for s in conns[-20:])
        assert closed > 0, relay.log()[-1500:]
        cpu0 = cpu_seconds(relay_pid(relay))
        time.sleep(2)
        assert cpu_seconds(relay_pid(relay)) - cpu0 < 0.5, "the relay spins"
        assert relay.alive()
        assert "out of file descriptors: a connection on port" in relay.log()
        for s in conns:
            s.close()
        conns = []
        time.sleep(0.3)
        res = rc.good_session(relay.ports.control, relay.ports.data, name="after")
        assert events_in(relay, res["path"]) == res["events"]
    finally:
        for s in conns:
            s.close()
        relay.stop()


# --------------------------------------------------------------------------
# 4. a viewer can only make the relay read the packet it was given


def test_get_packet_is_bounded_by_its_index(make_relay):
    relay = make_relay("ctflive-relayd")
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="big", packets=20,
                       live_timer=100000).setup()
    try:
        g.send_data()
        v = lc.LiveConn(relay.ports.live)
        v.connect()
        assert v.create_session() == lc.CREATE_SESSION_OK
        status, streams = v.attach(lc.find_session(v, "big").id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_OK
        sid = next(s.id for s in streams if not s.metadata)
        ix = wait_indexes(v, sid, 1)[0]
        size = ix.packet_size // 8
        # The packet, and pieces of it, are served...
        assert v.get_packet(sid, ix.offset, size)[0] == lc.PACKET_OK
        assert v.get_packet(sid, ix.offset + 100, size - 100)[0] == lc.PACKET_OK
        # ...bytes past it are not, though they are published on disk.
        for off, ln in ((ix.offset, size * 20), (ix.offset, size + 1),
                        (ix.offset + size, size), (ix.offset + 1, size)):
            assert v.get_packet(sid, off, ln)[0] == lc.PACKET_ERR, (off, ln)
        v.close()
        g.finish()
    finally:
        g.close()


# --------------------------------------------------------------------------
# 3. stalled connections do not lock producers out


def test_stalled_connections_do_not_lock_out_producers(make_relay):
    """1100 connections that send a few bytes and stop, on the control and
    data ports: a real producer still gets in, and completes."""
    import socket
    relay = make_relay("ctflive-relayd")
    stalled = []
    try:
        for i in range(1100):
            port = relay.ports.control if i % 2 else relay.ports.data
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"\0\0\0")
            stalled.append(s)
        time.sleep(1.1)  # older than the eviction grace
        res = rc.good_session(relay.ports.control, relay.ports.data, name="getsin")
        assert events_in(relay, res["path"]) == res["events"]
        assert relay.alive()
    finally:
        for s in stalled:
            s.close()
    assert relay.log().count("too many") < 20, "refusals not rate-limited"


def test_only_the_unindexed_tail_is_cut(make_relay):
    """A packet without an entry before one with an entry stays (the entry's
    offset must stay inside the file); only the unindexed tail goes."""
    relay = make_relay("ctflive-relayd")
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="tail", packets=3).setup()
    pks = [rc.make_packet(seq * 50, 50, seq) for seq in range(3)]
    for seq, pk in enumerate(pks):
        g.d.send_packet(g.data_h, seq, pk.data, pk.padding)
    assert g.c.send_index(g.data_h, 1, pks[1].index) == rc.LTTNG_OK
    time.sleep(0.3)
    g.close()
    h.wait_for(lambda: marker_state(relay, g.path) == "interrupted", 10, what="marker")
    chan = next((relay.output / g.path).rglob("chan_0"))
    assert chan.stat().st_size == 2 * (len(pks[0].data) + pks[0].padding)
    bt = h.babeltrace(relay.output / g.path)
    assert bt.rc == 0, bt.err[-2000:]


def test_create_session_that_does_not_decode(make_relay):
    """Found by fuzz-daemon: a CREATE_SESSION cut short (decoding fails with
    -EMSGSIZE, the code of an over-long host name) was logged with names it
    did not have."""
    relay = make_relay("ctflive-relayd")
    for payload in (rc.enc_create_session_2_11("abc", "host")[:40],
                    rc.enc_create_session_2_11("abc", "host", lengths=(3, 5, 1))):
        c = rc.ControlConn(relay.ports.control)
        c.version()
        c.send(rc.CREATE_SESSION, payload)
        assert rc.is_closed(c.sock, 5.0)
        c.close()
    time.sleep(0.2)
    assert relay.alive(), relay.log()[-2000:]
    assert relay.log().count("malformed CREATE_SESSION") == 2


def vm_rss_kib(pid: int) -> int:
    return int(next(line.split()[1] for line in
                    Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS:")))


def test_viewers_asking_large_packets_hold_no_packet_memory(make_relay):
    """16 viewers ask for a 24 MiB packet at once and do not read: every one
    is answered OK and the relay's RSS grows by less than 24 MiB in all (the
    packet is sent from the file as each viewer reads it). Replies built
    whole held 16 x 24 MiB (capped at 256 MiB, past it RETRY). Then every
    viewer reads its reply: the bytes on disk."""
    relay = make_relay("ctflive-relayd")
    size, n_viewers = 24 << 20, 16
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="huge", packets=1,
                       live_timer=100000).setup()
    conns = []
    try:
        pk = rc.make_packet(0, 50, 0, packet_bytes=size)
        g.d.send_packet(g.data_h, 0, pk.data, pk.padding)
        assert g.c.send_index(g.data_h, 0, pk.index) == rc.LTTNG_OK
        sids = []
        for _ in range(n_viewers):
            v = lc.LiveConn(relay.ports.live)
            conns.append(v)
            v.connect()
            assert v.create_session() == lc.CREATE_SESSION_OK
            status, streams = v.attach(lc.find_session(v, "huge").id, lc.SEEK_BEGINNING)
            sid = next(s.id for s in streams if not s.metadata)
            ix = wait_indexes(v, sid, 1)[0]
            assert ix.offset == 0 and ix.packet_size // 8 == size
            sids.append(sid)
        base = vm_rss_kib(relay_pid(relay))
        statuses = []
        for v, sid in zip(conns, sids):
            v.send(lc.GET_PACKET, lc.enc_get_packet(sid, 0, size))
            statuses.append(lc.PACKET_REP.unpack(v.recv(lc.PACKET_REP.size))[0])
        time.sleep(0.3)
        grown = vm_rss_kib(relay_pid(relay)) - base
        assert statuses == [lc.PACKET_OK] * n_viewers, statuses
        assert grown < 24 * 1024, f"relay RSS grew by {grown} KiB"
        want = pk.data + bytes(pk.padding)
        for v in conns:
            assert v.recv(size) == want
        # Served again once read: the viewers' connections are usable.
        assert conns[0].get_packet(sids[0], 100, 1000)[2] == want[100:1100]
    finally:
        for v in conns:
            v.close()
        g.close()
    assert relay.alive()


def test_viewers_attaching_at_once_hold_no_stream_record_memory(make_relay):
    """24 viewers attach at once to a live session of 2000 streams and do not
    read: the relay's RSS grows by far less than their replies' records
    (24 x 2001 x 4371 bytes, 210 MB; the records are encoded as each viewer
    reads). Replies built whole held them all. Then every viewer reads its
    reply: every stream once, as many records as the reply's count."""
    relay = make_relay("ctflive-relayd")
    n_streams, n_viewers = 2000, 24
    c, d = rc.ControlConn(relay.ports.control, timeout=60), rc.DataConn(relay.ports.data)
    conns = []
    try:
        c.version()
        rep = c.create_session(rc.enc_create_session_2_11("wide", "widehost",
                                                          live_timer=100000))
        assert rep.ret_code == rc.LTTNG_OK
        assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        handles = set()
        for i in range(n_streams):
            hnd, ret = c.add_stream(f"chan_{i}", "ust/uid/1000/64-bit")
            assert ret == rc.LTTNG_OK, i
            handles.add(hnd)
        meta, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
        assert ret == rc.LTTNG_OK
        handles.add(meta)
        assert c.streams_sent() == rc.LTTNG_OK
        c.send_metadata(meta, rc.make_metadata("widehost"), 0)
        sid = None
        for _ in range(n_viewers):
            v = lc.LiveConn(relay.ports.live, timeout=60)
            conns.append(v)
            v.connect()
            assert v.create_session() == lc.CREATE_SESSION_OK
            sid = sid or lc.find_session(v, "wide").id
        base = vm_rss_kib(relay_pid(relay))
        for v in conns:
            v.send(lc.ATTACH_SESSION, lc.enc_attach(sid, lc.SEEK_BEGINNING))
        counts = []
        for v in conns:
            status, count = lc.STREAMS_REP.unpack(v.recv(lc.STREAMS_REP.size))
            assert status == lc.ATTACH_OK
            counts.append(count)
        time.sleep(0.3)
        grown = vm_rss_kib(relay_pid(relay)) - base
        records_kib = n_viewers * (n_streams + 1) * lc.STREAM_S.size // 1024
        assert counts == [n_streams + 1] * n_viewers, counts
        assert grown < records_kib // 4, \
            f"relay RSS grew by {grown} KiB ({records_kib} KiB of records)"
        for v in conns:
            buf = v.recv((n_streams + 1) * lc.STREAM_S.size)
            recs = list(lc.STREAM_S.iter_unpack(buf))
            assert {r[0] for r in recs} == handles
            assert sum(1 for r in recs if r[2]) == 1
            assert {r[4].rstrip(b"\0") for r in recs if not r[2]} == \
                {f"chan_{i}".encode() for i in range(n_streams)}
        # The connections are usable once the replies are read.
        assert conns[0].get_new_streams(sid)[1] == []
        md, deadline = b"", time.monotonic() + 10
        while md != rc.make_metadata("widehost"):
            st, part = conns[0].get_metadata(meta)
            assert st != lc.METADATA_ERR and time.monotonic() < deadline, (st, md)
            md += part
            if st == lc.METADATA_NO_NEW:
                time.sleep(0.05)
    finally:
        for v in conns:
            v.close()
        c.close()
        d.close()
    assert relay.alive()


def test_session_list_is_that_of_the_request(make_relay):
    """Two viewers (live protocol 2.4 and 2.15 layouts) ask LIST_SESSIONS
    with 300 sessions (about 100 kB of records, encoded a piece at a time as
    each viewer reads) and read nothing until every session has ended and
    is gone: each reply still lists the 300 sessions as they were when it
    was asked, every field right."""
    relay = make_relay("ctflive-relayd")
    n = 300
    ctrls, viewers = [], []
    try:
        for i in range(n):
            c = rc.ControlConn(relay.ports.control, timeout=30)
            ctrls.append(c)
            c.version()
            rep = c.create_session(rc.enc_create_session_2_11(
                f"list{i}", f"host{i}", live_timer=1000 + i, session_id=i + 1))
            assert rep.ret_code == rc.LTTNG_OK, i
        for minor in (4, 15):
            v = lc.LiveConn(relay.ports.live, timeout=30)
            viewers.append(v)
            v.connect(minor=minor)
            assert v.create_session() == lc.CREATE_SESSION_OK
            v.send(lc.LIST_SESSIONS)
        for c in ctrls:
            c.close()
        ctrls = []
        probe = lc.LiveConn(relay.ports.live, timeout=30)
        viewers.append(probe)
        probe.connect()
        deadline = time.monotonic() + 20
        while probe.list_sessions():
            assert time.monotonic() < deadline, "sessions did not end"
            time.sleep(0.05)
        for v, minor in zip(viewers, (4, 15)):
            (count,) = struct.unpack(">I", v.recv(4))
            assert count == n
            got = {}
            for _ in range(count):
                if minor == 4:
                    sid, timer, clients, streams, host, name = lc.SESSION_S.unpack(
                        v.recv(lc.SESSION_S.size))
                    host, name = lc._str(host), lc._str(name)
                else:
                    sid, timer, clients, streams, hl, nl, fmt = struct.unpack(
                        ">QIIIIII", v.recv(32))
                    host, name = v.recv(hl).decode(), v.recv(nl).decode()
                    assert fmt == 0
                got[name] = (timer, clients, streams, host)
            assert got == {f"list{i}": (1000 + i, 0, 0, f"host{i}") for i in range(n)}
        # The connections are usable after their replies.
        assert viewers[0].list_sessions() == []
    finally:
        for c in ctrls:
            c.close()
        for v in viewers:
            v.close()
    assert relay.alive()


def test_viewers_asking_large_metadata_hold_no_metadata_memory(make_relay):
    """16 viewers ask for 1 MiB of metadata at once and do not read: the
    relay's RSS grows by far less than 16 MiB (the bytes are sent from the
    file as each viewer reads them). Then every viewer reads its reply: the
    bytes sent. (On loopback the socket buffers absorb 1 MiB, so replies
    built whole passed this too; it checks the file path's bytes and bound.)"""
    relay = make_relay("ctflive-relayd")
    n_viewers = 16
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="fatmeta", packets=1,
                       live_timer=100000).setup()
    big = b"/* " + b"m" * (2 << 20) + b" */\n"
    meta = rc.make_metadata(g.hostname)
    g.c.send_metadata(g.meta_h, big)
    want = (meta + big)[:1 << 20]
    conns = []
    try:
        mids = []
        for _ in range(n_viewers):
            v = lc.LiveConn(relay.ports.live)
            conns.append(v)
            v.connect()
            assert v.create_session() == lc.CREATE_SESSION_OK
            status, streams = v.attach(lc.find_session(v, "fatmeta").id, lc.SEEK_BEGINNING)
            assert status == lc.ATTACH_OK
            mids.append(next(s.id for s in streams if s.metadata))
        # The first viewer reads it all: all of it is published.
        got, deadline = b"", time.monotonic() + 10
        while len(got) < len(meta) + len(big):
            status, part = conns[0].get_metadata(mids[0])
            assert status != lc.METADATA_ERR and time.monotonic() < deadline, len(got)
            got += part
            if status == lc.METADATA_NO_NEW:
                time.sleep(0.05)
        assert got == meta + big
        base = vm_rss_kib(relay_pid(relay))
        lens = []
        for v, mid in zip(conns[1:], mids[1:]):
            v.send(lc.GET_METADATA, lc.enc_u64(mid))
            n, status = lc.METADATA_REP.unpack(v.recv(lc.METADATA_REP.size))
            assert status == lc.METADATA_OK
            lens.append(n)
        time.sleep(0.3)
        grown = vm_rss_kib(relay_pid(relay)) - base
        assert lens == [len(want)] * (n_viewers - 1), lens
        assert grown < 4 * 1024, f"relay RSS grew by {grown} KiB"
        for v in conns[1:]:
            assert v.recv(len(want)) == want
    finally:
        for v in conns:
            v.close()
        g.close()
    assert relay.alive()


def test_allow_from(make_relay):
    """--allow-from per port: a control port open to 10.0.0.0/8 only closes
    connections from 127.0.0.1 at once; ports given 127.0.0.0/8 (or nothing)
    serve them; a bad network is a usage error."""
    relay = make_relay("ctflive-relayd", "closed",
                       extra=["--allow-from", "control:10.0.0.0/8,fd00::/8",
                              "--allow-from", "data:127.0.0.0/8"])
    c = rc.ControlConn(relay.ports.control)
    assert rc.is_closed(c.sock, 3.0)
    c.close()
    d = rc.DataConn(relay.ports.data)
    assert not rc.is_closed(d.sock, 0.5)
    d.close()
    with lc.LiveConn(relay.ports.live) as v:
        v.connect()
    assert "refused: not in --allow-from" in relay.log()
    ok = make_relay("ctflive-relayd", "open", extra=["--allow-from", "127.0.0.1/32"])
    res = rc.good_session(ok.ports.control, ok.ports.data)
    assert events_in(ok, res["path"]) == res["events"]
    r = subprocess.run([str(h.ctflive_relayd_path()), "--allow-from", "10.0.0.0/33"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "invalid --allow-from" in r.stderr


def test_live_refusals_are_logged(make_relay):
    """A live port closed by --allow-from, and the per-address cap of new
    viewer connections, are logged by the relay; the viewer says the relay
    closed the connection, not that the port is not a live one."""
    ctflive = str(h.build_dir() / "src" / "cli" / "ctflive")
    relay = make_relay("ctflive-relayd", "closed-live", extra=["--allow-from", "live:10.0.0.0/8"])
    r = subprocess.run([ctflive, "ls", f"net://127.0.0.1:{relay.ports.live}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "refused by --allow-from" in r.stderr, r.stderr
    assert "not a live port" not in r.stderr
    h.wait_for(lambda: "live" in relay.log() and "refused: not in --allow-from" in relay.log(),
               5, what="the live refusal logged")

    import socket
    open_ = make_relay("ctflive-relayd", "capped")
    held = []
    try:
        for _ in range(70):  # more than the 64 per address, all under a second old
            held.append(socket.create_connection(("127.0.0.1", open_.ports.live), timeout=5))
        h.wait_for(lambda: "too many new viewer connections" in open_.log(), 5,
                   what="the cap refusal logged")
    finally:
        for s in held:
            s.close()
    assert open_.log().count("too many new viewer connections") == 1, open_.log()[-2000:]


@pytest.mark.lttng
def test_two_sessionds_same_name_same_second(ws, lttng, make_relay):
    """Two LTTng 2.13 session daemons (two hosts called alike, or cloned VMs)
    create a session of the same name in the same second: each gets its own
    directory and keeps every event (the second's files replaced the
    first's before)."""
    import threading
    relay = make_relay("ctflive-relayd")
    other = h.Lttng(ws, name="h2")
    other.start()
    n = 500
    try:
        for attempt in range(3):
            name = f"same{attempt}"
            barrier = threading.Barrier(2)
            errors = []

            def create(lt):
                barrier.wait()
                try:
                    lt.create_live(name, relay, 100000)
                except Exception as e:
                    errors.append(e)

            threads = [threading.Thread(target=create, args=(lt,)) for lt in (lttng, other)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors, errors
            for lt in (lttng, other):
                lt.enable_channel(name, "ch", buffers="uid")
                lt.enable_event(name, channel="ch")
                lt.start_session(name)
            h.wait_for(lambda: len(list(relay.output.glob(f"*/{name}-*"))) >= 2, 15,
                       what="two session directories")
            dirs = sorted(p for p in relay.output.glob(f"*/{name}-*") if p.is_dir())
            if dirs[1].name == dirs[0].name + "-1" or attempt == 2:
                break
            # Created in two different seconds: no collision to test, try again.
            for lt in (lttng, other):
                lt.destroy(name, check=False)
        assert len(dirs) == 2, f"{dirs}\n{relay.log()[-2000:]}"
        assert dirs[1].name == dirs[0].name + "-1", dirs
        for lt, app in ((lttng, "a"), (other, "b")):
            lt.run_app(n, interval_us=200, name=app)
        for lt in (lttng, other):
            lt.stop_session(name)
            lt.destroy(name)
        got = {}
        for d in dirs:
            h.wait_for(lambda: (d / h.CTFLIVE_MARKER).read_text().strip() != "active", 10,
                       what="marker")
            assert (d / h.CTFLIVE_MARKER).read_text().strip() == "complete"
            bt = h.babeltrace(d)
            assert bt.rc == 0, bt.err[-2000:]
            got[d.name] = (h.tick_indices(bt.lines, "a"), h.tick_indices(bt.lines, "b"))
        assert sorted(got.values()) == sorted([(list(range(n)), []), ([], list(range(n)))]), \
            {k: (len(a), len(b)) for k, (a, b) in got.items()}
        assert "is in use by another session, writing to" in relay.log()
    finally:
        other.stop()


def test_stalled_viewers_do_not_lock_out_viewers(make_relay):
    """1100 live connections that send a few bytes and stop: a real viewer
    still gets in, attaches and reads."""
    import socket
    relay = make_relay("ctflive-relayd")
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="watched",
                       live_timer=100000).setup()
    stalled = []
    try:
        g.send_data()
        for _ in range(1100):
            s = socket.create_connection(("127.0.0.1", relay.ports.live), timeout=5)
            s.sendall(b"\0\0\0")
            stalled.append(s)
        time.sleep(1.1)
        v = lc.LiveConn(relay.ports.live)
        v.connect()
        assert v.create_session() == lc.CREATE_SESSION_OK
        status, streams = v.attach(lc.find_session(v, "watched").id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_OK
        sid = next(s.id for s in streams if not s.metadata)
        assert len(wait_indexes(v, sid, g.packets)) == g.packets
        v.close()
        g.finish()
    finally:
        for s in stalled:
            s.close()
        g.close()
    assert relay.alive()


@pytest.mark.parametrize("count", [0, 8])
def test_index_halves_several_tracefiles_late(make_relay, count):
    """With --tracefile-size, the index of packet N may come after the data
    of N+1, N+2, ... each in a new tracefile, from a producer that pipelines
    its requests (data and control are separate sockets; libctflive's
    producer does not wait for SEND_INDEX replies). lttng-consumerd waits
    for each SEND_INDEX reply before the next packet's data, so it lags at
    most within one packet. Every packet must stay indexed: from the second
    file switch on, the entry was dropped with a warning (packet lost)."""
    relay = make_relay("ctflive-relayd", "r")
    c = rc.ControlConn(relay.ports.control)
    c.version()
    rep = c.create_session(rc.enc_create_session_2_11("late", "latehost"))
    assert rep.ret_code == rc.LTTNG_OK
    assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
    # one 4 KiB packet per tracefile
    hnd, ret = c.add_stream("chan_0", "ust/uid/1000/64-bit", tracefile_size=4096,
                            tracefile_count=count)
    assert ret == rc.LTTNG_OK
    meta, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
    assert ret == rc.LTTNG_OK
    assert c.streams_sent() == rc.LTTNG_OK
    c.send_metadata(meta, rc.make_metadata("latehost"), 0)
    d = rc.DataConn(relay.ports.data)
    n, lag = 12, 4
    pks = [rc.make_packet(i * 10, 10, i) for i in range(n)]
    for i in range(n + lag):
        if i < n:
            d.send_packet(hnd, i, pks[i].data, pks[i].padding)
            time.sleep(0.02)  # the data is written before the late index comes
        if i >= lag:
            assert c.send_index(hnd, i - lag, pks[i - lag].index) == rc.LTTNG_OK
    for _ in range(100):
        assert c.begin_data_pending(rep.session_id) == rc.LTTNG_OK
        if c.data_pending(hnd, n - 1) == 0 and c.end_data_pending(rep.session_id) == 0:
            break
        time.sleep(0.05)
    assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
    assert c.close_stream(hnd, n - 1) == rc.LTTNG_OK
    c.close()
    d.close()
    path = rep.path.rstrip(b"\0").decode()
    h.wait_for(lambda: marker_state(relay, path) != "active", 10, what="the session's end")
    log = relay.log()
    assert "rotated away" not in log, log[-2000:]
    assert marker_state(relay, path) == "complete", log[-2000:]
    sdir = relay.output / path / "ust/uid/1000/64-bit"
    entries = 0
    for f in (sdir / "index").glob("chan_0*.idx"):
        entries += max(f.stat().st_size - 16, 0) // 72
    kept = n if count == 0 else min(n, count)
    assert entries >= kept, f"{entries} index entries for {kept} packets kept on disk"
    bt = h.babeltrace(relay.output / path)
    assert bt.rc == 0, bt.err
    assert len(bt.lines) == kept * 10, (len(bt.lines), kept * 10)


def test_tracefiles_past_the_descriptor_limit(ws):
    """A stream with --tracefile-size (no count) held two descriptors per
    file it ever wrote (300 files: 600 descriptors): under a hard limit of
    128 it ran out after about 50 files and the session was cut. Older files
    whose packets are all published are now closed, and reopened read-only
    when read: 150 files are written at a tracer's pace, a viewer attached
    afterwards gets every packet from the first file on (holding one
    reopened file at a time), babeltrace2 reads them all."""
    import resource
    relay = h.CtfliveRelayd(ws, "lowfdtf")
    relay.preexec_fn = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
    relay.start()
    c = d = v = None
    try:
        n = 150
        c, d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
        c.version()
        rep = c.create_session(rc.enc_create_session_2_11("lowfdtf", "fdhost",
                                                          live_timer=100000))
        assert rep.ret_code == rc.LTTNG_OK
        path = rep.path.rstrip(b"\0").decode()
        assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        hnd, ret = c.add_stream("chan_0", "ust/uid/1000/64-bit", tracefile_size=4096)
        assert ret == rc.LTTNG_OK
        meta, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
        assert ret == rc.LTTNG_OK
        assert c.streams_sent() == rc.LTTNG_OK
        c.send_metadata(meta, rc.make_metadata("fdhost"), 0)
        sent = []
        for i in range(n):
            pk = rc.make_packet(i * 2, 2, i)
            d.send_packet(hnd, i, pk.data, pk.padding)
            assert c.send_index(hnd, i, pk.index) == rc.LTTNG_OK, relay.log()[-1500:]
            sent.append(pk.data + bytes(pk.padding))
            time.sleep(0.02)  # a tracer's pace: older files get published
        v = lc.LiveConn(relay.ports.live)
        v.connect()
        assert v.create_session() == lc.CREATE_SESSION_OK
        status, _streams = v.attach(lc.find_session(v, "lowfdtf").id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_OK
        for k in range(n):
            try:
                ix = wait_indexes(v, hnd, 1)[0]
            except AssertionError as e:
                raise AssertionError(f"packet {k}: {e}\n{relay.log()[-1500:]}") from e
            st, _flags, data = v.get_packet(hnd, ix.offset, ix.packet_size // 8)
            assert st == lc.PACKET_OK and data == sent[k], (k, st, relay.log()[-1500:])
        assert c.close_stream(hnd, n - 1) == rc.LTTNG_OK
        assert c.close_stream(meta, rc.U64_MAX) == rc.LTTNG_OK
        c.close()
        d.close()
        assert v.get_next_index(hnd).status == lc.INDEX_HUP
        v.close()
        h.wait_for(lambda: marker_state(relay, path) != "active", 20, what="marker")
        assert marker_state(relay, path) == "complete", relay.log()[-2000:]
        assert events_in(relay, path) == 2 * n
        assert relay.alive()
        assert "cannot" not in relay.log(), relay.log()[-2000:]
    finally:
        for conn in (v, c, d):
            if conn is not None:
                conn.close()
        relay.stop()
