#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark of `ctflive follow`: latency from a packet's publication to its
event being printed, and CPU time of a follower while the session is idle.

Starts ctflive-relayd on 127.0.0.1 (ports chosen by the kernel) in a
temporary directory, feeds it with the synthetic producer of the
integration tests (tests/integration/relayd_client.py) and runs the
follower on the session directory. See README.md.

    bench.py [--build DIR] [--packets N] [--idle-seconds S]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))

import relayd_client as rc  # noqa: E402


def start_relay(build: Path, tmp: Path, sync: str) -> tuple[subprocess.Popen, dict]:
    ports = tmp / "ports"
    p = subprocess.Popen([str(build / "src/relayd/ctflive-relayd"), "-o", str(tmp / "out"),
                          "-C", "tcp://127.0.0.1:0", "-D", "tcp://127.0.0.1:0",
                          "-L", "tcp://127.0.0.1:0", "--port-file", str(ports),
                          "--sync", sync],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        if ports.exists():
            vals = dict(line.split() for line in ports.read_text().splitlines())
            return p, {k: int(v) for k, v in vals.items()}
        time.sleep(0.01)
    p.kill()
    raise RuntimeError("ctflive-relayd did not start")


def session(ports: dict, name: str, streams: int):
    c, d = rc.ControlConn(ports["control"]), rc.DataConn(ports["data"])
    c.version()
    rep = c.create_session(rc.enc_create_session_2_11(name, "benchhost", live_timer=100000))
    assert rep.ret_code == rc.LTTNG_OK
    assert c.create_trace_chunk(0, int(time.time())) == rc.LTTNG_OK
    handles = [c.add_stream(f"chan_{i}", "ust/uid/1000/64-bit")[0] for i in range(streams)]
    meta, _ = c.add_stream("metadata", "ust/uid/1000/64-bit")
    assert c.streams_sent() == rc.LTTNG_OK
    c.send_metadata(meta, rc.make_metadata("benchhost"), 0)
    return c, d, handles, meta


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(build: Path, sync: str, streams: int, packets: int, idle: float, grace: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ctfl-bench-") as t:
        tmp = Path(t)
        relay, ports = start_relay(build, tmp, sync)
        fol = None
        try:
            c, d, hs, meta = session(ports, "bench", streams)
            sdir = next((tmp / "out").glob("*/bench*"))
            for _ in range(500):
                if (sdir / ".ctflive-session").exists():
                    break
                time.sleep(0.01)
            fol = subprocess.Popen([str(build / "src/cli/ctflive"), "follow", "--grace",
                                    str(grace), str(sdir)], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=dict(os.environ, TZ="UTC"))
            printed: dict[int, float] = {}

            def reader():
                for line in fol.stdout:
                    if b"index = " in line:
                        k = int(line.rsplit(b"index = ", 1)[1].split(b" ")[0].rstrip(b",}"))
                        printed[k] = time.monotonic()

            th = threading.Thread(target=reader, daemon=True)
            th.start()
            time.sleep(0.5)
            sent: dict[int, float] = {}
            # Event times from the wall clock, as LTTng's (epoch-based) clock.
            for i in range(packets):
                p = rc.make_packet(i, 1, i, ts0=time.time_ns() - i * 1000, packet_bytes=256)
                d.send_packet(hs[0], i, p.data, p.padding)
                assert c.send_index(hs[0], i, p.index) == rc.LTTNG_OK
                sent[i] = time.monotonic()  # the relay acknowledged the index
                time.sleep(0.1)
            time.sleep(grace / 1000 + 0.5)
            cpu0 = cpu_seconds(fol.pid)
            time.sleep(idle)
            cpu_idle = cpu_seconds(fol.pid) - cpu0
            for h in hs:
                c.close_stream(h, packets - 1 if h == hs[0] else rc.U64_MAX)
            c.close_stream(meta, rc.U64_MAX)
            c.close()
            d.close()
            fol.wait(30)
            th.join(5)
            lat = sorted((printed[k] - sent[k]) * 1000 for k in sent if k in printed)
            return {
                "sync": sync, "streams": streams, "grace": grace, "n": len(lat),
                "p50": lat[len(lat) // 2] if lat else float("nan"),
                "p90": lat[int(len(lat) * 0.9)] if lat else float("nan"),
                "max": lat[-1] if lat else float("nan"),
                "idle_cpu_pct": 100 * cpu_idle / idle, "idle_s": idle,
            }
        finally:
            if fol and fol.poll() is None:
                fol.kill()
                fol.wait()
            relay.terminate()
            relay.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(HERE.parents[1] / "build"))
    ap.add_argument("--packets", type=int, default=30)
    ap.add_argument("--idle-seconds", type=float, default=5.0)
    a = ap.parse_args()
    build = Path(a.build)
    rows = [run(build, sync, streams, a.packets, a.idle_seconds, grace)
            for sync, streams, grace in (("data", 1, 1000), ("none", 1, 1000),
                                         ("data", 2, 1000), ("data", 2, 200))]
    print("| relay --sync | streams (idle) | --grace ms | packets | latency p50 ms "
          "| p90 ms | max ms | idle CPU % (over s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sync']} | {r['streams']} ({r['streams'] - 1}) | {r['grace']} | {r['n']} "
              f"| {r['p50']:.1f} | {r['p90']:.1f} | {r['max']:.1f} "
              f"| {r['idle_cpu_pct']:.3f} ({r['idle_s']:.0f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
