# SPDX-License-Identifier: MIT
"""Today's LTTng (2.16) and babeltrace2 (2.1.2), from a Debian sid root
(sidroot.py), on both sides of ctflive-relayd, which runs on the host.

What works with a relay that speaks the 2.13 protocols: LTTng 2.16 sessions
created with --trace-format=ctf-1.8 (a relay announcing minor 13 cannot
carry CTF 2; the consumer then sends its metadata as plain TSDL text, not in
metadata packets), read live by babeltrace2 2.1.2. Each test also runs
against lttng-relayd 2.16 from the same root, which checks the test itself.
"""

from __future__ import annotations

import subprocess
import time

import pytest

import live_support as ls
import lttng_harness as h

TIMER_US = 100000
BOTH = ["ctflive-relayd", "lttng-relayd"]


def bt_live(sid: h.SidTools, relay: h.Relay, session: str) -> ls.BtLive:
    return ls.BtLive(ls.live_url(relay, session), prefix=sid.prefix()).start()


def test_versions(sid):
    """The root holds the peers these tests are about."""
    import sidroot
    v = dict(line.split("\t") for line in sidroot.versions(sid.root).splitlines())
    assert v["lttng-tools"].startswith("2.16"), v
    assert v["babeltrace2"].startswith("2.1."), v


@pytest.mark.parametrize("relay_kind", BOTH)
def test_ctf18_live_babeltrace212(lttng_sid, sid, make_relay, relay_kind):
    """LTTng 2.16, CTF 1.8, live per-UID -> relay -> babeltrace2 2.1.2 live:
    every event printed, the viewer exits 0 at `lttng destroy`, and the live
    lines equal an offline read of the relay's output."""
    relay = make_relay(relay_kind, "r", tools=sid)
    lttng_sid.create_extra = ["--trace-format=ctf-1.8"]
    ls.setup_session(lttng_sid, relay, "s18")
    bt = bt_live(sid, relay, "s18")
    try:
        ls.wait_clients(relay, "s18")
        n = 200
        lttng_sid.run_app(n, 1000, "t18")
        time.sleep(3 * TIMER_US / 1e6)
        lttng_sid.stop_session("s18")
        lttng_sid.destroy("s18")
        rc, lines, err = bt.finish()
    finally:
        bt.stop()
    assert rc == 0, err
    assert h.tick_indices(lines, "t18") == list(range(n))
    off = h.babeltrace(relay.session_dir("s18"), tools=sid)
    assert off.rc == 0, off.err
    assert lines == off.lines
    md = sorted(relay.session_dir("s18").rglob("metadata"))
    assert md, "no metadata file"
    # LTTng >= 2.14 sends CTF 1.8 metadata as plain text.
    assert md[0].read_bytes().startswith(b"/* CTF 1.8"), md[0].read_bytes()[:40]


def test_ctf18_output_like_lttng_relayd_216(lttng_sid, sid, make_relay):
    """One LTTng 2.16 CTF 1.8 live session pair, per-PID with two programs:
    ctflive-relayd writes what lttng-relayd 2.16 writes (file names, index
    headers, babeltrace2 2.1.2 text timestamps aside)."""
    ref = make_relay("lttng-relayd", "ref", tools=sid)
    cand = make_relay("ctflive-relayd", "cand")
    lttng_sid.create_extra = ["--trace-format=ctf-1.8"]
    pair = h.SessionPair(lttng_sid, ref, cand)
    pair.setup("live", buffers="pid", subbuf_size=65536, num_subbuf=8)
    a = lttng_sid.spawn_app(150, 1000, "pa")
    b = lttng_sid.spawn_app(20, 500, "pb")
    lttng_sid.wait_app(b)
    lttng_sid.wait_app(a)
    time.sleep(3 * TIMER_US / 1e6)
    pair.finish()
    # Two programs: each session timestamps its own copy of an event, so
    # events of the two programs close in time may interleave differently.
    problems = pair.compare(ordered=False)
    assert not problems, "\n".join(problems)


def test_ls_and_view_against_lttng_relayd_216(lttng_sid, sid, make_relay):
    """`ctflive ls` speaks live protocol 2.15 to lttng-relayd 2.16: it lists
    a CTF 2 and a CTF 1.8 session with their formats, exactly as babeltrace2
    2.1.2 does, and `ctflive view net://...` prints every event of the
    CTF 1.8 one."""
    relay = make_relay("lttng-relayd", "r", tools=sid)
    ls.setup_session(lttng_sid, relay, "f2")  # LTTng 2.16's default: CTF 2
    lttng_sid.create_extra = ["--trace-format=ctf-1.8"]
    ls.setup_session(lttng_sid, relay, "f18")
    url = ls.live_url(relay)
    r = subprocess.run([ls.ctflive_cli(), "ls", url], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{url}/host/{ls.HOST}/f18 (") and \
        lines[0].endswith(", CTF 1.8)"), lines
    assert lines[1].startswith(f"{url}/host/{ls.HOST}/f2 (") and \
        lines[1].endswith(", CTF 2)"), lines
    bt = subprocess.run([*sid.prefix(), "babeltrace2", "-i", "lttng-live", url],
                        capture_output=True, text=True, timeout=30, env=ls.env())
    assert bt.returncode == 0, bt.stderr
    assert lines == sorted(bt.stdout.splitlines())

    view = subprocess.Popen([ls.ctflive_cli(), "view", ls.live_url(relay, "f18")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ls.env())
    try:
        ls.wait_clients(relay, "f18")
        n = 100
        lttng_sid.run_app(n, 1000, "v18")
        time.sleep(3 * TIMER_US / 1e6)
        for s in ("f18", "f2"):
            lttng_sid.stop_session(s)
            lttng_sid.destroy(s)
        out, err = view.communicate(timeout=60)
    finally:
        h.stop_popen(view)
    assert view.returncode == 0, err
    assert h.tick_indices(out.splitlines(), "v18") == list(range(n)), err


def test_ls_like_babeltrace212_ctflive_relayd(lttng_sid, sid, make_relay):
    """Against ctflive-relayd (live protocol 2.13: 2.4 session records),
    `ctflive ls` prints babeltrace2 2.1.2's listing byte for byte."""
    relay = make_relay("ctflive-relayd", "r")
    lttng_sid.create_extra = ["--trace-format=ctf-1.8"]
    ls.setup_session(lttng_sid, relay, "la")
    lttng_sid.run_app(5, 1000, "la")
    url = ls.live_url(relay)
    r = subprocess.run([ls.ctflive_cli(), "ls", url], capture_output=True, text=True,
                       timeout=30)
    bt = subprocess.run([*sid.prefix(), "babeltrace2", "-i", "lttng-live", url],
                        capture_output=True, text=True, timeout=30, env=ls.env())
    assert r.returncode == 0 and bt.returncode == 0, (r.stderr, bt.stderr)
    assert r.stdout.splitlines() and r.stdout == bt.stdout
