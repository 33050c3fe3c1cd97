#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live viewing benchmark: ctflive-relayd (--sync data, --sync none) and
lttng-relayd under the same load, with a real lttng-sessiond 2.13 and
babeltrace2 2.0.4. See README.md.

Two measurements per relay, one relay at a time (same machine, same
program, same session settings):

1. Latency. The sample program emits events at a steady rate into a live
   session; `babeltrace2 -i lttng-live --clock-seconds` (line-buffered) is
   attached before it starts. For every event: latency = wall-clock time the
   line was read from babeltrace2's stdout - the event's timestamp. Events
   wait up to one live-timer period in the tracer's buffer by design, so we
   also report the part beyond the timer: lines come out in bursts (one per
   flushed packet batch); for each burst, time of its first line - timestamp
   of its newest event (emitted just before the flush).

2. Throughput. The program emits N events as fast as it can; a protocol
   client (tests/integration/live_client.py, seek BEGINNING, attached before
   the start) pulls only indexes. We time from the program's start to the
   moment every packet on disk has been announced to the viewer (the sum of
   announced packet sizes equals the size of the data files after
   `lttng stop`), i.e. "ingested, synced if the policy says so, and
   published".
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))

import live_client as lc  # noqa: E402
import live_support as ls  # noqa: E402
import lttng_harness as h  # noqa: E402

TS_RE = re.compile(r"^\[(\d+\.\d+)\]")
TRACE_RE = re.compile(r"^live-trace \S+ reply stream=\d+ status=\d+ ts_end=(\d+)$", re.M)
# (label, relay kind, relay options, CTFLIVE_RELAYD_HOLD_MS or None)
def configs(holds):
    out = []
    for label, extra in (("--sync data", ()), ("--sync none", ("--sync", "none"))):
        out.append((f"ctflive-relayd {label}", "ctflive-relayd", extra, None))
        for ms in holds:
            out.append((f"ctflive-relayd {label}, hold {ms} ms", "ctflive-relayd", extra, ms))
    out.append(("lttng-relayd 2.13", "lttng-relayd", (), None))
    return out


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


class CtfliveView(ls.BtLive):
    """`ctflive view net://...` in place of babeltrace2 (it flushes its output
    whenever the relay has nothing more yet)."""

    def start(self):
        import subprocess
        argv = [ls.ctflive_cli(), "view", *self.extra, self.url]
        # each index reply on stderr, stamped: the tracer's flush times
        env = dict(ls.env(), CTFLIVE_LIVE_TRACE="1")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self


def latency_run(lt, relay, name, args):
    ls.setup_session(lt, relay, name, timer_us=args.timer_us, subbuf_size=65536,
                     num_subbuf=8)
    bts = []
    try:
        for _ in range(args.viewers):
            if args.viewer == "ctflive":
                bts.append(CtfliveView(ls.live_url(relay, name),
                                       extra=["--clock-seconds"]).start())
            else:
                # Line-buffered stdout, or lines would sit in babeltrace2's stdio buffer.
                # babeltrace2-sid: 2.1.2 from the cached Debian sid root
                # (tests/integration/sidroot.py), chrooted; the network is the host's.
                root = ["chroot", args.sid_root] if args.viewer == "babeltrace2-sid" else []
                bts.append(ls.BtLive(ls.live_url(relay, name), extra=["--clock-seconds"],
                                     prefix=[*root, "stdbuf", "-oL"]).start())
        ls.wait_clients(relay, name, n=args.viewers)
        lt.run_app(args.lat_events, args.lat_interval_us, "lat", timeout=120)
        time.sleep(3 * args.timer_us / 1e6)
        lt.stop_session(name)
        lt.destroy(name)
        results = [bt.finish(60) for bt in bts]
    finally:
        for bt in bts:
            bt.stop()
    if args.dump:
        # Raw material for latency analysis: each viewer's stderr (with
        # CTFLIVE_LIVE_TRACE lines for ctflive view) and stamped lines.
        os.makedirs(args.dump, exist_ok=True)
        with open(os.path.join(args.dump, f"{name}.txt"), "w") as f:
            for bt in bts:
                f.write(bt.err)
                for tl in bt.lines:
                    f.write(f"LINE {tl.t:.6f} {tl.line}\n")
    for rc, _lines, err in results:
        if rc != 0:
            raise RuntimeError(f"{args.viewer} viewer failed: {err[-1000:]}")
    lat, extra, n = [], [], 0
    for bt in bts:
        events = []
        for tl in bt.lines:
            m = TS_RE.match(tl.line)
            if m and "ctflive_sample:tick" in tl.line:
                events.append((tl.t, float(m.group(1))))
        n += len(events)
        lat += [(t - ts) * 1000 for t, ts in events]
        # Bursts: consecutive lines read less than 5 ms apart.
        burst: list[tuple[float, float]] = []
        for e in events + [(float("inf"), 0.0)]:
            if burst and e[0] - burst[-1][0] > 0.005:
                extra.append((burst[0][0] - max(ts for _t, ts in burst)) * 1000)
                burst = []
            burst.append(e)
    return {"n": n, "lat": lat, "extra": extra,
            "ticks": [x for bt in bts for x in tick_intervals(bt.err)]}


