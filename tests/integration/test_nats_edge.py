# SPDX-License-Identifier: MIT
"""Edge relays (`ctflive-relayd --from nats://…`, doc/nats.md "Edge relays"):
real nats-server processes (a three-node JetStream cluster, replicas 3),
ingest relays publishing real LTTng 2.13 live sessions (--publish), edge
relays serving them to babeltrace2 live viewers and `ctflive view net://`.
Every process is started by the test on 127.0.0.1, ports chosen at run time."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

import lttng_harness as h
from live_support import HOST, BtLive, end_sessions, setup_session, wait_clients
from test_nats import ctflive, nats  # noqa: F401  (the fixture)

# Longer variants (CTFLIVE_NATS_EDGE_LONG=1): more events, and a view whose
# JetStream consumer is deleted mid-session.
LONG = os.environ.get("CTFLIVE_NATS_EDGE_LONG") == "1"
GONE = int(os.environ.get("CTFLIVE_NATS_GONE", "60000"))


def edge_lists(edge, *names: str) -> bool:
    r = ctflive("ls", f"net://{h.LOCALHOST}:{edge.ports.live}", "--timeout", "2000")
    return all(f"/{HOST}/{n} " in r.stdout for n in names)


def bt_list(edge) -> str:
    r = subprocess.run(["babeltrace2", "-i", "lttng-live",
                        f"net://{h.LOCALHOST}:{edge.ports.live}"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, TZ="UTC", LANG="C"))
    assert r.returncode == 0, r.stderr
    return r.stdout


def sample_lines(lines, run: str = "main") -> list[str]:
    """The events of the sample program run `run`, sorted (timestamps kept:
    equal traces have equal times). babeltrace2 live viewers attach at the
    newest packets: the run before they attached is not compared."""
    return sorted(re.sub(r" \(\+[0-9.?]+\) ", " ", line, count=1) for line in lines
                  if " ctflive_sample:" in line and f'name = "{run}"' in line)


def offline(relay, name: str) -> list[str]:
    r = h.babeltrace(relay.session_dir(name))
    assert r.rc == 0, r.err
    return sample_lines(r.lines)


def start_edge(make_relay, urls: str, name: str, idle_ms: int = 60000):
    return make_relay("ctflive-relayd", name,
                      extra=["--from", urls, "--from-idle-timeout", str(idle_ms)])


def test_edges_serve_cluster_sessions(lttng, make_relay, nats):  # noqa: F811
    """Acceptance 1 and 2: three JetStream nodes (replicas 3), two ingest
    relays, two edges; a live session into each ingest relay; babeltrace2
    live viewers on both edges list both sessions and each prints every
    event, while one NATS node is killed mid-session."""
    servers = nats(3, monitor=True)
    urls = ",".join(s.url for s in servers)
    ingest = [make_relay("ctflive-relayd", f"ingest{i}",
                         extra=["--publish", urls, "--publish-replicas", "3",
                                "--publish-id", f"ingest{i}"]) for i in range(2)]
    # Each edge starts on a different node of the list.
    edges = [start_edge(make_relay, ",".join(s.url for s in servers[i:] + servers[:i]),
                        f"edge{i}") for i in range(2)]
    names = ["ea", "eb"]
    for relay, name in zip(ingest, names):
        setup_session(lttng, relay, name)
    # The streams exist once a program registered (per-UID buffers): the
    # sessions are then published, and listed by the edges.
    lttng.run_app(5, 1000, "first")
    for e in edges:
        h.wait_for(lambda e=e: edge_lists(e, *names), 30, what="sessions listed on the edge")
        listed = bt_list(e)
        for n in names:
            assert f"/host/{HOST}/{n} (" in listed, listed
    viewers = {(i, n): BtLive(f"net://{h.LOCALHOST}:{e.ports.live}/host/{HOST}/{n}").start()
               for i, e in enumerate(edges) for n in names}
    # Attached before the program starts (babeltrace2 starts at the newest
    # packets): every event of the program is then theirs to print.
    for e in edges:
        for n in names:
            wait_clients(e, n, 1, timeout=30)
    count = 20000 if LONG else 4000
    app = lttng.spawn_app(count, 500, "main")
    time.sleep(1.0)
    # Mid-session, the server of an edge: it goes on with the others.
    client_server(servers, "ctflive-relayd edge").kill()
    lttng.wait_app(app)
    end_sessions(lttng, *names)
    want = {}
    for relay, n in zip(ingest, names):
        h.wait_for(lambda r=relay, n=n: not edge_lists(r, n), 30, what="ingest session end")
        want[n] = offline(relay, n)
        assert len(want[n]) == count + 2, len(want[n])  # and the start and stop events
    for (i, n), v in viewers.items():
        rc, lines, err = v.finish(60)
        assert rc == 0, err[-3000:]
        got = sample_lines(lines)
        assert got == want[n], f"edge{i} {n}: {len(got)} events, want {len(want[n])}"
    for r in ingest:
        r.stop()
        assert "not published" not in r.log(), r.log()[-3000:]


def test_edge_ingest_relay_killed(lttng, make_relay, nats):  # noqa: F811
    """Acceptance 5: an ingest relay killed mid-session: its session ends as
    interrupted on the edge (nothing of it arrives for --from-idle-timeout),
    its viewer ends; the other relay's session is untouched and its viewer
    prints every event."""
    servers = nats(1)
    urls = servers[0].url
    ingest = [make_relay("ctflive-relayd", f"ingest{i}",
                         extra=["--publish", urls, "--publish-id", f"ingest{i}"])
              for i in range(2)]
    edge = start_edge(make_relay, urls, "edge", idle_ms=3000)
    # An edge for other hosts (--from-hosts): serves none of these.
    other = make_relay("ctflive-relayd", "other-edge",
                       extra=["--from", urls, "--from-hosts", f"not-{HOST}*"])
    names = ["ka", "kb"]
    for relay, name in zip(ingest, names):
        setup_session(lttng, relay, name)
    lttng.run_app(5, 1000, "first")
    h.wait_for(lambda: edge_lists(edge, *names), 30, what="sessions listed on the edge")
    time.sleep(1.5)  # a discovery round of the other edge
    listed = ctflive("ls", f"net://{h.LOCALHOST}:{other.ports.live}")
    assert listed.returncode == 0 and f"/{HOST}/" not in listed.stdout, listed.stdout
    viewers = {n: BtLive(f"net://{h.LOCALHOST}:{edge.ports.live}/host/{HOST}/{n}").start()
               for n in names}
    for n in names:
        wait_clients(edge, n, 1, timeout=30)
    count = 4000
    app = lttng.spawn_app(count, 500, "main")
    time.sleep(1.0)
    ingest[0].kill()
    t_kill = time.time()
    rc, lines, err = viewers["ka"].finish(30)
    assert rc == 0, err[-3000:]
    # Ended by the edge: after the idle timeout, before the program ends.
    assert time.time() - t_kill < 20
    assert len(sample_lines(lines)) > 0
    h.wait_for(lambda: "interrupted" in edge.log(), 10, what="edge log")
    assert f"/{HOST}/ka" not in ctflive("ls", f"net://{h.LOCALHOST}:{edge.ports.live}").stdout
    lttng.wait_app(app)
    lttng.stop_session("kb")
    lttng.destroy("kb")
    lttng.destroy("ka", check=False)
    h.wait_for(lambda: not edge_lists(ingest[1], "kb"), 30, what="ingest session end")
    want = offline(ingest[1], "kb")
    assert len(want) == count + 2
    rc, lines, err = viewers["kb"].finish(60)
    assert rc == 0, err[-3000:]
    assert sample_lines(lines) == want
    log = edge.log()
    assert log.count("interrupted") == 1, log[-3000:]


def client_server(servers, name: str):
    """The server a client named `name` is connected to (monitoring /connz)."""
    import json
    import urllib.request
    for s in servers:
        if s.proc.poll() is not None:
            continue
        with urllib.request.urlopen(f"http://127.0.0.1:{s.monitor_port}/connz",
                                    timeout=10) as r:
            conns = json.load(r).get("connections") or []
        if any(c.get("name") == name for c in conns):
            return s
    return None


class Reader:
    """A process whose stdout lines are read, time-stamped, by a thread."""

    def __init__(self, argv):
        import threading
        self.proc = subprocess.Popen(argv, env=dict(os.environ, TZ="UTC", LANG="C"),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: list[tuple[float, str]] = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.time(), line))

    def finish(self, timeout: float):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            h.stop_popen(self.proc)
            raise
        self.t.join(10)
        return self.proc.returncode, "".join(x for _, x in self.lines), self.proc.stderr.read()


def test_edge_lists_session_before_packets(lttng, make_relay, nats):  # noqa: F811
    """A session is on the edges (and `ls nats://`) as soon as it is created
    on the ingest relay, before any program traced into it, as the relay's
    own viewers see it; a `ctflive view` of the edge started then prints the
    whole session once a program runs."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd", "ingest", extra=["--publish", srv.url])
    edge = start_edge(make_relay, srv.url, "edge-early")
    setup_session(lttng, relay, "early")
    h.wait_for(lambda: edge_lists(edge, "early"), 15, what="the edge listing the session")
    assert f"/host/{HOST}/early " in ctflive("ls", srv.url).stdout
    view = Reader([str(h.build_dir() / "src" / "cli" / "ctflive"), "view",
                   f"net://{h.LOCALHOST}:{edge.ports.live}/host/{HOST}/early"])
    time.sleep(0.5)
    lttng.run_app(300, 1000, "main")
    end_sessions(lttng, "early")
    rc, out, err = view.finish(60)
    assert rc == 0, err[-3000:]
    disk = ctflive("view", str(relay.session_dir("early")))
    assert disk.returncode == 0, disk.stderr
    assert out == disk.stdout, err[-3000:]


