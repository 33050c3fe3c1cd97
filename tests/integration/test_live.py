# SPDX-License-Identifier: MIT
"""Live sessions recorded by lttng-relayd and by the candidate relay at once
(issue 2, scenarios a and b)."""

import time

import pytest

import lttng_harness as h
from conftest import CANDIDATES

N = 400


def assert_no_problems(problems):
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_live_per_uid(lttng, make_relay, candidate):
    """a. Live, per-UID buffers: every event, same text as lttng-relayd."""
    ref = make_relay("lttng-relayd", "ref")
    cand = make_relay(candidate, "cand")
    pair = h.SessionPair(lttng, ref, cand)
    # Sub-buffers small enough for several packets per stream (plus the live
    # timer's partial packets), large enough that a loaded machine (the
    # consumer lagging) does not make the tracer discard events.
    pair.setup("live", timer_us=100000, buffers="uid", subbuf_size=16384, num_subbuf=8)
    app = lttng.spawn_app(N, interval_us=2500, name="uid")
    # While the session is live, every index entry on disk must describe a
    # packet already in its tracefile (what live viewers rely on).
    early = []
    while app.poll() is None:
        for name in pair.names:
            try:
                d = pair.relays[name].session_dir(name, timeout=0.1)
            except TimeoutError:
                continue
            kind = pair.relays[name].kind
            early += [f"{kind}: {p}" for p in h.published_index_problems(d)]
            if kind == "ctflive-relayd":
                early += [f"{kind}: {p}" for p in h.published_lock_problems(d)]
        time.sleep(0.03)
    lttng.wait_app(app)
    time.sleep(0.3)  # let a few live ticks (partial packets, beacons) happen
    pair.finish()
    assert not early, "\n".join(sorted(set(early))[:20])

    dref, dcand = pair.session_dir("ref"), pair.session_dir("cand")
    bt = h.babeltrace(dcand)
    assert bt.rc == 0, bt.err
    assert h.tick_indices(bt.lines, "uid") == list(range(N))
    assert_no_problems(h.tick_payload_problems(bt.lines))
    assert sum("ctflive_sample:start" in line for line in bt.lines) == 1
    assert sum("ctflive_sample:stop" in line for line in bt.lines) == 1
    assert_no_problems(pair.compare())
    assert ref.alive() and cand.alive()


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_live_per_pid_three_apps(lttng, make_relay, candidate):
    """b. Live, per-PID buffers, three programs started at different times,
    one exiting early: every event of every program is present."""
    ref = make_relay("lttng-relayd", "ref")
    cand = make_relay(candidate, "cand")
    pair = h.SessionPair(lttng, ref, cand)
    pair.setup("live", timer_us=100000, buffers="pid", subbuf_size=16384, num_subbuf=8)
    counts = {"pa": 600, "pb": 60, "pc": 300}
    apps = {"pa": lttng.spawn_app(counts["pa"], 1000, "pa")}
    time.sleep(0.15)
    apps["pb"] = lttng.spawn_app(counts["pb"], 1000, "pb")  # exits early
    time.sleep(0.15)
    apps["pc"] = lttng.spawn_app(counts["pc"], 1000, "pc")
    for name, p in apps.items():
        lttng.wait_app(p)
    time.sleep(0.3)
    pair.finish()

    dref, dcand = pair.session_dir("ref"), pair.session_dir("cand")
    bt = h.babeltrace(dcand)
    assert bt.rc == 0, bt.err
    for name, n in counts.items():
        assert h.tick_indices(bt.lines, name) == list(range(n)), name
    # Three per-PID traces, one per program.
    pid_dirs = sorted(p.name for p in (dcand / "ust" / "pid").iterdir())
    assert len(pid_dirs) == 3, pid_dirs
    # Events of different programs recorded at nearly the same instant may be
    # ordered differently by the two sessions' timestamps: compare as sets.
    assert_no_problems(pair.compare(ordered=False))
    assert ref.alive() and cand.alive()
