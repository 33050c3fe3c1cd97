#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Ingest benchmark: a synthetic consumer sends S streams of packets as fast
as the relay takes them (data packets in 1 MiB batches, their SEND_INDEX
pipelined on the control socket, the replies read by a thread as they
come), then runs data-pending rounds until the relay has everything. Run
against ctflive-relayd and lttng-relayd 2.13 in the same run, interleaved.

Reported per relay and packet size: MB/s (10^6 bytes of trace data, packet
sizes including padding, from the first byte sent to "nothing pending") and
relay CPU seconds per GB (utime + stime of the relay process, from
/proc/PID/stat, over the same span); medians with min-max over --reps runs.
The generator is Python: at 4 KiB packets it may itself limit MB/s on a
busy machine (CPU-s/GB is the relay's own).
"""

from __future__ import annotations

import argparse
import faulthandler
import signal
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))

import lttng_harness as h  # noqa: E402
import relayd_client as rc  # noqa: E402

PAD = 64  # bytes of each packet sent as padding (written by the relay)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(relay, size: int, nstreams: int, total: int, batch: int,
            strace: str | None = None) -> tuple[float, float]:
    c, d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
    d.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    try:
        assert c.version()[0] == 2
        rep = c.create_session(rc.enc_create_session_2_11(f"ing{size}", "benchhost",
                                                          live_timer=0))
        assert rep.ret_code == rc.LTTNG_OK
        assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        handles = []
        for i in range(nstreams):
            hd, ret = c.add_stream(f"chan_{i}", "ust/uid/1000/64-bit")
            assert ret == rc.LTTNG_OK
            handles.append(hd)
        meta, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
        assert ret == rc.LTTNG_OK
        assert c.streams_sent() == rc.LTTNG_OK
        c.send_metadata(meta, rc.make_metadata("benchhost"), 0)
        body = bytes(size - PAD)
        npackets = max(1, total // size // nstreams)
        seq = 0
        pid = relay.proc.pid
        tracer = None
        if strace:
            # System calls of every relay thread over the measured span.
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", strace, "-p", str(pid)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        bad: list[int] = []
        replied = [0]

        def read_replies():
            # Replies are read as they come: SEND_INDEX stays pipelined.
            left = 4 * npackets * nstreams
            while left:
                got = c.sock.recv(min(left, 1 << 16))
                assert got, "control connection closed"
                got = got[:len(got) - len(got) % 4] + (
                    rc.recv_exact(c.sock, 4 - len(got) % 4) if len(got) % 4 else b"")
                left -= len(got)
                replied[0] += len(got) // 4
                bad.extend(x for (x,) in struct.iter_unpack(">I", got) if x != rc.LTTNG_OK)

        reader = threading.Thread(target=read_replies, daemon=True)
        reader.start()
        while seq < npackets:
            # At most 16 MiB of packets whose SEND_INDEX is unanswered (the
            # relay bounds the data it holds ahead of the indexes).
            while (seq * nstreams - replied[0]) * size > (16 << 20):
                time.sleep(0.0002)
            n = min(batch, npackets - seq)
            data = []
            for k in range(seq, seq + n):
                for hd in handles:
                    data.append(rc.data_header(hd, k, len(body), PAD))
                    data.append(body)
            d.sock.sendall(b"".join(data))
            msgs = []
            for k in range(seq, seq + n):
                for hd in handles:
                    ix = rc.Index(size * 8, (size - PAD) * 8, k * 1000, k * 1000 + 999, 0, 0,
                                  0, k)
                    p = rc.enc_send_index(hd, k, ix, c.minor)
                    msgs.append(rc.ctrl_header(rc.SEND_INDEX, len(p)) + p)
            c.sock.sendall(b"".join(msgs))
            seq += n
        reader.join()
        assert bad == [], "SEND_INDEX refused"
        # The data-pending round, as lttng stop does.
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "data still pending"
            assert c.begin_data_pending(rep.session_id) == rc.LTTNG_OK
            pending = [c.data_pending(hd, npackets - 1) for hd in handles]
            assert c.quiescent_control(meta) == rc.LTTNG_OK
            if c.end_data_pending(rep.session_id) == 0 and not any(pending):
                break
            time.sleep(0.001)
        t1, cpu1 = time.monotonic(), cpu_seconds(pid)
        if tracer:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
            Path(strace).write_text(Path(strace).read_text() +
                                    f"\npackets: {npackets * nstreams}\n")
        for hd in handles:
            assert c.close_stream(hd, npackets - 1) == rc.LTTNG_OK
        nbytes = npackets * nstreams * size
        return nbytes / (t1 - t0) / 1e6, (cpu1 - cpu0) / (nbytes / 1e9)
    finally:
        c.close()
        d.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", help="build tree (default: $CTFLIVE_BUILD_DIR or ./build)")
    ap.add_argument("--sizes", default="4096,65536,262144", help="packet sizes, bytes")
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--mb", type=int, default=200, help="MB of trace data per run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--relays", default="ctflive-relayd,lttng-relayd")
    ap.add_argument("--ctflive-args", default="", help="extra ctflive-relayd options")
    ap.add_argument("--strace-dir", help="write strace -c of each relay run there (slows it)")
    ap.add_argument("--baseline-build",
                    help="another build tree: its ctflive-relayd also runs ('ctflive-relayd@base')")
    args = ap.parse_args()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if args.build_dir:
        os.environ["CTFLIVE_BUILD_DIR"] = args.build_dir
    h.set_child_subreaper()
    ws = h.Workspace(h.test_user(), prefix="ctfl-ingest-")
    sizes = [int(x) for x in args.sizes.split(",")]
    kinds = args.relays.split(",")
    if args.baseline_build:
        kinds.insert(1, "ctflive-relayd@base")
    res: dict[tuple[str, int], list[tuple[float, float]]] = {}
    try:
        for rep in range(args.reps):
            for size in sizes:
                for kind in kinds:
                    base = kind.endswith("@base")
                    relay = h.RELAY_KINDS[kind.split("@")[0]](ws, f"{kind[:3]}{size}r{rep}{base}")
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
                        batch = max(1, (1 << 20) // size // args.streams)
                        st = (f"{args.strace_dir}/{kind}-{size}-r{rep}.txt"
                              if args.strace_dir else None)
                        r = run_one(relay, size, args.streams, args.mb * 1000000, batch, st)
                    except Exception:
                        print(f"{kind} log:\n{relay.log()[-3000:]}", file=sys.stderr)
                        raise
                    finally:
                        relay.stop()
                    res.setdefault((kind, size), []).append(r)
                    print(f"rep {rep} {kind} {size}: {r[0]:.0f} MB/s, {r[1]:.2f} CPU-s/GB",
                          file=sys.stderr)
    finally:
        ws.cleanup(failed=False)

    def fmt(vals):
        return f"{statistics.median(vals):.0f} ({min(vals):.0f}–{max(vals):.0f})"

    def fmt2(vals):
        return f"{statistics.median(vals):.2f} ({min(vals):.2f}–{max(vals):.2f})"

    print(f"\n{args.streams} streams, {args.mb} MB per run, {args.reps} runs, "
          f"{os.cpu_count()} CPUs\n")
    print("| relay | packet | MB/s median (min–max) | relay CPU-s/GB median (min–max) |")
    print("|---|---:|---:|---:|")
    for size in sizes:
        for kind in kinds:
            v = res[(kind, size)]
            print(f"| {kind} | {size // 1024} KiB | {fmt([x[0] for x in v])} "
                  f"| {fmt2([x[1] for x in v])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
