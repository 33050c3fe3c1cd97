# SPDX-License-Identifier: MIT
"""ctflive-relayd --publish to NATS JetStream and `ctflive view|ls nats://`
(doc/nats.md), with real nats-server processes (JetStream on, store under the
test's directory, ports chosen at run time) and real LTTng 2.13 live
sessions into ctflive-relayd. The servers run with a small max_payload so
that packets are split in parts and joined again."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import lttng_harness as h
from live_support import HOST, end_sessions, setup_session

NATS_SERVER = shutil.which("nats-server") or (
    "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None)
# Smaller than the sessions' 16 KiB packets: every packet goes in parts.
MAX_PAYLOAD = 8192

pytestmark = pytest.mark.skipif(
    NATS_SERVER is None, reason="nats-server is not installed (Debian: nats-server)")


def ctflive(*args, timeout=h.DEFAULT_TIMEOUT):
    env = dict(os.environ, TZ="UTC", LANG="C")
    return subprocess.run([str(h.build_dir() / "src" / "cli" / "ctflive"), *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def have_nats_support() -> bool:
    r = ctflive("ls", "nats://127.0.0.1:1", "--timeout", "100")
    return "without NATS support" not in r.stderr


class NatsServer:
    """One nats-server with JetStream, optionally a node of a cluster."""

    def __init__(self, ws: h.Workspace, name: str):
        self.dir = ws.mkdir(name)
        self.name = name
        self.port = h.free_port()
        self.cluster_port = h.free_port()
        self.monitor_port: int | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, routes: list[int] | None = None, monitor: bool = False,
              max_payload: int = MAX_PAYLOAD, extra: list[str] = ()) -> "NatsServer":
        conf = [f'server_name: "{self.name}"', f"listen: 127.0.0.1:{self.port}",
                f"max_payload: {max_payload}",
                f'jetstream {{ store_dir: "{self.dir / "js"}" }}', *extra]
        if monitor:
            self.monitor_port = h.free_port()
            conf.append(f"http: 127.0.0.1:{self.monitor_port}")
        if routes is not None:
            conf.append(f'cluster {{ name: "ctfl", listen: 127.0.0.1:{self.cluster_port}, '
                        f'routes: [{", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)}] }}')
        (self.dir / "nats.conf").write_text("\n".join(conf) + "\n")
        log = open(self.dir / "nats.log", "ab")
        try:
            self.proc = subprocess.Popen([NATS_SERVER, "-c", str(self.dir / "nats.conf")],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        finally:
            log.close()
        return self

    def wait_listening(self) -> None:
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log()[-2000:]}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        h.wait_for(up, 15, what=f"nats-server {self.name} listening")

    def log(self) -> str:
        try:
            return (self.dir / "nats.log").read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            h.stop_popen(self.proc)


@pytest.fixture
def nats(ws):
    """Factory: nats(n) -> n started servers (a cluster when n > 1), JetStream ready."""
    if not have_nats_support():
        pytest.skip("ctflive was built without libnats")
    servers: list[NatsServer] = []

    def make(n: int = 1, monitor: bool = False, max_payload: int = MAX_PAYLOAD
             ) -> list[NatsServer]:
        group = [NatsServer(ws, f"nats{len(servers) + i}") for i in range(n)]
        servers.extend(group)
        for s in group:
            s.start([o.cluster_port for o in group if o is not s] if n > 1 else None,
                    monitor=monitor, max_payload=max_payload)
        for s in group:
            s.wait_listening()
        # JetStream answers (a cluster: once its meta leader is elected).
        urls = ",".join(s.url for s in group)
        h.wait_for(lambda: ctflive("ls", urls, "--timeout", "1000").returncode == 0, 30,
                   what="JetStream ready")
        return group

    yield make
    for s in servers:
        s.stop()


def run_session(lttng, relay, name: str, events: int, mid=None) -> None:
    setup_session(lttng, relay, name)
    app = lttng.spawn_app(events, 500, "a")
    if mid is not None:
        time.sleep(0.5)
        mid()
    lttng.wait_app(app)
    end_sessions(lttng, name)


def disk_view(relay, name: str) -> subprocess.CompletedProcess:
    d = relay.session_dir(name)
    h.wait_for(lambda: not relay_session_live(relay, name), 20, what="relay session end")
    return ctflive("view", str(d))


def relay_session_live(relay, name: str) -> bool:
    r = ctflive("ls", f"net://127.0.0.1:{relay.ports.live}", "--timeout", "2000")
    return f"/{name} " in r.stdout


def events_of(out: str) -> int:
    """Events of the sample program (its start and stop events excluded)."""
    return sum(" ctflive_sample:" in line for line in out.splitlines()) - 2


@pytest.mark.parametrize("sync", ["data", "none"])
def test_nats_view_equals_disk(lttng, make_relay, nats, sync):
    """Every packet published locally (durable, or written with --sync none)
    reaches JetStream, in parts and joined: `ctflive view nats://` prints
    what `ctflive view` prints of the relay's directory, and `ctflive ls
    nats://` lists the session as ended."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd", extra=["--publish", srv.url, "--publish-id", "r1",
                                                "--sync", sync])
    run_session(lttng, relay, "nv", 3000)
    disk = disk_view(relay, "nv")
    assert disk.returncode == 0, disk.stderr
    assert events_of(disk.stdout) == 3000

    url = f"{srv.url}/host/{HOST}/nv"
    got = ctflive("view", url, "--timeout", "20000")
    assert got.returncode == 0, got.stderr
    assert got.stdout == disk.stdout
    # A stored session is read whole whatever the grace: while catching up
    # with what JetStream holds, packets of one stream come after newer ones
    # of others, and the follower may lag behind the reader; a stream is
    # idle only when it has no packet written and not read yet. With a 1 ms
    # grace, a stream taken for idle by mistake (while its packet is written,
    # or with packets the follower has not read yet once the reader is done)
    # is printed past at once: "event time ... earlier than the previous".
    # Each read hits such a moment or not: five of them.
    for _ in range(5):
        got = ctflive("view", url, "--timeout", "20000", "--grace", "1")
        assert got.returncode == 0, got.stderr
        assert got.stdout == disk.stdout
    assert "missing" not in got.stderr and "could not be used" not in got.stderr, got.stderr
    assert "has not ended" not in got.stderr, got.stderr

    ls = ctflive("ls", srv.url)
    assert ls.returncode == 0, ls.stderr
    lines = [l for l in ls.stdout.splitlines() if f"/host/{HOST}/nv " in l]
    assert len(lines) == 1 and "(relay r1, " in lines[0] and lines[0].endswith(", ended)"), \
        ls.stdout
    # Packets larger than max_payload (8 KiB, less 1 KiB for headers) went
    # in parts: as many messages at least as their parts.
    sizes = [struct.unpack_from(">Q", data, off + 8)[0] // 8
             for f in relay.session_dir("nv").rglob("index/*.idx")
             for data in [f.read_bytes()] for off in range(16, len(data), 72)]
    parts = sum(-(-(72 + size) // (MAX_PAYLOAD - 1024)) for size in sizes)
    messages = int(lines[0].split(", ")[2].split()[0])
    assert len(sizes) > 10 and parts > len(sizes) and messages > parts, (sizes, lines[0])
    relay.stop()
    assert "not published" not in relay.log(), relay.log()[-3000:]


def test_nats_down_never_blocks_ingest(lttng, make_relay, nats, ws):
    """With its NATS server gone, the relay keeps ingesting every session at
    full speed and reports how many messages it could not publish."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd",
                       extra=["--publish", srv.url, "--publish-queue", "1000000"])
    srv.kill()
    t0 = time.monotonic()
    run_session(lttng, relay, "nd", 3000)
    elapsed = time.monotonic() - t0
    disk = disk_view(relay, "nd")
    assert disk.returncode == 0, disk.stderr
    assert events_of(disk.stdout) == 3000
    # 3000 events at 0.5 ms: a blocked ingest would stall the tracer for
    # good (lttng destroy waits for the relay) well beyond this bound.
    assert elapsed < 30
    assert relay.alive()
    assert relay.stop() == 0
    log = relay.log()
    assert "not published" in log, log[-3000:]


def test_nats_unreachable_at_start(lttng, make_relay, nats):
    """A relay started while no NATS server answers starts at once (its ports
    and port file), says so, ingests, stops on SIGTERM, and publishes once
    the server is there: a session recorded then is read back whole."""
    (srv,) = nats(1)
    srv.kill()
    relay = make_relay("ctflive-relayd", extra=["--publish", srv.url])
    h.wait_for(lambda: "NATS: not connected to" in relay.log(), 10, what="not connected")
    run_session(lttng, relay, "u1", 300)
    disk = disk_view(relay, "u1")
    assert disk.returncode == 0 and events_of(disk.stdout) == 300, disk.stderr
    srv.start()
    srv.wait_listening()
    h.wait_for(lambda: "NATS: connected to" in relay.log(), 20, what="connection")
    run_session(lttng, relay, "u2", 300)
    disk = disk_view(relay, "u2")
    got = ctflive("view", f"{srv.url}/host/{HOST}/u2", "--timeout", "20000")
    assert got.returncode == 0, got.stderr
    assert got.stdout == disk.stdout
    t0 = time.monotonic()
    assert relay.stop() == 0
    assert time.monotonic() - t0 < 10


def test_nats_view_says_connection_lost(lttng, make_relay, nats, ws):
    """`ctflive view nats://` of a live session says when its NATS server is
    gone and when it is back, then prints the whole session."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd", extra=["--publish", srv.url])
    setup_session(lttng, relay, "vl")
    app = lttng.spawn_app(300, 500, "a")
    lttng.wait_app(app)
    h.wait_for(lambda: relay_session_live(relay, "vl"), 20, what="session")
    err = ws.root / "vl-view.err"
    with open(err, "w") as ef:
        view = subprocess.Popen([str(h.build_dir() / "src" / "cli" / "ctflive"), "view",
                                 f"{srv.url}/host/{HOST}/vl"],
                                stdout=subprocess.PIPE, stderr=ef, text=True,
                                stdin=subprocess.DEVNULL, env=dict(os.environ, TZ="UTC",
                                                                   LANG="C"))
    try:
        time.sleep(1)
        srv.kill()
        h.wait_for(lambda: "NATS: connection to" in err.read_text(), 10,
                   what="the view saying the connection is lost")
        assert "lost, reconnecting" in err.read_text(), err.read_text()
        srv.start()
        srv.wait_listening()
        h.wait_for(lambda: "NATS: reconnected to" in err.read_text(), 20,
                   what="the view saying it reconnected")
        h.wait_for(lambda: "NATS: reconnected to" in relay.log() or
                   "NATS: connected to" in relay.log(), 20, what="the relay reconnected")
        end_sessions(lttng, "vl")
        out, _ = view.communicate(timeout=60)
    finally:
        h.stop_popen(view)
    disk = disk_view(relay, "vl")
    assert view.returncode == 0, err.read_text()
    assert out == disk.stdout


def test_nats_server_restart_is_logged(make_relay, nats):
    """A publishing relay says once that its NATS server went away, and
    once that it is back."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd", extra=["--publish", srv.url])
    srv.kill()
    h.wait_for(lambda: "NATS: disconnected from" in relay.log(), 10, what="disconnection")
    time.sleep(1)  # reconnection attempts (every 250 ms) fail meanwhile
    srv.start()
    srv.wait_listening()
    h.wait_for(lambda: "NATS: reconnected to" in relay.log(), 15, what="reconnection")
    time.sleep(0.5)
    log = relay.log()
    assert log.count("NATS: disconnected from") == 1, log[-3000:]
    assert log.count("NATS: reconnected to") == 1, log[-3000:]
    assert f"disconnected from {srv.url}" in log


def test_nats_cluster_node_killed(lttng, make_relay, nats):
    """Three JetStream nodes, replicas 3: one node killed mid-session loses
    nothing; the view from the surviving nodes equals the relay's copy."""
    servers = nats(3)
    urls = ",".join(s.url for s in servers)
    relay = make_relay("ctflive-relayd",
                       extra=["--publish", urls, "--publish-replicas", "3"])
    run_session(lttng, relay, "nc", 3000, mid=servers[0].kill)
    disk = disk_view(relay, "nc")
    assert events_of(disk.stdout) == 3000
    survivors = ",".join(s.url for s in servers[1:])
    got = ctflive("view", f"{survivors}/host/{HOST}/nc", "--timeout", "20000")
    assert got.returncode == 0, got.stderr
    assert got.stdout == disk.stdout
    assert "missing" not in got.stderr, got.stderr
    relay.stop()
    assert "not published" not in relay.log(), relay.log()[-3000:]


def test_nats_retention_limits(lttng, make_relay, nats):
    """--retain-bytes and --retain-age become the MaxBytes and MaxAge of the
    session's packet stream, which stays within them (oldest packets dropped
    by JetStream, as the server's monitoring endpoint reports), while the
    session stream keeps the life cycle and metadata whole: a late `ctflive
    view nats://` prints the retained tail, which is what the relay's own
    copy prints without the dropped packets, and reports those per stream
    as discarded packets."""
    (srv,) = nats(1, monitor=True)
    limit = 100_000
    relay = make_relay("ctflive-relayd", extra=["--publish", srv.url, "--retain-bytes",
                                                str(limit), "--retain-age", "3600"])
    run_session(lttng, relay, "nr", 3000)
    disk = disk_view(relay, "nr")
    assert events_of(disk.stdout) == 3000
    data = sum(f.stat().st_size for f in relay.session_dir("nr").rglob("*")
               if f.is_file() and f.parent.name != "index")
    assert data > 2 * limit  # the session published more than the limit

    def streams():
        with urllib.request.urlopen(
                f"http://127.0.0.1:{srv.monitor_port}/jsz?streams=true&config=true",
                timeout=10) as r:
            jsz = json.load(r)
        found = {s["name"]: s for a in jsz.get("account_details", [])
                 for s in a.get("stream_detail", []) if s["name"].startswith("CTFLIVE_")}
        assert len(found) == 2, jsz
        return found

    found = streams()
    (pname,) = [n for n in found if n.endswith("_P")]
    ses, pkt = found[pname[:-2]], found[pname]
    assert pkt["config"]["max_bytes"] == limit
    assert pkt["config"]["max_age"] == 3600 * 10**9
    assert pkt["config"]["discard"] == "old"
    assert pkt["config"]["description"].startswith("ctflive/1-packets ctflive.")
    assert 0 < pkt["state"]["bytes"] <= limit
    assert pkt["state"]["first_seq"] > 1  # the oldest packets are gone
    assert sorted(pkt["config"]["subjects"]) == sorted(
        [s.replace(".ctl", x) for s in ses["config"]["subjects"] if s.endswith(".ctl")
         for x in (".data.>", ".beacon.>")])
    # The life cycle and metadata are whole and without limits.
    assert ses["config"]["description"].startswith("ctflive/1 ctflive.")
    assert ses["config"].get("max_bytes", -1) == -1 and ses["config"].get("max_age", 0) == 0
    assert ses["state"]["first_seq"] == 1 and ses["state"]["messages"] > 2

    got = ctflive("view", f"{srv.url}/host/{HOST}/nr", "--timeout", "3000")
    assert got.returncode == 0, got.stderr
    assert "dropped by the stream's retention limits" in got.stderr, got.stderr
    # Per data stream, the packets before its first retained one, as the
    # decoder reports discarded packets (count: that packet's
    # packet_seq_num; their times are unknown).
    assert re.search(r"WARNING: Tracer discarded \d+ packets? \(unknown time range\) in "
                     r"trace ", got.stderr), got.stderr
    assert "could not be used" not in got.stderr, got.stderr
    assert "are missing" not in got.stderr, got.stderr
    # (without the time since the previous event, which differs where
    # packets were dropped)
    full = [re.sub(r" \(\+[0-9.?]+\)", "", l) for l in disk.stdout.splitlines()]
    tail = [re.sub(r" \(\+[0-9.?]+\)", "", l) for l in got.stdout.splitlines()]
    assert 0 < events_of(got.stdout) < 3000
    # What it prints is the relay's copy without the dropped packets (an
    # ordered subsequence), ending as it does: the retained tail.
    it = iter(full)
    assert all(line in it for line in tail), got.stdout[-2000:]
    assert tail[-len(tail) // 2:] == full[-len(tail) // 2:]


def relay_cpu_seconds(pid_file: Path) -> float:
    pid = int(pid_file.read_text())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.environ.get("CTFLIVE_NATS_BENCH"),
                    reason="measurement: set CTFLIVE_NATS_BENCH=1")
def test_nats_publish_cost(lttng, make_relay, nats, ws):
    """Prints the relay's CPU time per MB ingested without and with --publish
    (one nats-server on this machine, default 1 MiB max_payload), and checks
    the NATS view against the relay's copy."""
    (srv,) = nats(1, max_payload=1 << 20)
    events = int(os.environ.get("CTFLIVE_NATS_BENCH_EVENTS", "200000"))
    results = {}
    for mode in ("local", "publish"):
        pid_file = ws.mkdir(f"pid-{mode}", owned=True) / "relay.pid"
        extra = ["--pid-file", str(pid_file)]
        if mode == "publish":
            extra += ["--publish", srv.url]
        relay = make_relay("ctflive-relayd", name=f"bench-{mode}", extra=extra)
        name = f"b{mode}"
        setup_session(lttng, relay, name, subbuf_size=1 << 20, num_subbuf=8)
        lttng.run_app(events, 5, "a", timeout=600)
        end_sessions(lttng, name)
        disk = disk_view(relay, name)
        assert events_of(disk.stdout) > events // 2
        cpu = relay_cpu_seconds(pid_file)
        mb = sum(f.stat().st_size for f in relay.session_dir(name).rglob("*")
                 if f.is_file()) / 1e6
        results[mode] = (cpu, mb)
        if mode == "publish":
            got = ctflive("view", f"{srv.url}/host/{HOST}/{name}", "--timeout", "20000",
                          timeout=600)
            assert got.stdout == disk.stdout
        relay.stop()
    for mode, (cpu, mb) in results.items():
        print(f"\n[nats-bench] {mode}: {mb:.1f} MB, relay CPU {cpu:.2f} s, "
              f"{cpu / mb * 1000:.1f} ms/MB")


def test_nats_queue_full_drops_counted(lttng, make_relay, nats):
    """A publication queue too small for the session's packets: the relay
    drops packets rather than wait, says how many in the log and to
    readers, and keeps its own copy whole."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd", extra=["--publish", srv.url, "--publish-queue", "4096"])
    run_session(lttng, relay, "nq", 3000)
    disk = disk_view(relay, "nq")
    assert events_of(disk.stdout) == 3000
    relay.stop()
    assert "dropped: queue full" in relay.log(), relay.log()[-3000:]
    got = ctflive("view", f"{srv.url}/host/{HOST}/nq", "--timeout", "5000")
    assert "dropped by the relay (publication queue full)" in got.stderr, got.stderr
    assert "are missing" not in got.stderr, got.stderr
