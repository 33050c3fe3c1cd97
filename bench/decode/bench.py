#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Decoder benchmark: `ctflive view` against babeltrace2 on large UST traces.

Records (unless --trace is given) UST traces of N `tracef("hello %d", i)`
events with a private lttng-sessiond (as an unprivileged user when run as
root):

  lttng-2.13 ctf-1.8   the host's LTTng (Debian 12: 2.13), read by the host's
                       babeltrace2 (2.0.4);
  lttng-2.16 ctf-1.8   LTTng 2.16 of the integration tests' Debian sid root
  lttng-2.16 ctf-2     (tests/integration/sidroot.py), two sessions of one
                       session daemon recording the same run of the program
                       (--trace-format=ctf-1.8 and ctf-2: the same events),
                       read by babeltrace2 2.1.2 of that root and, for
                       CTF 1.8, by the host's 2.0.4 too.

For each trace it times, best of --runs:

  ctflive view TRACE > /dev/null            (text, byte-identical to babeltrace2)
  ctflive view --json TRACE > /dev/null
  ctflive view --decode-only TRACE
  babeltrace2 TRACE > /dev/null             (each babeltrace2 that reads it)
  babeltrace2 -c sink.utils.dummy TRACE

and prints events/s, input MB/s and ratios against each babeltrace2
measured in the same run. Not a test: run it by hand on a quiet machine.
The sid root needs root privileges (chroot, mounts); --no-sid leaves the
LTTng 2.16 traces out, --no-host the LTTng 2.13 one.

  python3 bench/decode/bench.py --build build/dev [--events 2000000] [--streams 2] [--keep]
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
SRC = pathlib.Path(__file__).resolve().parents[2]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


class Host:
    """Commands run on the host, as `user` (None: as ourselves)."""

    name = "host"

    def __init__(self, user):
        self.user = user

    def wrap(self, cmd, env):
        if self.user is None:
            return ["env"] + [f"{k}={v}" for k, v in env.items()] + cmd
        return ["runuser", "-u", self.user, "--", "env"] + \
            [f"{k}={v}" for k, v in env.items()] + cmd

    def prefix(self):
        return []


class Sid(Host):
    """Commands run in the Debian sid root (LTTng 2.16, babeltrace2 2.1.2)."""

    name = "sid"

    def __init__(self, user):
        super().__init__(user)
        sys.path.insert(0, str(SRC / "tests" / "integration"))
        import sidroot
        self.sidroot = sidroot
        why = sidroot.unavailable_reason()
        if why:
            raise RuntimeError(f"no Debian sid root: {why}")
        self.root = sidroot.ensure_root()
        sidroot.enter(self.root)
        pw = pwd.getpwnam(user) if user else pwd.getpwuid(os.geteuid())
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        if user:
            sidroot.add_user(self.root, user, self.uid, self.gid)

    def wrap(self, cmd, env):
        return self.sidroot.wrap(self.root, self.uid, self.gid, cmd,
                                 dict(env, PATH="/usr/bin:/bin"))

    def prefix(self):
        return ["chroot", str(self.root)]


def bench_user():
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(USER)
    except KeyError:
        sh(["useradd", "-m", USER])
    return USER


