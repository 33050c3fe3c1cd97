#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scale benchmark of ctflive-relayd's live server: many streams in one live
session, many viewers attached to it, every viewer must get every packet.

1. A producer (the relayd protocol client of tests/integration) creates one
   live session with --streams data streams and their metadata stream.
2. --viewers viewers (the live protocol client of tests/integration, each its
   own connection) attach with seek BEGINNING.
3. The producer sends --packets packets per stream (SEND_INDEX pipelined),
   then closes every stream; meanwhile the viewers pull: GET_NEXT_INDEX for
   every unfinished stream, GET_PACKET for each OK, until HUP on every
   stream. Requests are pipelined in windows (the relay answers in order).
4. Every viewer checks it got exactly the packets sent, byte for byte, in
   order, for every stream.

Reports the relay's VmRSS (/proc/PID/status) before the session, after the
streams were created, after the viewers attached and at the end, with the
cost per stream and per viewer, the time of each phase, and the peak VmRSS
and descriptors of each phase (sampled every 100 ms). The relay runs with
RLIMIT_NOFILE set to --nofile (default 131072); past its limit it parks idle
streams' files. Not a test: run it by hand (about 3 minutes for 10 000
streams x 100 viewers on 2 cores).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))

import live_client as lc  # noqa: E402
import relayd_client as rc  # noqa: E402