def test_nats_view_live_resumes(lttng, make_relay, nats):  # noqa: F811
    """Item 3 (acceptance 3 through nats://): `ctflive view nats://` prints
    while the session is live, and goes on by itself when the NATS server it
    was connected to is killed: its output equals the relay's copy (no gap,
    no duplicate)."""
    servers = nats(3, monitor=True)
    urls = ",".join(s.url for s in servers)
    relay = make_relay("ctflive-relayd", "ingest",
                       extra=["--publish", urls, "--publish-replicas", "3"])
    setup_session(lttng, relay, "lv")
    lttng.run_app(5, 1000, "first")
    h.wait_for(lambda: f"/{HOST}/lv " in ctflive("ls", urls).stdout, 30,
               what="session on NATS")
    view = Reader([str(h.build_dir() / "src" / "cli" / "ctflive"), "view",
                   f"{urls}/host/{HOST}/lv"])
    # Long enough to see lines printed while it runs (the view waits up to
    # its grace, 5 s, for a stream that has nothing yet).
    app = lttng.spawn_app(8000, 1000, "main")
    time.sleep(1.0)
    # Kill the server the view is connected to.
    h.wait_for(lambda: client_server(servers, "ctflive") is not None, 10,
               what="the view's connection")
    client_server(servers, "ctflive").kill()
    lttng.wait_app(app)
    t_end = time.time()
    end_sessions(lttng, "lv")
    rc, out, err = view.finish(90)
    assert rc == 0, err[-3000:]
    disk = ctflive("view", str(relay.session_dir("lv")))
    assert disk.returncode == 0, disk.stderr
    assert out == disk.stdout, err[-3000:]
    assert "missing" not in err, err
    # Live: events were printed before the session ended.
    assert any(t < t_end and 'name = "main"' in line for t, line in view.lines)