def record(tools, work, events, streams=1, formats=(None,)):
    """Records one program run with one session per trace format (None:
    the LTTng default, no --trace-format option); returns their paths."""
    prog = work / "prog"
    (work / "prog.c").write_text(PROG)
    sh([*tools.prefix(), "gcc", "-O2", "-include", "stdlib.h", str(work / "prog.c"), "-o",
        str(prog), "-llttng-ust", "-ldl"])
    home = work / "home"
    home.mkdir()
    os.chmod(work, 0o755)
    if tools.user:
        sh(["chown", "-R", tools.user, str(work)])
    env = {"LTTNG_HOME": str(home), "HOME": str(home)}
    full_env = dict(os.environ, **env)

    def run(*c):
        sh(tools.wrap(list(c), env), env=full_env, stdout=subprocess.DEVNULL)

    run("lttng-sessiond", "--daemonize")
    pidfile = home / ".lttng" / "lttng-sessiond.pid"
    outs = []
    try:
        for k, fmt in enumerate(formats):
            name = f"bench{k}"
            out = work / (fmt or "trace")
            outs.append(out)
            run("lttng", "create", name, "--output", str(out),
                *([f"--trace-format={fmt}"] if fmt else []))
            # blocking: the tracer never discards an event
            run("lttng", "enable-channel", "-u", "-s", name, "c0", "--subbuf-size=4M",
                "--num-subbuf=8", "--blocking-timeout=inf")
            run("lttng", "enable-event", "-u", "-s", name, "-c", "c0", "lttng_ust_tracef:*")
            run("lttng", "start", name)
        procs = [subprocess.Popen(tools.wrap(["env", "LTTNG_UST_ALLOW_BLOCKING=1", "taskset",
                                              "-c", str(cpu % os.cpu_count()), str(prog),
                                              str(events // streams)], env), env=full_env)
                 for cpu in range(streams)]
        for pr in procs:
            if pr.wait() != 0:
                raise RuntimeError("traced program failed")
        for k in range(len(formats)):
            run("lttng", "stop", f"bench{k}")
            run("lttng", "destroy", f"bench{k}")
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
    return outs


def best_time(cmd, runs, stdout=subprocess.DEVNULL):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=stdout, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, TZ="UTC"))
        times.append(time.perf_counter() - t)
    return min(times)


def same_output(a, b):
    """Whether commands a and b print the same bytes; None when b fails."""
    with tempfile.TemporaryFile() as x, tempfile.TemporaryFile() as y:
        e = dict(os.environ, TZ="UTC")
        sh(a, stdout=x, env=e)
        if subprocess.run(b, stdout=y, stderr=subprocess.DEVNULL, env=e).returncode != 0:
            return None
        x.seek(0)
        y.seek(0)
        return x.read() == y.read()


def bench_trace(label, trace, ctflive, readers, runs):
    """Times ctflive and each babeltrace2 of readers ({version: argv prefix})
    on trace; returns {command: seconds} and prints one table block."""
    size = sum(p.stat().st_size for p in trace.rglob("*") if p.is_file())
    count = subprocess.run([str(ctflive), "view", "--decode-only", str(trace)], check=True,
                           stdout=subprocess.PIPE, text=True).stdout.split()[0]
    nev = int(count)
    same = {v: same_output([str(ctflive), "view", str(trace)], [*p, "babeltrace2", str(trace)])
            for v, p in readers.items()}
    print(f"\n{label}: {nev} events, {size / 1e6:.1f} MB; text identical to "
          + ", ".join(f"babeltrace2 {v}: {'fails' if s is None else s}"
                      for v, s in same.items()))
    readers = {v: p for v, p in readers.items() if same[v] is not None}
    cmds = [
        ("ctflive view (text)", [str(ctflive), "view", str(trace)]),
        ("ctflive view --json", [str(ctflive), "view", "--json", str(trace)]),
        ("ctflive view --decode-only", [str(ctflive), "view", "--decode-only", str(trace)]),
    ]
    for v, p in readers.items():
        cmds += [
            (f"babeltrace2 {v} (text)", [*p, "babeltrace2", str(trace)]),
            (f"babeltrace2 {v} -c sink.utils.dummy",
             [*p, "babeltrace2", str(trace), "-c", "sink.utils.dummy"]),
        ]
    res = {}
    print(f"{'command':40} {'best s':>8} {'Mev/s':>8} {'MB/s':>8}")
    for name, cmd in cmds:
        t = best_time(cmd, runs)
        res[name] = t
        print(f"{name:40} {t:8.3f} {nev / t / 1e6:8.2f} {size / t / 1e6:8.1f}", flush=True)
    return res


def ratios(results, versions):
    """Markdown table: babeltrace2 time / ctflive time, per trace."""
    cols = []
    for v in versions:
        cols += [(f"text vs {v} text", "ctflive view (text)", f"babeltrace2 {v} (text)"),
                 (f"json vs {v} text", "ctflive view --json", f"babeltrace2 {v} (text)"),
                 (f"decode-only vs {v} dummy", "ctflive view --decode-only",
                  f"babeltrace2 {v} -c sink.utils.dummy")]
    print("\nspeed-up of ctflive (babeltrace2 time / ctflive time, same run; "
          "goals: text 10x, decode-only 20x)\n")
    print("| trace | " + " | ".join(c[0] for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for label, res in results.items():
        cells = [f"{res[b] / res[a]:.1f}x" if b in res else "—" for _n, a, b in cols]
        print(f"| {label} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/dev")
    ap.add_argument("--trace", help="existing trace directory (skip recording; read by "
                    "the host's babeltrace2 only)")
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--streams", type=int, default=1,
                    help="traced processes, one per CPU (2 exercises the muxer)")
    ap.add_argument("--no-host", action="store_true", help="no LTTng 2.13 trace")
    ap.add_argument("--no-sid", action="store_true",
                    help="no LTTng 2.16 traces (Debian sid root) nor babeltrace2 2.1.2")
    ap.add_argument("--keep", action="store_true", help="keep the recorded traces")
    a = ap.parse_args()

    ctflive = pathlib.Path(a.build) / "src" / "cli" / "ctflive"
    if not ctflive.exists():
        sys.exit(f"{ctflive} not found: build the 'ctflive' target first")
    have_host_bt = shutil.which("babeltrace2") is not None
    host_bt = {"2.0.4": []} if have_host_bt else {}
    results = {}
    work = None
    if a.trace:
        results["given trace"] = bench_trace("given trace", pathlib.Path(a.trace), ctflive,
                                             host_bt, a.runs)
        ratios(results, list(host_bt))
        return
    work = pathlib.Path(tempfile.mkdtemp(prefix="ctflive-bench-"))
    os.chmod(work, 0o755)
    user = bench_user()
    traces = []
    if not a.no_host:
        print(f"recording {a.events} events with the host's LTTng in {work} ...", flush=True)
        d = work / "host"
        d.mkdir()
        (t,) = record(Host(user), d, a.events, a.streams)
        traces.append(("lttng-2.13 ctf-1.8", t, host_bt))
    versions = list(host_bt)
    sid = None
    if not a.no_sid:
        try:
            sid = Sid(user)
        except RuntimeError as e:
            print(f"no LTTng 2.16 traces: {e}", flush=True)
    if sid is not None:
        print(f"recording {a.events} events with LTTng 2.16 (sid root), CTF 1.8 and CTF 2 "
              f"sessions of one run, in {work} ...", flush=True)
        d = work / "sid"
        d.mkdir()
        t18, t2 = record(sid, d, a.events, a.streams, formats=("ctf-1.8", "ctf-2"))
        sid_bt = {"2.1.2": sid.prefix()}
        traces.append(("lttng-2.16 ctf-1.8", t18, dict(sid_bt, **host_bt)))
        traces.append(("lttng-2.16 ctf-2", t2, sid_bt))
        versions = ["2.1.2"] + versions
    for label, t, readers in traces:
        results[label] = bench_trace(label, t, ctflive, readers, a.runs)
    ratios(results, versions)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\ntraces kept in {work}")


if __name__ == "__main__":
    main()
