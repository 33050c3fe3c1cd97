#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""NATS JetStream scale-out benchmark (doc/nats.md): what publishing costs an
ingest relay, what an edge relay costs, and the latency an edge adds. See
README.md.

1. Cost. A real LTTng 2.13 live session (64 sub-buffers of 1 MiB, so that the tracer rarely discards) with the sample
   program emitting as fast as it can, into ctflive-relayd without, then
   with --publish (one nats-server on this machine), with an edge relay
   (--from) following it. CPU seconds (utime + stime, /proc/PID/stat) of the
   ingest relay, nats-server and the edge per GB of trace data.

2. Latency. Events at a steady rate into a live session of an ingest relay
   with --publish; two babeltrace2 live viewers (--clock-seconds,
   line-buffered) attached before the start: one on the ingest relay, one
   on the edge. For every event, latency = wall-clock time its line was
   read - its timestamp; the edge's minus the ingest relay's is what the
   path relay -> JetStream -> edge adds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))
sys.path.insert(0, str(HERE.parent / "live"))

import live_support as ls  # noqa: E402
import lttng_harness as h  # noqa: E402
from bench_live import TS_RE, pct  # noqa: E402
from test_nats import NatsServer  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def data_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*")
               if p.is_file() and p.parent.name != "index" and p.name != "metadata"
               and not p.name.startswith("."))


def edge_lists(edge, name: str) -> bool:
    import subprocess
    r = subprocess.run([ls.ctflive_cli(), "ls", f"net://{h.LOCALHOST}:{edge.ports.live}",
                        "--timeout", "2000"], capture_output=True, text=True, timeout=30)
    return f"/{name} " in r.stdout


def cost_run(ws, lt, nats, mode: str, events: int, i: int) -> dict:
    relay = h.RELAY_KINDS["ctflive-relayd"](ws, f"cost{i}-{mode}")
    extra = ["--publish", nats.url] if mode != "local" else []
    relay.start(extra=extra)
    edge = None
    if mode == "publish+edge":
        edge = h.RELAY_KINDS["ctflive-relayd"](ws, f"edge{i}")
        edge.start(extra=["--from", nats.url, "--from-cache", str(1 << 30)])
    name = f"c{i}"
    try:
        ls.setup_session(lt, relay, name, subbuf_size=1 << 20, num_subbuf=64)
        lt.run_app(1, 0, "first")
        if edge:
            h.wait_for(lambda: edge_lists(edge, name), 30, what="session on the edge")
        c0 = {"relay": cpu_seconds(relay.proc.pid), "nats": cpu_seconds(nats.proc.pid),
              "edge": cpu_seconds(edge.proc.pid) if edge else 0.0}
        t0 = time.monotonic()
        lt.run_app(events, 0, "cost", timeout=600)
        ls.end_sessions(lt, name)
        # The edge has everything once the session ended there.
        if edge:
            h.wait_for(lambda: not edge_lists(edge, name), 120, what="session end on the edge")
        else:
            time.sleep(1.0)
        wall = time.monotonic() - t0
        c1 = {"relay": cpu_seconds(relay.proc.pid), "nats": cpu_seconds(nats.proc.pid),
              "edge": cpu_seconds(edge.proc.pid) if edge else 0.0}
        gb = data_bytes(relay.session_dir(name)) / 1e9
        return {"gb": gb, "wall": wall, **{k: (c1[k] - c0[k]) / gb for k in c0}}
    finally:
        relay.stop()
        if edge:
            edge.stop()


def latency_run(ws, lt, nats, args) -> dict:
    relay = h.RELAY_KINDS["ctflive-relayd"](ws, "lat-ingest")
    relay.start(extra=["--publish", nats.url])
    edge = h.RELAY_KINDS["ctflive-relayd"](ws, "lat-edge")
    edge.start(extra=["--from", nats.url])
    name = "lat"
    viewers = {}
    try:
        ls.setup_session(lt, relay, name, timer_us=args.timer_us, subbuf_size=65536,
                         num_subbuf=8)
        lt.run_app(1, 0, "first")
        h.wait_for(lambda: edge_lists(edge, name), 30, what="session on the edge")
        for label, r in (("ingest", relay), ("edge", edge)):
            viewers[label] = ls.BtLive(f"net://{h.LOCALHOST}:{r.ports.live}/host/{ls.HOST}/{name}",
                                       extra=["--clock-seconds"],
                                       prefix=["stdbuf", "-oL"]).start()
        for r in (relay, edge):
            ls.wait_clients(r, name)
        lt.run_app(args.lat_events, args.lat_interval_us, "lat", timeout=300)
        time.sleep(3 * args.timer_us / 1e6)
        ls.end_sessions(lt, name)
        out = {}
        for label, v in viewers.items():
            rc, _lines, err = v.finish(60)
            if rc != 0:
                raise RuntimeError(f"{label} viewer failed: {err[-1000:]}")
            lat = []
            for tl in v.lines:
                m = TS_RE.match(tl.line)
                if m and 'name = "lat"' in tl.line and "ctflive_sample:tick" in tl.line:
                    lat.append((tl.t - float(m.group(1))) * 1000)
            out[label] = lat
        return out
    finally:
        for v in viewers.values():
            v.stop()
        relay.stop()
        edge.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1000000,
                    help="events of each cost run (about 100 bytes each)")
    ap.add_argument("--timer-us", type=int, default=100000, help="live timer (default 100 ms)")
    ap.add_argument("--lat-events", type=int, default=2500)
    ap.add_argument("--lat-interval-us", type=int, default=2000)
    ap.add_argument("--build-dir", help="build tree (default: $CTFLIVE_BUILD_DIR or ./build)")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["CTFLIVE_BUILD_DIR"] = args.build_dir
    h.set_child_subreaper()
    ws = h.Workspace(h.test_user(), prefix="ctfl-bench-")
    lt = h.Lttng(ws)
    nats = NatsServer(ws, "nats")
    cost = {}
    try:
        lt.start()
        nats.start(max_payload=1 << 20)
        nats.wait_listening()
        time.sleep(1.0)
        for i, mode in enumerate(("local", "publish", "publish+edge")):
            cost[mode] = cost_run(ws, lt, nats, mode, args.events, i)
            print(f"{mode}: done", file=sys.stderr)
        lat = latency_run(ws, lt, nats, args)
    finally:
        nats.stop()
        lt.stop()
        ws.cleanup(failed=False)
    print("\n| run | GB | wall (s) | ingest relay CPU-s/GB | nats-server CPU-s/GB "
          "| edge CPU-s/GB |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, c in cost.items():
        print(f"| {mode} | {c['gb']:.3f} | {c['wall']:.1f} | {c['relay']:.2f} "
              f"| {c['nats']:.2f} | {c['edge']:.2f} |")
    print("\n| viewer on | events | latency p50 (ms) | p90 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|")
    for label, v in lat.items():
        print(f"| {label} | {len(v)} | {pct(v, 50):.1f} | {pct(v, 90):.1f} | {pct(v, 99):.1f} |")
    print(f"\nadded by the edge: p50 {pct(lat['edge'], 50) - pct(lat['ingest'], 50):.1f} ms, "
          f"p99 {pct(lat['edge'], 99) - pct(lat['ingest'], 99):.1f} ms "
          f"(live timer {args.timer_us / 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