def remote_ports(pid: int) -> set[int]:
    """Remote TCP ports of the established IPv4 connections of process pid
    (its socket inodes matched in /proc/net/tcp)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    ports = set()
    with open(f"/proc/{pid}/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[3] == "01" and cols[9] in inodes:  # ESTABLISHED
                ports.add(int(cols[2].split(":")[1], 16))
    return ports


def test_view_fails_over_to_other_edge(lttng, make_relay, nats):  # noqa: F811
    """Acceptance 3 through the LTTng live protocol: `ctflive view` given two
    edges (net://EDGE1,EDGE2/host/H/S) prints while the session is live; the
    edge it is connected to (found by its connections) is killed mid-session:
    it says so once, goes on with the other edge where it was, exits 0 at
    the session's end, and its output equals the ingest relay's copy read
    offline (no gap, no duplicate)."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd", "ingest", extra=["--publish", srv.url])
    edges = [start_edge(make_relay, srv.url, f"edge{i}") for i in range(2)]
    setup_session(lttng, relay, "fo")
    lttng.run_app(5, 1000, "first")
    for e in edges:
        h.wait_for(lambda e=e: edge_lists(e, "fo"), 30, what="session on the edge")
    relays = ",".join(f"{h.LOCALHOST}:{e.ports.live}" for e in edges)
    view = Reader([str(h.build_dir() / "src" / "cli" / "ctflive"), "view",
                   f"net://{relays}/host/{HOST}/fo"])
    app = lttng.spawn_app(6000, 500, "main")
    h.wait_for(lambda: any('name = "main"' in x for _, x in view.lines), 20,
               what="the view printing")
    ports = remote_ports(view.proc.pid)
    (victim,) = [e for e in edges if e.ports.live in ports]
    printed = len(view.lines)
    victim.kill()
    lttng.wait_app(app)
    t_end = time.time()
    end_sessions(lttng, "fo")
    rc, out, err = view.finish(90)
    assert rc == 0, err[-3000:]
    assert err.count("reconnected to relay") == 1, err[-3000:]
    (other,) = [e for e in edges if e is not victim]
    assert f"reconnected to relay {h.LOCALHOST}:{other.ports.live}" in err, err[-3000:]
    disk = ctflive("view", str(relay.session_dir("fo")))
    assert disk.returncode == 0, disk.stderr
    assert 0 < printed < disk.stdout.count("\n")  # killed mid-session
    assert out == disk.stdout, err[-3000:]
    assert any(t < t_end and 'name = "main"' in line for t, line in view.lines)


