#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Ingest benchmark: the C load generator (ctflive-loadgen, built with the
project) plays a session daemon and consumer: S streams of packets sent as
fast as the relay takes them (many packets per sendmsg on the data socket,
each packet's SEND_INDEX pipelined on the control socket, at most 16 MiB of
packets unanswered), then data-pending rounds until the relay has
everything. Runs against ctflive-relayd and lttng-relayd 2.13 in the same
run, interleaved.

Reported per relay, stream count and packet size: MB/s (10^6 bytes of trace
data, packet sizes including padding, from the first byte sent to "nothing
pending") and relay CPU seconds per GB (utime + stime of the relay process,
from /proc/PID/stat, over the same span); medians with min-max over --reps
runs.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))

import lttng_harness as h  # noqa: E402


def loadgen_path(build_dir: str) -> Path:
    exe = Path(build_dir) / "bench" / "ingest" / "ctflive-loadgen"
    if not exe.exists():
        sys.exit(f"{exe} not found: build the project first")
    return exe


def relay_pid(relay) -> int:
    """The relay daemon's own PID: the Popen's, or, when that is a wrapper
    (chroot, env, runuser), the first descendant whose command is the relay."""
    want = "ctflive-relayd" if relay.kind == "ctflive-relayd" else "lttng-relayd"
    pid = getattr(relay, "daemon_pid", None) or relay.proc.pid
    todo = [pid]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        todo, seen = [pid], []
        while todo:
            p = todo.pop(0)
            try:
                comm = Path(f"/proc/{p}/comm").read_text().strip()
            except OSError:
                continue
            if comm == want[:15]:
                return p
            seen.append(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                try:
                    todo += [int(c) for c in (task / "children").read_text().split()]
                except OSError:
                    pass
        time.sleep(0.05)
    raise RuntimeError(f"no {want} process under PID {pid}")


def run_one(exe: Path, relay, size: int, nstreams: int, total: int,
            strace: str | None = None) -> tuple[float, float]:
    pid = relay_pid(relay)
    tracer = None
    if strace:
        # System calls of every relay thread over the run (setup included:
        # a few hundred calls against tens of thousands of packets).
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", strace, "-p", str(pid)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    try:
        out = subprocess.run(
            [str(exe), "--host", h.LOCALHOST, "--control-port", str(relay.ports.control),
             "--data-port", str(relay.ports.data), "--streams", str(nstreams),
             "--packet-size", str(size), "--bytes", str(total), "--relay-pid", str(pid),
             "--session", f"ing{size}"],
            check=True, capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"loadgen failed: {e.stderr}") from e
    finally:
        if tracer:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
    res = json.loads(out.stdout)
    if strace:
        Path(strace).write_text(Path(strace).read_text() + f"\npackets: {res['packets']}\n")
    return res["mb_s"], res["cpu_s_per_gb"]


def loopback_mb_s(total: int) -> float:
    """Loopback TCP reference: one process sends `total` bytes in 1 MiB
    writes, another reads them into a 1 MiB buffer and discards them."""
    ls = socket.socket()
    ls.bind((h.LOCALHOST, 0))
    ls.listen(1)
    pid = os.fork()
    if pid == 0:
        try:
            c = socket.create_connection(ls.getsockname())
            chunk = bytes(1 << 20)
            for _ in range(total // len(chunk)):
                c.sendall(chunk)
            c.close()
        finally:
            os._exit(0)
    conn, _ = ls.accept()
    buf = bytearray(1 << 20)
    got, t0 = 0, time.monotonic()
    while True:
        n = conn.recv_into(buf)
        if not n:
            break
        got += n
    t1 = time.monotonic()
    os.waitpid(pid, 0)
    conn.close()
    ls.close()
    return got / (t1 - t0) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", help="build tree (default: $CTFLIVE_BUILD_DIR or ./build)")
    ap.add_argument("--sizes", default="4096,65536,262144", help="packet sizes, bytes")
    ap.add_argument("--streams", default="4,1000", help="stream counts, comma-separated")
    ap.add_argument("--mb", type=int, default=200, help="MB of trace data per run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--relays", default="ctflive-relayd,lttng-relayd,lttng-relayd@sid",
                    help="relays to run: ctflive-relayd, lttng-relayd (the host's, 2.13), "
                    "lttng-relayd@sid (2.16 from the Debian sid root of the integration "
                    "tests, tests/integration/sidroot.py; skipped with a note when that "
                    "root is unavailable)")
    ap.add_argument("--ctflive-args", default="", help="extra ctflive-relayd options")
    ap.add_argument("--strace-dir", help="write strace -c of each relay run there (slows it)")
    ap.add_argument("--baseline-build",
                    help="another build tree: its ctflive-relayd also runs ('ctflive-relayd@base')")
    args = ap.parse_args()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if args.build_dir:
        os.environ["CTFLIVE_BUILD_DIR"] = args.build_dir
    build = os.environ.get("CTFLIVE_BUILD_DIR") or str(HERE.parents[1] / "build")
    exe = loadgen_path(build)
    h.set_child_subreaper()
    ws = h.Workspace(h.test_user(), prefix="ctfl-ingest-")
    sizes = [int(x) for x in args.sizes.split(",")]
    counts = [int(x) for x in args.streams.split(",")]
    kinds = args.relays.split(",")
    sid_tools = None
    if "lttng-relayd@sid" in kinds:
        import sidroot
        reason = sidroot.unavailable_reason()
        if reason:
            print(f"lttng-relayd@sid skipped: {reason}", file=sys.stderr)
            kinds.remove("lttng-relayd@sid")
        else:
            root = sidroot.ensure_root()
            sidroot.enter(root)
            sidroot.add_user(root, ws.user.name, ws.user.uid, ws.user.gid)
            sid_tools = h.SidTools(root)
    if args.baseline_build:
        kinds.insert(1, "ctflive-relayd@base")
    res: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    loop: list[float] = []
    try:
        for rep in range(args.reps):
            loop.append(loopback_mb_s(args.mb * 1000000))
            for nstreams in counts:
                for size in sizes:
                    for kind in kinds:
                        base = kind.endswith("@base")
                        kw = {"tools": sid_tools} if kind.endswith("@sid") else {}
                        relay = h.RELAY_KINDS[kind.split("@")[0]](
                            ws, f"{kind[:3]}{kind[-3:]}{nstreams}s{size}r{rep}", **kw)
                        extra = args.ctflive_args.split() if kind.startswith("ctflive") else ()
                        own = os.environ.get("CTFLIVE_BUILD_DIR")
                        if base:
                            os.environ["CTFLIVE_BUILD_DIR"] = args.baseline_build
                        try:
                            relay.start(extra=extra)
                        finally:
                            if own is not None:
                                os.environ["CTFLIVE_BUILD_DIR"] = own
                        try:
                            st = (f"{args.strace_dir}/{kind}-{nstreams}s-{size}-r{rep}.txt"
                                  if args.strace_dir else None)
                            r = run_one(exe, relay, size, nstreams, args.mb * 1000000, st)
                        except Exception:
                            print(f"{kind} log:\n{relay.log()[-3000:]}", file=sys.stderr)
                            raise
                        finally:
                            relay.stop()
                            shutil.rmtree(relay.output, ignore_errors=True)
                        res.setdefault((kind, nstreams, size), []).append(r)
                        print(f"rep {rep} {kind} {nstreams} streams {size}: {r[0]:.0f} MB/s, "
                              f"{r[1]:.2f} CPU-s/GB", file=sys.stderr)
    finally:
        ws.cleanup(failed=False)

    def fmt(vals):
        return f"{statistics.median(vals):.0f} ({min(vals):.0f}–{max(vals):.0f})"

    def fmt2(vals):
        return f"{statistics.median(vals):.2f} ({min(vals):.2f}–{max(vals):.2f})"

    print(f"\n{args.mb} MB per run, {args.reps} runs, {os.cpu_count()} CPUs; loopback TCP "
          f"(1 MiB writes, a reader that discards): {fmt(loop)} MB/s\n")
    print("| relay | streams | packet | MB/s median (min–max) "
          "| relay CPU-s/GB median (min–max) |")
    print("|---|---:|---:|---:|---:|")
    for nstreams in counts:
        for size in sizes:
            for kind in kinds:
                v = res[(kind, nstreams, size)]
                print(f"| {kind} | {nstreams} | {size // 1024} KiB | {fmt([x[0] for x in v])} "
                      f"| {fmt2([x[1] for x in v])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
