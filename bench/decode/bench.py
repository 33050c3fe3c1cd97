#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Decoder benchmark: `ctflive view` against babeltrace2 on a large UST trace.

Records (unless --trace is given) a UST trace of N `tracef("hello %d", i)`
events with a private lttng-sessiond (as an unprivileged user when run as
root), then times, best of --runs:

  ctflive view TRACE > /dev/null            (text, byte-identical to babeltrace2)
  ctflive view --json TRACE > /dev/null
  ctflive view --decode-only TRACE
  babeltrace2 TRACE > /dev/null
  babeltrace2 -c sink.utils.dummy TRACE

and prints events/s, input MB/s and ratios against babeltrace2 measured in
the same run. Not a test: run it by hand on a quiet machine.

  python3 bench/decode/bench.py --build build/ctf [--events 2000000] [--streams 2] [--keep]
"""
import argparse
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PROG = r"""
#include <lttng/tracef.h>
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	for (long i = 0; i < n; i++)
		tracef("hello %ld", i);
	return 0;
}
"""

USER = "ctfbench"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def as_user(cmd, env, user):
    if user is None:
        return cmd
    return ["runuser", "-u", user, "--", "env"] + [f"{k}={v}" for k, v in env.items()] + cmd


def record(work, events, streams=1):
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            sh(["useradd", "-m", USER])
        user = USER
    prog = work / "prog"
    (work / "prog.c").write_text(PROG)
    sh(["gcc", "-O2", "-include", "stdlib.h", str(work / "prog.c"), "-o", str(prog),
        "-llttng-ust", "-ldl"])
    home = work / "home"
    out = work / "trace"
    home.mkdir()
    os.chmod(work, 0o755)
    if user:
        sh(["chown", "-R", user, str(work)])
    env = {"LTTNG_HOME": str(home), "HOME": str(home)}
    full_env = dict(os.environ, **env)
    run = lambda *c: sh(as_user(list(c), env, user), env=full_env,
                        stdout=subprocess.DEVNULL)
    run("lttng-sessiond", "--daemonize")
    pidfile = home / ".lttng" / "lttng-sessiond.pid"
    try:
        run("lttng", "create", "bench", "--output", str(out))
        run("lttng", "enable-channel", "-u", "c0", "--subbuf-size=4M", "--num-subbuf=8",
            "--blocking-timeout=inf")
        run("lttng", "enable-event", "-u", "-c", "c0", "lttng_ust_tracef:*")
        run("lttng", "start")
        procs = [subprocess.Popen(as_user(["env", "LTTNG_UST_ALLOW_BLOCKING=1", "taskset", "-c",
                                           str(cpu % os.cpu_count()), str(prog),
                                           str(events // streams)], env, user), env=full_env)
                 for cpu in range(streams)]
        for pr in procs:
            if pr.wait() != 0:
                raise RuntimeError("traced program failed")
        run("lttng", "stop")
        run("lttng", "destroy")
    finally:
        for _ in range(50):
            if pidfile.exists():
                break
            time.sleep(0.1)
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                    time.sleep(0.1)
                except ProcessLookupError:
                    break
    return out


def best_time(cmd, runs, stdout=subprocess.DEVNULL):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=stdout, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, TZ="UTC"))
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/ctf")
    ap.add_argument("--trace", help="existing trace directory (skip recording)")
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--streams", type=int, default=1,
                    help="traced processes, one per CPU (2 exercises the muxer)")
    ap.add_argument("--keep", action="store_true", help="keep the recorded trace")
    a = ap.parse_args()

    ctflive = pathlib.Path(a.build) / "src" / "cli" / "ctflive"
    if not ctflive.exists():
        sys.exit(f"{ctflive} not found: build the 'ctflive' target first")
    work = None
    if a.trace:
        trace = pathlib.Path(a.trace)
    else:
        work = pathlib.Path(tempfile.mkdtemp(prefix="ctflive-bench-"))
        print(f"recording {a.events} events in {work} ...", flush=True)
        trace = record(work, a.events, a.streams)
    size = sum(p.stat().st_size for p in trace.rglob("*") if p.is_file())
    count = subprocess.run([str(ctflive), "view", "--decode-only", str(trace)], check=True,
                           stdout=subprocess.PIPE, text=True).stdout.split()[0]
    nev = int(count)
    # correctness first: the text must match babeltrace2's
    same = None
    if shutil.which("babeltrace2"):
        with tempfile.TemporaryFile() as x, tempfile.TemporaryFile() as y:
            subprocess.run([str(ctflive), "view", str(trace)], stdout=x, check=True,
                           env=dict(os.environ, TZ="UTC"))
            subprocess.run(["babeltrace2", str(trace)], stdout=y, check=True,
                           env=dict(os.environ, TZ="UTC"))
            x.seek(0)
            y.seek(0)
            same = x.read() == y.read()
    print(f"trace: {nev} events, {size / 1e6:.1f} MB; text identical to babeltrace2: {same}")
    cmds = [
        ("ctflive view (text)", [str(ctflive), "view", str(trace)]),
        ("ctflive view --json", [str(ctflive), "view", "--json", str(trace)]),
        ("ctflive view --decode-only", [str(ctflive), "view", "--decode-only", str(trace)]),
    ]
    if shutil.which("babeltrace2"):
        cmds += [
            ("babeltrace2 (text)", ["babeltrace2", str(trace)]),
            ("babeltrace2 -c sink.utils.dummy", ["babeltrace2", str(trace), "-c",
                                                 "sink.utils.dummy"]),
        ]
    res = {}
    print(f"\n{'command':34} {'best s':>8} {'Mev/s':>8} {'MB/s':>8}")
    for name, cmd in cmds:
        t = best_time(cmd, a.runs)
        res[name] = t
        print(f"{name:34} {t:8.3f} {nev / t / 1e6:8.2f} {size / t / 1e6:8.1f}", flush=True)
    if "babeltrace2 (text)" in res:
        bt, dummy = res["babeltrace2 (text)"], res["babeltrace2 -c sink.utils.dummy"]
        print(f"\ntext speed-up vs babeltrace2 text:          {bt / res['ctflive view (text)']:6.1f}x"
              " (goal 10x)")
        print(f"json speed-up vs babeltrace2 text:          {bt / res['ctflive view --json']:6.1f}x")
        print(f"decode-only speed-up vs babeltrace2 dummy:  "
              f"{dummy / res['ctflive view --decode-only']:6.1f}x (goal 20x)")
    if work and not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    elif work:
        print(f"\ntrace kept in {trace}")


if __name__ == "__main__":
    main()