def test_edge_usage_errors(ws):
    """--from goes without --publish; --from-* options need --from."""
    exe = str(h.build_dir() / "src" / "relayd" / "ctflive-relayd")
    for args, msg in ((["--from", "nats://127.0.0.1:1", "--publish", "nats://127.0.0.1:1"],
                       "exclusive"),
                      (["--from-cache", "100000"], "need --from"),
                      (["--from", "nats://127.0.0.1:1", "--from-cache", "10"], "--from-cache"),
                      (["--from", "tcp://x"], "invalid --from")):
        r = subprocess.run([exe, "-o", str(ws.root), *args], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)


def test_edge_cache_bound(lttng, make_relay, nats):  # noqa: F811
    """--from-cache: each data stream of an edge keeps a ring of 4 files of a
    quarter of it, whatever the session's size; a viewer attached late gets
    the packets still kept, up to the session's end."""
    (srv,) = nats(1)
    cache = 65536
    relay = make_relay("ctflive-relayd", "ingest", extra=["--publish", srv.url])
    edge = make_relay("ctflive-relayd", "edge",
                      extra=["--from", srv.url, "--from-cache", str(cache)])
    setup_session(lttng, relay, "cb")
    lttng.run_app(5, 1000, "first")
    h.wait_for(lambda: edge_lists(edge, "cb"), 30, what="session on the edge")
    count = 6000
    app = lttng.spawn_app(count, 300, "main")
    sizes = []

    def stream_files():
        return [p for p in edge.output.rglob("*") if p.is_file() and
                p.parent.name != "index" and p.name != "metadata" and
                not p.name.startswith(".")]
    while app.poll() is None:
        files = stream_files()
        if files:
            by_stream = {}
            for p in files:
                stem = re.sub(r"^(.+_\d+)_\d+$", r"\1", p.name)  # ring files CHAN_CPU_N
                try:
                    size = p.stat().st_size
                except FileNotFoundError:  # the ring deleted it meanwhile
                    continue
                by_stream.setdefault((p.parent, stem), 0)
                by_stream[(p.parent, stem)] += size
            sizes.append(max(by_stream.values()))
        time.sleep(0.2)
    lttng.wait_app(app)
    url = f"net://{h.LOCALHOST}:{edge.ports.live}/host/{HOST}/cb"
    late = Reader([str(h.build_dir() / "src" / "cli" / "ctflive"), "view", url])
    time.sleep(2.0)
    end_sessions(lttng, "cb")
    rc, out, err = late.finish(60)
    assert rc == 0, err[-3000:]
    disk = ctflive("view", str(relay.session_dir("cb")))
    total = disk.stdout.count(" ctflive_sample:")
    got = out.count(" ctflive_sample:")
    # The ring held at most 4 files of cache/4 per stream (a packet more
    # while a file is cut), and the late viewer got the tail only.
    assert sizes and max(sizes) <= cache + 16384, sizes
    assert 0 < got < total, (got, total)
    assert 'ctflive_sample:stop' in out.splitlines()[-1], out[-2000:]


