#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What ctflive-relayd holds under two kinds of load (see README.md):

    bench.py rss [--relayd PATH] [--viewers N] [--packet-mib M]
        RSS of the relay while N live viewers ask for one M MiB packet each
        at once and read nothing.
    bench.py fds [--relayd PATH] [--streams N] [--nofile L] [--rounds R]
        one session of N streams, R packets each, under a limit of L
        descriptors (soft and hard): how far it gets, and the relay's
        descriptors at the end of the rounds.

The relay runs on 127.0.0.1 (ports chosen by the kernel) in a temporary
directory, fed by the synthetic producer of the integration tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))

import live_client as lc  # noqa: E402
import relayd_client as rc  # noqa: E402


class Relay:
    def __init__(self, exe: str, nofile: int | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="relayd-limits-"))
        pf = self.dir / "ports"
        pre = None
        if nofile:
            def pre():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.log = open(self.dir / "log", "wb")
        self.p = subprocess.Popen(
            [exe, "-o", str(self.dir / "out"), "-C", "tcp://127.0.0.1:0",
             "-D", "tcp://127.0.0.1:0", "-L", "tcp://127.0.0.1:0", "--port-file", str(pf)],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, preexec_fn=pre)
        deadline = time.monotonic() + 10
        while not pf.exists():
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the relay did not start")
            time.sleep(0.05)
        ports = dict(line.split() for line in pf.read_text().splitlines())
        self.control, self.data, self.live = (int(ports[k]) for k in ("control", "data", "live"))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.p.pid}/fd"))

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_rss(args) -> None:
    size = args.packet_mib << 20
    r = Relay(args.relayd)
    viewers = []
    try:
        g = rc.GoodSession(r.control, r.data, name="huge", packets=1,
                           live_timer=100000).setup()
        pk = rc.make_packet(0, 50, 0, packet_bytes=size)
        g.d.send_packet(g.data_h, 0, pk.data, pk.padding)
        g.c.send_index(g.data_h, 0, pk.index)
        for _ in range(args.viewers):
            v = lc.LiveConn(r.live)
            v.connect()
            v.create_session()
            _st, streams = v.attach(lc.find_session(v, "huge").id, lc.SEEK_BEGINNING)
            sid = next(s.id for s in streams if not s.metadata)
            while v.get_next_index(sid).status != lc.INDEX_OK:
                time.sleep(0.02)
            viewers.append((v, sid))
        base = r.rss_kib()
        statuses = []
        for v, sid in viewers:
            v.send(lc.GET_PACKET, lc.enc_get_packet(sid, 0, size))
            statuses.append(lc.PACKET_REP.unpack(v.recv(lc.PACKET_REP.size))[0])
        time.sleep(0.5)
        print(f"{args.viewers} viewers x {args.packet_mib} MiB packet, not read: relay RSS "
              f"{base} KiB before the requests, {r.rss_kib()} KiB after; replies OK "
              f"{statuses.count(lc.PACKET_OK)}, RETRY {statuses.count(lc.PACKET_RETRY)}; "
              f"{r.fds()} descriptors")
    finally:
        for v, _sid in viewers:
            v.close()
        r.stop()


def bench_fds(args) -> None:
    r = Relay(args.relayd, args.nofile)
    try:
        c, d = rc.ControlConn(r.control), rc.DataConn(r.data)
        c.version()
        c.create_session(rc.enc_create_session_2_11("fds", "fdhost", live_timer=100000))
        c.create_trace_chunk(0, int(time.time()))
        handles = []
        for i in range(args.streams):
            hnd, ret = c.add_stream(f"chan_{i}", "ust/uid/1000/64-bit")
            if ret != rc.LTTNG_OK:
                print(f"ADD_STREAM refused at stream {i} (limit {args.nofile})")
                return
            handles.append(hnd)
        meta, _ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
        c.streams_sent()
        c.send_metadata(meta, rc.make_metadata("fdhost"), 0)
        t0 = time.monotonic()
        for rnd in range(args.rounds):
            for i, hnd in enumerate(handles):
                pk = rc.make_packet(rnd * 2, 2, rnd, cpu=i)
                d.send_packet(hnd, rnd, pk.data, pk.padding)
                if c.send_index(hnd, rnd, pk.index) != rc.LTTNG_OK:
                    print(f"SEND_INDEX refused: round {rnd}, stream {i}")
                    return
        print(f"{args.streams} streams x {args.rounds} packets under a limit of "
              f"{args.nofile}: {time.monotonic() - t0:.2f} s, {r.fds()} descriptors open")
        c.close()
        d.close()
    finally:
        r.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("rss", "fds"))
    ap.add_argument("--relayd", default=str(HERE.parents[1] / "build" / "dev" / "src" /
                                            "relayd" / "ctflive-relayd"))
    ap.add_argument("--viewers", type=int, default=8)
    ap.add_argument("--packet-mib", type=int, default=64)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--nofile", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    (bench_rss if args.what == "rss" else bench_fds)(args)


if __name__ == "__main__":
    main()