TIMER_US = 100000
PATH = "ust/uid/1000/64-bit"


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def hwm_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Peaks(threading.Thread):
    """Samples the relay's open descriptors and VmRSS every 100 ms and keeps
    the maxima: over the whole run and since the last take()."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop, self.lock = pid, threading.Event(), threading.Lock()
        self.fds = self.rss = self.phase_fds = self.phase_rss = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                n, r = fds(self.pid), rss_kib(self.pid)
            except OSError:
                return
            with self.lock:
                self.fds, self.rss = max(self.fds, n), max(self.rss, r)
                self.phase_fds, self.phase_rss = max(self.phase_fds, n), max(self.phase_rss, r)
            self.stop.wait(0.1)

    def take(self, n: int, r: int) -> tuple[int, int]:
        with self.lock:
            out = max(self.phase_fds, n), max(self.phase_rss, r)
            self.phase_fds = self.phase_rss = 0
        return out


def packet(stream_idx: int, seq: int, events: int, size: int) -> rc.Packet:
    return rc.make_packet(seq * events, events, seq, cpu=stream_idx, packet_bytes=size)


def expected_bytes(stream_idx: int, seq: int, events: int, size: int) -> bytes:
    p = packet(stream_idx, seq, events, size)
    return p.data + bytes(p.padding)


# ---- relay -------------------------------------------------------------------


class Relay:
    def __init__(self, binary: str, out: Path, nofile: int, extra: list[str]):
        self.out = out
        port_file = out / "ports"
        def limits():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(
            [binary, "-o", str(out / "traces"), "-C", "tcp://127.0.0.1:0",
             "-D", "tcp://127.0.0.1:0", "-L", "tcp://127.0.0.1:0",
             "--port-file", str(port_file), *extra],
            preexec_fn=limits, stdout=subprocess.DEVNULL, stderr=open(out / "relay.log", "w"))
        deadline = time.monotonic() + 10
        while not port_file.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("relay did not start: " + (out / "relay.log").read_text())
            time.sleep(0.02)
        ports = dict(line.split() for line in port_file.read_text().splitlines())
        self.control, self.data, self.live = (int(ports[k]) for k in ("control", "data", "live"))
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- producer ----------------------------------------------------------------


class Producer:
    def __init__(self, relay: Relay, name: str, n_streams: int):
        self.c = rc.ControlConn(relay.control, timeout=120)
        self.d = rc.DataConn(relay.data, timeout=120)
        assert self.c.version()[0] == 2
        rep = self.c.create_session(rc.enc_create_session_2_11(name, "scalehost",
                                                               live_timer=TIMER_US))
        assert rep.ret_code == rc.LTTNG_OK, rep
        assert self.c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        self.handles = []
        for i in range(n_streams):
            h, ret = self.c.add_stream(f"chan_{i}", PATH)
            assert ret == rc.LTTNG_OK, (i, ret)
            self.handles.append(h)
        self.meta, ret = self.c.add_stream("metadata", PATH)
        assert ret == rc.LTTNG_OK
        assert self.c.streams_sent() == rc.LTTNG_OK
        self.c.send_metadata(self.meta, rc.make_metadata("scalehost"), 0)

    def send(self, packets: int, events: int, size: int) -> None:
        """All packets, round by round over the streams; SEND_INDEX replies
        read in windows (pipelined)."""
        window = 512
        for seq in range(packets):
            pending = 0
            for i, h in enumerate(self.handles):
                p = packet(i, seq, events, size)
                self.d.send_packet(h, seq, p.data, p.padding)
                self.c.send(rc.SEND_INDEX, rc.enc_send_index(h, seq, p.index, self.c.minor))
                pending += 1
                if pending == window:
                    self._replies(pending)
                    pending = 0
            self._replies(pending)

    def _replies(self, n: int) -> None:
        buf = rc.recv_exact(self.c.sock, 4 * n)
        bad = [x for (x,) in struct.iter_unpack(">I", buf) if x != rc.LTTNG_OK]
        assert not bad, bad[:5]

    def close_streams(self, packets: int) -> None:
        for h in self.handles:
            assert self.c.close_stream(h, packets - 1) == rc.LTTNG_OK
        assert self.c.close_stream(self.meta, rc.U64_MAX) == rc.LTTNG_OK

    def close(self) -> None:
        self.c.close()
        self.d.close()


# ---- viewers -------------------------------------------------------------------


GNI = lc.HDR.pack(8, lc.GET_NEXT_INDEX, 0)
GP = lc.HDR.pack(lc.GET_PACKET_S.size, lc.GET_PACKET, 0)


class Viewer:
    def __init__(self, port: int, session_name: str):
        self.conn = lc.LiveConn(port, timeout=300)
        self.conn.connect()
        self.conn.create_session()
        s = lc.find_session(self.conn, session_name)
        status, streams = self.conn.attach(s.id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_OK, status
        self.meta = next(x.id for x in streams if x.metadata)
        # stream handle -> index of the stream (its cpu_id in the packets)
        self.streams = {x.id: int(x.channel.rsplit("_", 1)[1]) for x in streams
                        if not x.metadata}
        self.got: dict[int, list[bytes]] = {h: [] for h in self.streams}
        self.open = set(self.streams)
        self.requests = 0

    def metadata(self) -> bytes:
        got = b""
        while True:
            st, part = self.conn.get_metadata(self.meta)
            if st != lc.METADATA_OK:
                return got
            got += part

    def round(self, window: int = 256) -> None:
        """One GET_NEXT_INDEX per open stream, then one GET_PACKET per OK."""
        sock = self.conn.sock
        order = sorted(self.open)
        oks = []
        for at in range(0, len(order), window):
            part = order[at:at + window]
            sock.sendall(b"".join(GNI + struct.pack(">Q", h) for h in part))
            buf = lc.recv_exact(sock, lc.INDEX_S.size * len(part))
            self.requests += len(part)
            for h, rep in zip(part, lc.INDEX_S.iter_unpack(buf)):
                ix = lc.Index(*rep)
                if ix.status == lc.INDEX_OK:
                    oks.append((h, ix.offset, ix.packet_size // 8))
                elif ix.status == lc.INDEX_HUP:
                    self.open.discard(h)
                elif ix.status not in (lc.INDEX_RETRY, lc.INDEX_INACTIVE):
                    raise AssertionError(f"stream {h}: index status {ix.status}")
        for at in range(0, len(oks), window):
            part = oks[at:at + window]
            sock.sendall(b"".join(GP + lc.GET_PACKET_S.pack(h, off, n) for h, off, n in part))
            self.requests += len(part)
            for h, _off, n in part:
                status, ln, _flags = lc.PACKET_REP.unpack(lc.recv_exact(sock, lc.PACKET_REP.size))
                assert status == lc.PACKET_OK and ln == n, (h, status, ln, n)
                self.got[h].append(lc.recv_exact(sock, n))


def viewer_worker(port: int, name: str, count: int, args, ready, go, out) -> None:
    try:
        viewers = []
        for _ in range(count):
            viewers.append(Viewer(port, name))
        meta = [v.metadata() for v in viewers]
        assert all(m == rc.make_metadata("scalehost") for m in meta)
        ready.put(len(viewers))
        go.wait()
        t0 = time.monotonic()
        while any(v.open for v in viewers):
            for v in viewers:
                if v.open:
                    v.round()
        elapsed = time.monotonic() - t0
        # Check: every viewer, every stream, every packet, byte for byte, in order.
        expect: dict[int, list[bytes]] = {}
        bad = 0
        for v in viewers:
            for h, idx in v.streams.items():
                if idx not in expect:
                    expect[idx] = [expected_bytes(idx, s, args.events, args.packet_bytes)
                                   for s in range(args.packets)]
                if v.got[h] != expect[idx]:
                    bad += 1
        out.put(("ok", count, len(viewers[0].streams) if viewers else 0, bad,
                 sum(v.requests for v in viewers), elapsed))
    except BaseException as e:  # reported by the parent
        ready.put(-1)
        out.put(("error", repr(e)))


# ---- main -------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--packets", type=int, default=2, help="packets per stream")
    ap.add_argument("--events", type=int, default=4, help="events per packet")
    ap.add_argument("--packet-bytes", type=int, default=256)
    ap.add_argument("--procs", type=int, default=4, help="viewer processes")
    ap.add_argument("--nofile", type=int, default=131072, help="relay's RLIMIT_NOFILE")
    ap.add_argument("--sync", default="data", choices=("data", "none"))
    ap.add_argument("--relay", help="ctflive-relayd binary (default: BUILD/src/relayd/...)")
    ap.add_argument("--build-dir", default=os.environ.get("CTFLIVE_BUILD_DIR", "build/dev"))
    ap.add_argument("--keep", action="store_true", help="keep the output directory")
    args = ap.parse_args()
    binary = args.relay or str(Path(args.build_dir) / "src" / "relayd" / "ctflive-relayd")
    out = Path(tempfile.mkdtemp(prefix="ctfl-scale-"))
    relay = Relay(binary, out, args.nofile, ["--sync", args.sync])
    rows = []
    peak = Peaks(relay.pid)
    peak.start()
    hwm = 0
    t = time.monotonic()

    def mark(what: str) -> None:
        nonlocal t
        now = time.monotonic()
        rss, nfd = rss_kib(relay.pid), fds(relay.pid)
        pfd, prss = peak.take(nfd, rss)
        rows.append((what, rss, nfd, now - t, prss, pfd))
        print(f"[{what}] RSS {rows[-1][1]} KiB, {rows[-1][2]} fds, {now - t:.1f} s",
              file=sys.stderr)
        t = now

    try:
        time.sleep(0.2)
        mark("relay started")
        prod = Producer(relay, "scale", args.streams)
        mark(f"{args.streams} streams created")
        ctx = mp.get_context("fork")
        ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = []
        per = [args.viewers // args.procs + (i < args.viewers % args.procs)
               for i in range(args.procs)]
        for n in per:
            if n:
                p = ctx.Process(target=viewer_worker,
                                args=(relay.live, "scale", n, args, ready, go, results))
                p.start()
                procs.append(p)
        for _ in procs:
            if ready.get(timeout=1800) < 0:
                raise RuntimeError(results.get()[1])
        mark(f"{args.viewers} viewers attached")
        go.set()
        prod.send(args.packets, args.events, args.packet_bytes)
        prod.close_streams(args.packets)
        mark(f"{args.packets} packets/stream sent, streams closed")
        res = [results.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join(60)
        mark("every viewer at HUP on every stream")
        hwm = hwm_kib(relay.pid)
        prod.close()
    finally:
        peak.stop.set()
        relay.stop()
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    errors = [r for r in res if r[0] != "ok"]
    if errors:
        print(f"viewer errors: {errors}", file=sys.stderr)
        return 1
    bad = sum(r[3] for r in res)
    n_viewers = sum(r[1] for r in res)
    streams_seen = {r[2] for r in res}
    reqs = sum(r[4] for r in res)
    base, after_streams, after_view = rows[0][1], rows[1][1], rows[2][1]
    print(f"\n{args.streams} streams x {args.packets} packets of {args.packet_bytes} bytes, "
          f"{n_viewers} viewers in {len(procs)} processes, --sync {args.sync}, "
          f"relay RLIMIT_NOFILE {args.nofile}\n")
    print("| phase (until) | relay VmRSS (KiB) | relay fds | phase time (s) "
          "| peak VmRSS in phase (KiB) | peak fds in phase |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, rss, nfd, dt, prss, pfd in rows:
        print(f"| {what} | {rss} | {nfd} | {dt:.1f} | {prss} | {pfd} |")
    print(f"\nper stream: {(after_streams - base) * 1024 / args.streams:.0f} bytes of RSS; "
          f"per viewer (of {args.streams} streams): "
          f"{(after_view - after_streams) * 1024 / max(n_viewers, 1):.0f} bytes "
          f"({(after_view - after_streams) * 1024 / max(n_viewers, 1) / args.streams:.0f} "
          f"per viewer stream)")
    print(f"relay peak: VmHWM {hwm} KiB; sampled every 100 ms: VmRSS {peak.rss} KiB, "
          f"{peak.fds} fds")
    print(f"viewers saw {streams_seen} data streams each; {reqs} requests; "
          f"viewer streams with missing or wrong packets: {bad}")
    ok = bad == 0 and streams_seen == {args.streams} and n_viewers == args.viewers
    print("NO LOSS" if ok else "LOSS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