def js_api(port: int, subject: str, payload: bytes = b"") -> dict:
    """One JetStream API request ($JS.API.…) over a plain NATS connection."""
    import json
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()  # INFO
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.ctfl 1\r\n'
                  + f"PUB {subject} _INBOX.ctfl {len(payload)}\r\n".encode() + payload
                  + b"\r\n")
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError("NATS connection closed")
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG"):
                n = int(line.split()[-1])
                return json.loads(f.read(n + 2)[:n])


@pytest.mark.skipif(not LONG, reason="longer variant: set CTFLIVE_NATS_EDGE_LONG=1")
def test_nats_view_consumer_deleted(lttng, make_relay, nats):  # noqa: F811
    """`ctflive view nats://` whose JetStream consumer is deleted mid-session
    (an operator, a server that lost it) goes on from where it was: its
    output equals the relay's copy."""
    (srv,) = nats(1)
    relay = make_relay("ctflive-relayd", "ingest", extra=["--publish", srv.url])
    setup_session(lttng, relay, "cd")
    lttng.run_app(5, 1000, "first")
    h.wait_for(lambda: f"/{HOST}/cd " in ctflive("ls", srv.url).stdout, 30,
               what="session on NATS")
    view = Reader([str(h.build_dir() / "src" / "cli" / "ctflive"), "view",
                   f"{srv.url}/host/{HOST}/cd"])
    app = lttng.spawn_app(4000, 500, "main")
    h.wait_for(lambda: any('name = "main"' in x for _, x in view.lines), 20,
               what="the view printing")
    names = js_api(srv.port, "$JS.API.STREAM.NAMES")["streams"]
    (stream,) = [n for n in names if n.startswith("CTFLIVE_")]
    consumers = js_api(srv.port, f"$JS.API.CONSUMER.NAMES.{stream}")["consumers"]
    assert consumers
    for c in consumers:
        assert js_api(srv.port, f"$JS.API.CONSUMER.DELETE.{stream}.{c}").get("success")
    lttng.wait_app(app)
    end_sessions(lttng, "cd")
    rc, out, err = view.finish(90)
    assert rc == 0, err[-3000:]
    disk = ctflive("view", str(relay.session_dir("cd")))
    assert out == disk.stdout, err[-3000:]
    assert "missing" not in err, err