def tick_intervals(err: str) -> list[float]:
    """Intervals (ms) between the tracer's live-timer flushes, from the
    timestamp_end of the index replies `ctflive view` traced
    (CTFLIVE_LIVE_TRACE): every tick flushes each stream (a packet or a
    beacon) within a few ms, so the union of those times over the streams,
    grouped, gives the consumer's tick times. Empty for other viewers."""
    ends = sorted({int(m.group(1)) for m in TRACE_RE.finditer(err)} - {0})
    ticks: list[int] = []
    for t in ends:
        if not ticks or t - ticks[-1] > 5_000_000:
            ticks.append(t)
    return [(b - a) / 1e6 for a, b in zip(ticks, ticks[1:])]


def throughput_run(lt, relay, name, args):
    # Buffers large enough to hold the whole run: the tracer never discards,
    # and what is timed is the consumer -> relay -> viewer pipeline draining.
    ls.setup_session(lt, relay, name, timer_us=args.timer_us, subbuf_size=1 << 20,
                     num_subbuf=64)
    viewer = lc.LiveViewer(relay.ports.live, name, seek=lc.SEEK_BEGINNING).open()
    announced = [0]
    last_ok = [0.0]
    stop = threading.Event()

    def pull():
        while not stop.is_set():
            if not viewer.live:
                viewer.new_streams()
                viewer.fetch_metadata()
            got = False
            for sid in sorted(viewer.live):
                ix = viewer.conn.get_next_index(sid)
                if ix.flags & lc.FLAG_NEW_STREAM:
                    viewer.new_streams()
                if ix.flags & lc.FLAG_NEW_METADATA:
                    viewer.fetch_metadata()
                if ix.status == lc.INDEX_OK:
                    announced[0] += ix.packet_size // 8
                    last_ok[0] = time.monotonic()
                    got = True
                elif ix.status == lc.INDEX_HUP:
                    viewer.live.discard(sid)
            if not got:
                time.sleep(0.002)

    th = threading.Thread(target=pull, daemon=True)
    th.start()
    try:
        ls.wait_clients(relay, name)
        t0 = time.monotonic()
        lt.run_app(args.tp_events, 0, "tp", timeout=120)
        t_app = time.monotonic() - t0
        ts = time.monotonic()
        lt.stop_session(name)
        t_stop = time.monotonic() - ts
        sdir = relay.session_dir(name)
        total = sum(p.stat().st_size for p in sdir.rglob("*")
                    if p.is_file() and p.parent.name != "index" and p.name != "metadata"
                    and not p.name.startswith("."))
        h.wait_for(lambda: announced[0] >= total, 60, interval=0.002,
                   what="every packet announced to the viewer")
        t_pub = last_ok[0] - t0
        stop.set()
        th.join(10)
        lt.destroy(name)
    finally:
        stop.set()
        viewer.close()
    bt = h.babeltrace(sdir, extra=["--no-delta"])
    n = sum("ctflive_sample:tick" in x for x in bt.lines)
    discarded = "discarded" in bt.err
    return {"events": n, "bytes": total, "t_app": t_app, "t_stop": t_stop, "t_pub": t_pub,
            "discarded": discarded}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timer-us", type=int, default=100000, help="live timer (default 100 ms)")
    ap.add_argument("--lat-events", type=int, default=2500)
    ap.add_argument("--lat-interval-us", type=int, default=2000)
    ap.add_argument("--tp-events", type=int, default=1000000)
    ap.add_argument("--latency-only", action="store_true", help="skip the throughput runs")
    ap.add_argument("--viewer", choices=("babeltrace2", "babeltrace2-sid", "ctflive"),
                    default="babeltrace2",
                    help="latency viewer: babeltrace2 -i lttng-live (the host's, or 2.1.2 "
                         "in the sid root) or ctflive view")
    ap.add_argument("--sid-root", default="/var/cache/ctflive-tests/sid-root",
                    help="Debian sid root with babeltrace2 2.1.2 (--viewer babeltrace2-sid)")
    ap.add_argument("--viewers", type=int, default=1,
                    help="viewers on the one session (lttng-relayd 2.13 takes one: skipped)")
    ap.add_argument("--no-lttng-relayd", action="store_true", help="ctflive-relayd only")
    ap.add_argument("--hold-ms", default="",
                    help="comma-separated CTFLIVE_RELAYD_HOLD_MS values also run "
                         "(milliseconds, or 'timer': the live timer + 10 %%)")
    ap.add_argument("--dump", help="directory: write each latency run's viewer output "
                                    "(stamped lines, stderr) there")
    ap.add_argument("--build-dir", help="build tree (default: $CTFLIVE_BUILD_DIR or ./build)")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["CTFLIVE_BUILD_DIR"] = args.build_dir
    missing = h.missing_tools()
    if missing or not h.have_ctflive_relayd() or not h.sample_app_path().exists():
        print(f"missing: {missing or ''} {h.ctflive_relayd_path()} {h.sample_app_path()}",
              file=sys.stderr)
        return 2
    h.set_child_subreaper()
    ws = h.Workspace(h.test_user(), prefix="ctfl-bench-")
    lt = h.Lttng(ws)
    rows = []
    t_start = time.monotonic()
    try:
        lt.start()
        holds = [x for x in args.hold_ms.split(",") if x]
        for i, (label, kind, extra, hold) in enumerate(configs(holds)):
            if kind == "lttng-relayd" and (args.viewers > 1 or args.no_lttng_relayd):
                continue
            # A fresh relay per run: lttng-relayd 2.13 misbehaves with a
            # second live session after the first was destroyed.
            res = []
            runs = [("lat", latency_run)]
            if not args.latency_only:
                runs.append(("tp", throughput_run))
            for run, fn in runs:
                relay = h.RELAY_KINDS[kind](ws, f"{run}{i}")
                # Held viewer requests (the relay's environment, see the harness).
                os.environ.pop("CTFLIVE_RELAYD_HOLD_MS", None)
                if hold is not None:
                    os.environ["CTFLIVE_RELAYD_HOLD_MS"] = hold
                relay.start(extra=extra)
                try:
                    res.append(fn(lt, relay, f"{run}{i}", args))
                finally:
                    relay.stop()
            lat, tp = res[0], (res[1] if len(res) > 1 else None)
            rows.append((label, lat, tp))
            print(f"[{time.monotonic() - t_start:5.1f}s] {label}: done", file=sys.stderr)
    finally:
        lt.stop()
        ws.cleanup(failed=False)

    print(f"\nViewer: {args.viewer}. Live timer {args.timer_us / 1000:.0f} ms; latency run: {args.lat_events} events "
          f"every {args.lat_interval_us} us; throughput run: {args.tp_events} events, "
          f"no pause; output on {fs_type(ws.root)}.\n")
    print(f"{args.viewers} viewer(s) on the session; latency over all their lines.")
    print("| relay | latency p50 (ms) | p90 (ms) | p99 (ms) | beyond timer p50 (ms) "
          "| beyond timer p99 (ms) | events/s to viewer | MB/s to viewer "
          "| start→all published (s) | lttng stop (s) | events | tracer tick p50/p99/max (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, lat, tp in rows:
        tk = lat["ticks"]
        ticks = (f"{pct(tk, 50):.0f}/{pct(tk, 99):.0f}/{max(tk):.0f}" if tk else "-")
        lats = (f"| {label} | {pct(lat['lat'], 50):.1f} | {pct(lat['lat'], 90):.1f} "
                f"| {pct(lat['lat'], 99):.1f} | {pct(lat['extra'], 50):.1f} "
                f"| {pct(lat['extra'], 99):.1f} ")
        if tp is None:
            print(lats + f"| - | - | - | - | - | {ticks} |")
            continue
        ev = f"{tp['events']}" + (" (tracer discarded some)" if tp["discarded"] else "")
        print(lats +
              f"| {tp['events'] / tp['t_pub']:.0f} | {tp['bytes'] / tp['t_pub'] / 1e6:.1f} "
              f"| {tp['t_pub']:.2f} | {tp['t_stop']:.2f} | {ev} | {ticks} |")
    samples = ", ".join(str(r[1]["n"]) for r in rows)
    app_times = ", ".join(f"{r[2]['t_app']:.2f}s" for r in rows if r[2])
    print(f"\n(latency samples per relay: {samples}; program run time in the throughput "
          f"run: {app_times})")
    print(f"total {time.monotonic() - t_start:.0f}s", file=sys.stderr)
    return 0


def fs_type(path: Path) -> str:
    try:
        best = ("", "?")
        for line in open("/proc/mounts"):
            parts = line.split()
            if str(path).startswith(parts[1]) and len(parts[1]) >= len(best[0]):
                best = (parts[1], parts[2])
        return best[1]
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
