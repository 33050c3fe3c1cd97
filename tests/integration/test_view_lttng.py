# SPDX-License-Identifier: MIT
"""`ctflive view` on traces recorded here by real LTTng 2.13 (local sessions,
no relay): stdout byte-identical to babeltrace2 2.0.4, same warnings, same
exit code. With `--types` the sample program emits events of four tracepoint
providers (its own ctflive_sample and ctflive_extra, lttng-ust's tracef and
tracelog) that together carry every field kind lttng-ust offers, log levels
and an EMF URI; one channel is small enough that the tracer discards events."""

import os
import subprocess

import pytest

import lttng_harness as h


def ctflive_path():
    return h.build_dir() / "src" / "cli" / "ctflive"


def view(path, *extra):
    env = dict(os.environ, TZ="UTC", LANG="C")
    r = subprocess.run([str(ctflive_path()), "view", *extra, str(path)], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=h.DEFAULT_TIMEOUT)
    return h.Bt2Result(r.returncode, r.stdout.splitlines(), r.stderr)


def warnings(text, root):
    """babeltrace2's WARNING lines, with the trace directory made relative,
    2.0.4's "(UUID: x)" as 2.1 (and ctflive) print it: "(UID: x)"."""
    return sorted(line.replace(str(root) + "/", "").replace("(UUID: ", "(UID: ")
                  .replace("(no UUID)", "(no UID)")
                  for line in text.splitlines() if line.startswith("WARNING"))


PROVIDERS = "ctflive_sample:*,ctflive_extra:*,lttng_ust_tracef:*,lttng_ust_tracelog:*"


def record(lttng, ws, name, buffers, apps, subbuf_size=None, num_subbuf=None):
    out = ws.mkdir(f"traces-{name}", owned=True)
    lttng.cmd("create", name, "--output", str(out / name))
    lttng.enable_channel(name, "ch", buffers=buffers, subbuf_size=subbuf_size,
                         num_subbuf=num_subbuf)
    lttng.enable_event(name, PROVIDERS, channel="ch")
    lttng.start_session(name)
    procs = [lttng.spawn_app(count, interval, app_name) for count, interval, app_name in apps]
    for p in procs:
        lttng.wait_app(p)
    lttng.stop_session(name)
    lttng.destroy(name)
    return out / name


def assert_same_as_babeltrace2(trace, *extra):
    bt = h.babeltrace(trace, extra=extra)
    cl = view(trace, *extra)
    assert cl.rc == bt.rc, (cl.err, bt.err)
    if cl.lines != bt.lines:
        # Equal-time events of different traces (per-PID): ctflive orders
        # them by trace name first, as babeltrace2 2.1.2; 2.0.4 compared
        # UUIDs first (doc/ctf-decoder.md, differences from 2.0.4).
        assert h.ties_unordered(cl.lines) == h.ties_unordered(bt.lines)
    assert warnings(cl.err, trace) == warnings(bt.err, trace)
    return bt


@pytest.fixture
def types_app(lttng, monkeypatch):
    """Every tick also emits the 'types' event."""
    orig = lttng.app_argv
    monkeypatch.setattr(lttng, "app_argv", lambda *a: orig(*a) + ["--types"])


@pytest.mark.parametrize("buffers", ["uid", "pid"])
def test_view_recorded_trace(lttng, ws, types_app, buffers):
    trace = record(lttng, ws, f"v{buffers}", buffers,
                   [(300, 200, "a"), (200, 300, "b"), (100, 100, "c")])
    bt = assert_same_as_babeltrace2(trace)
    assert bt.rc == 0
    for event in ("ctflive_sample:types", "ctflive_extra:arrays", "lttng_ust_tracef:event",
                  "lttng_ust_tracelog:LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING"):
        assert sum(f" {event}: " in line for line in bt.lines) == 600, event
    for opts in (["--clock-seconds"], ["--no-delta", "-n", "all"], ["-f", "all"],
                 ["-n", "all", "-f", "all"], ["--clock-cycles", "-f", "loglevel,emf"]):
        assert_same_as_babeltrace2(trace, *opts)


def test_view_discarded_events(lttng, ws, types_app):
    """A channel too small for the load: the tracer discards events and both
    tools warn about them identically."""
    trace = record(lttng, ws, "vdisc", "uid", [(20000, 0, "fast")], subbuf_size=4096,
                   num_subbuf=2)
    bt = assert_same_as_babeltrace2(trace)
    if "discarded" not in bt.err:
        pytest.skip("the tracer did not discard any event this time")