@pytest.mark.parametrize("behind", [False, True], ids=["late", "behind"])
def test_edge_retention(lttng, make_relay, nats, behind):  # noqa: F811
    """Retention limits (--retain-bytes) with an edge: an edge that finds a
    live session whose first packets JetStream already dropped counts them
    at once (the packet stream's first message, and per data stream the
    first kept packet's packet_seq_num), never waiting for them, and serves
    the retained tail. The live protocol cannot tell a viewer about packets
    before the first one it gets: a late babeltrace2 viewer and `ctflive
    view net://` print the tail with no discarded-packets warning. Packets
    dropped while viewers were attached (the edge stopped while the session
    streams past the limit) are a packet_seq_num gap that babeltrace2 and
    `ctflive view net://` report as discarded packets."""
    (srv,) = nats(1)
    limit = 100_000
    relay = make_relay("ctflive-relayd", "ingest",
                       extra=["--publish", srv.url, "--retain-bytes", str(limit)])
    setup_session(lttng, relay, "er")
    lttng.run_app(3000, 300, "first")
    t0 = time.monotonic()
    edge = start_edge(make_relay, srv.url, "edge")
    h.wait_for(lambda: "dropped by retention before the first one kept" in edge.log(), 20,
               what="the edge counting what retention dropped")
    took = time.monotonic() - t0
    log = edge.log()
    assert took < 10, took  # not after the 35 s wait for missing messages
    assert "dropped by the stream's retention limits" in log, log[-3000:]
    assert re.search(r"\d+ packet\(s\) of stream ust/\S+ dropped by retention before the "
                     r"first one kept \(packet_seq_num \d+\)", log), log[-3000:]
    assert "never found" not in log, log[-3000:]

    url = f"net://{h.LOCALHOST}:{edge.ports.live}/host/{HOST}/er"
    cv = Reader([str(h.build_dir() / "src" / "cli" / "ctflive"), "view", url])
    bt = BtLive(url).start()
    wait_clients(edge, "er", 2)
    lttng.run_app(20, 1000, "seen")
    h.wait_for(lambda: 'name = "seen"' in "".join(x for _, x in cv.lines), 20,
               what="the viewers printing")
    if behind:
        # The edge stops reading while the session streams past the limit.
        os.kill(edge.proc.pid, signal.SIGSTOP)
        try:
            lttng.run_app(GONE, 20, "gone")
            time.sleep(1.0)
        finally:
            os.kill(edge.proc.pid, signal.SIGCONT)
    lttng.run_app(20, 1000, "after")
    time.sleep(1.0)
    end_sessions(lttng, "er")
    rc, out, err = cv.finish(60)
    assert rc == 0, err[-3000:]
    brc, blines, berr = bt.finish(60)
    assert brc == 0, berr[-3000:]
    # The late viewers got the tail: no event of the first run's start, no
    # warning about what came before their first packet.
    first = [l for l in out.splitlines() if 'name = "first"' in l]
    assert len(first) < 3000, len(first)
    assert 'name = "after"' in out and 'name = "after"' in "\n".join(blines)
    assert 'name = "seen"' in out and 'name = "seen"' in "\n".join(blines)
    # A packet published in parts of which retention kept only some (the
    # oldest message kept, or one the edge had begun when it stopped) is
    # dropped whole and logged, never joined with another packet's parts:
    # the viewers above decoded every packet served.
    for line in edge.log().splitlines():
        if "lacks some" in line:
            assert re.search(r"message \d+ of stream ust/\S+ lacks some of its \d+ parts "
                             r"\(retention dropped them, or they were given up\): dropped "
                             r"whole, its packet is lost", line), line
    if not behind:
        return
    # What retention dropped while they were attached: a gap both report.
    gone_cv = len([l for l in out.splitlines() if 'name = "gone"' in l])
    gone_bt = len([l for l in blines if 'name = "gone"' in l])
    assert gone_cv < GONE and gone_bt < GONE, (gone_cv, gone_bt)
    assert re.search(r"WARNING: Tracer discarded \d+ packets? between", err), err[-3000:]
    # ... which the edge counted at once too (the packet stream's jump).
    assert edge.log().count("dropped by the stream's retention limits") >= 2, edge.log()[-3000:]
    assert re.search(r"WARNING: Tracer discarded \d+ (trace )?packets? between",
                     berr + "\n".join(blines)), berr[-3000:]
