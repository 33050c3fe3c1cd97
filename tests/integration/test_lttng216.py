# SPDX-License-Identifier: MIT
"""Today's LTTng (2.16) and babeltrace2 (2.1.2), from a Debian sid root
(sidroot.py), on both sides of ctflive-relayd, which runs on the host:
relayd and live protocol 2.15, CTF 2 sessions (LTTng 2.16's default) and
CTF 1.8 ones (--trace-format=ctf-1.8), metadata sent as text, viewers of
both protocol generations (babeltrace2 2.0.4 from the host announces 2.4).
Where lttng-relayd 2.16 can take the candidate's place, the same test runs
against it too: that checks the test itself."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time

import pytest

import live_client as lc
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


@pytest.mark.lttng_verbose
def test_ctf18_output_like_lttng_relayd_216(lttng_sid, sid, make_relay):
    """One LTTng 2.16 CTF 1.8 live session pair, per-PID with two programs:
    ctflive-relayd writes what lttng-relayd 2.16 writes (file names, index
    headers, babeltrace2 2.1.2 text timestamps aside).

    `lttng stop` now and then does not return under load: lttng-consumerd
    2.16 locks up (its threads wait on futexes; seen as the live timer of
    one session, the flush of its channel at a per-PID program's exit and
    the deletion of the other session's metadata channel meet), with every
    request to both relays answered. That state, and only it (no daemon
    thread reading or writing a relay's socket: h.consumerd_deadlock), runs
    the scenario once more with a new session daemon; any other timeout
    fails with where the daemons' threads wait, their verbose log and both
    relays' logs."""
    ref = make_relay("lttng-relayd", "ref", tools=sid)
    cand = make_relay("ctflive-relayd", "cand")
    lttng_sid.create_extra = ["--trace-format=ctf-1.8"]

    def scenario(attempt: int) -> tuple[h.SessionPair, str | None, str]:
        if attempt:
            lttng_sid.stop()
            lttng_sid.start()
        pair = h.SessionPair(lttng_sid, ref, cand, prefix=f"s{attempt}")
        pair.setup("live", buffers="pid", subbuf_size=65536, num_subbuf=8)
        a = lttng_sid.spawn_app(150, 1000, "pa")
        b = lttng_sid.spawn_app(20, 500, "pb")
        lttng_sid.wait_app(b)
        lttng_sid.wait_app(a)
        time.sleep(3 * TIMER_US / 1e6)
        try:
            pair.finish()
        except subprocess.TimeoutExpired as e:
            report = (f"{' '.join(map(str, e.cmd))[-200:]}: no answer in {e.timeout} s "
                      f"(relay ports: ref {ref.ports}, cand {cand.ports})\n"
                      f"{h.blocked_report(lttng_sid.pid)}\n"
                      f"--- session daemon log (end)\n{lttng_sid.log()[-20000:]}\n"
                      f"--- lttng-relayd 2.16 log (end)\n{ref.log()[-3000:]}\n"
                      f"--- ctflive-relayd log (end)\n{cand.log()[-3000:]}")
            return pair, h.consumerd_deadlock(lttng_sid.pid), report
        return pair, None, ""

    pair, _, hang = h.once_more_on_peer_failure(
        scenario, lambda r: r[1] and f"{r[1]}\n{r[2][:4000]}")
    assert not hang, hang
    # Two programs: each session timestamps its own copy of an event, so
    # events of the two programs close in time may interleave differently.
    problems = pair.compare(ordered=False)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("relay_kind", BOTH)
def test_ls_and_view_216(lttng_sid, sid, make_relay, relay_kind):
    """`ctflive ls` speaks live protocol 2.15 to lttng-relayd 2.16 and to
    ctflive-relayd: it lists a CTF 2 and a CTF 1.8 session with their
    formats, exactly as babeltrace2 2.1.2 does, and `ctflive view net://...`
    prints every event of the CTF 1.8 one."""
    relay = make_relay(relay_kind, "r", tools=sid)
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


# --------------------------------------------------------------------------
# CTF 2 (LTTng 2.16's default) through ctflive-relayd: relayd and live
# protocol 2.15.


# What the metadata file starts with: LTTng >= 2.14 sends text, not packets.
METADATA_START = {"ctf-2": b"\x1e", "ctf-1.8": b"/* CTF 1.8"}


@pytest.mark.parametrize("fmt", ["ctf-2", "ctf-1.8"])
@pytest.mark.parametrize("relay_kind", BOTH)
def test_live_per_uid_babeltrace212(lttng_sid, sid, make_relay, relay_kind, fmt):
    """LTTng 2.16, live, per-UID, CTF 2 (its default) or CTF 1.8 -> relay ->
    babeltrace2 2.1.2 live: every event, exit 0 at `lttng destroy`, the same
    lines as an offline read; the metadata on disk is text (a JSON text
    sequence for CTF 2, TSDL for CTF 1.8). babeltrace2 2.1.2 dying of
    SIGSEGV (its own crash, seen with either relay) runs the scenario once
    more; anything else fails at once."""
    relay = make_relay(relay_kind, "r", tools=sid)
    lttng_sid.create_extra = [f"--trace-format={fmt}"]
    n = 200

    def scenario(attempt: int) -> tuple[int, list[str], str, str]:
        session = f"lu{attempt}"
        ls.setup_session(lttng_sid, relay, session)
        bt = bt_live(sid, relay, session)
        try:
            ls.wait_clients(relay, session)
            lttng_sid.run_app(n, 1000, "lu")
            time.sleep(3 * TIMER_US / 1e6)
            ls.end_sessions(lttng_sid, session)
            return (*bt.finish(), session)
        finally:
            bt.stop()

    rc, lines, err, session = h.once_more_on_peer_failure(
        scenario, lambda r: h.bt212_sigsegv(r[0], r[2]))
    assert rc == 0, err
    assert h.tick_indices(lines, "lu") == list(range(n))
    off = h.babeltrace(relay.session_dir(session), tools=sid)
    assert off.rc == 0, off.err
    assert lines == off.lines
    md = sorted(relay.session_dir(session).rglob("metadata"))
    assert md and md[0].read_bytes().startswith(METADATA_START[fmt]), md


def test_ctf2_live_per_pid_short_lived(lttng_sid, sid, make_relay):
    """Per-PID CTF 2 session, three programs, one living less than a live
    timer period, viewer attached before any of them: babeltrace2 2.1.2
    prints every event of every program.

    babeltrace2 2.1.2's lttng-live source now and then dies of SIGSEGV in
    this per-PID pattern (seen against lttng-relayd 2.16 too, with no
    ctflive program in the pipeline): that crash of the peer, and only
    that, runs the scenario once more in a new session; anything else
    fails at once."""
    relay = make_relay("ctflive-relayd", "r")
    counts = {"pa": 200, "pb": 10, "pc": 100}

    def scenario(attempt: int) -> tuple[int, list[str], str]:
        session = f"c2p{attempt}"
        ls.setup_session(lttng_sid, relay, session, buffers="pid")
        bt = bt_live(sid, relay, session)
        try:
            ls.wait_clients(relay, session)
            a = lttng_sid.spawn_app(counts["pa"], 2000, "pa")
            time.sleep(0.2)
            lttng_sid.wait_app(lttng_sid.spawn_app(counts["pb"], 100, "pb"))
            c = lttng_sid.spawn_app(counts["pc"], 2000, "pc")
            lttng_sid.wait_app(a)
            lttng_sid.wait_app(c)
            time.sleep(3 * TIMER_US / 1e6)
            ls.end_sessions(lttng_sid, session)
            return bt.finish()
        finally:
            bt.stop()

    rc, lines, err = h.once_more_on_peer_failure(
        scenario, lambda r: h.bt212_sigsegv(r[0], r[2]))
    assert rc == 0, err
    for name, n in counts.items():
        assert h.tick_indices(lines, name) == list(range(n)), name


def test_ctf2_output_like_lttng_relayd_216(lttng_sid, sid, make_relay):
    """The same CTF 2 live session sent to lttng-relayd 2.16 and to
    ctflive-relayd: same file names, index headers, babeltrace2 2.1.2 text."""
    ref = make_relay("lttng-relayd", "ref", tools=sid)
    cand = make_relay("ctflive-relayd", "cand")
    pair = h.SessionPair(lttng_sid, ref, cand)
    pair.setup("live", buffers="uid", subbuf_size=65536, num_subbuf=8)
    lttng_sid.run_app(300, 500, "eq")
    time.sleep(3 * TIMER_US / 1e6)
    pair.finish()
    problems = pair.compare()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("relay_kind", BOTH)
def test_old_viewers_do_not_see_ctf2(lttng_sid, sid, make_relay, relay_kind):
    """Viewers below live protocol 2.15 (babeltrace2 2.0.4 announces 2.4)
    are not shown CTF 2 sessions and cannot attach to them; CTF 1.8
    sessions work as before. ctflive-relayd behaves as lttng-relayd 2.16."""
    relay = make_relay(relay_kind, "r", tools=sid)
    ls.setup_session(lttng_sid, relay, "new2")
    lttng_sid.create_extra = ["--trace-format=ctf-1.8"]
    ls.setup_session(lttng_sid, relay, "old18")
    url = ls.live_url(relay)
    # babeltrace2 2.0.4 (host): lists the CTF 1.8 session only.
    bt = subprocess.run(["babeltrace2", "-i", "lttng-live", url], capture_output=True,
                        text=True, timeout=30, env=ls.env())
    assert bt.returncode == 0, bt.stderr
    assert [x.split(" (")[0] for x in bt.stdout.splitlines()] == \
        [f"{url}/host/{ls.HOST}/old18"], bt.stdout
    with lc.LiveConn(relay.ports.live) as new, lc.LiveConn(relay.ports.live) as old:
        # Both relays answer their own minor (15); each side uses the minimum.
        assert new.connect(minor=15)[2] == 15
        listed = {s.name: (s, fmt) for s, fmt in new.list_sessions_2_15()}
        assert listed["new2"][1] == 1 and listed["old18"][1] == 0, listed
        assert old.connect(minor=4)[2] == 15
        assert [s.name for s in old.list_sessions()] == ["old18"]
        assert old.create_session() == lc.CREATE_SESSION_OK
        status, _ = old.attach(listed["new2"][0].id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_UNK
        status, _ = old.attach(listed["old18"][0].id, lc.SEEK_BEGINNING)
        assert status == lc.ATTACH_OK
    ls.end_sessions(lttng_sid, "new2", "old18")


def test_two_babeltrace212_viewers_ctf2(lttng_sid, sid, make_relay):
    """Two babeltrace2 2.1.2 viewers on one CTF 2 session each print every
    event (lttng-relayd accepts one viewer per session)."""
    relay = make_relay("ctflive-relayd", "r")
    ls.setup_session(lttng_sid, relay, "two")
    views = [bt_live(sid, relay, "two") for _ in range(2)]
    try:
        ls.wait_clients(relay, "two", 2)
        n = 150
        lttng_sid.run_app(n, 1000, "tw")
        time.sleep(3 * TIMER_US / 1e6)
        ls.end_sessions(lttng_sid, "two")
        results = [v.finish() for v in views]
    finally:
        for v in views:
            v.stop()
    for rc, lines, err in results:
        assert rc == 0, err
        assert h.tick_indices(lines, "tw") == list(range(n))
    assert results[0][1] == results[1][1]


@pytest.mark.parametrize("fmt", ["ctf-2", "ctf-1.8"])
def test_kill9_recovery_216(lttng_sid, sid, make_relay, fmt):
    """kill -9 of ctflive-relayd during a live LTTng 2.16 session (CTF 2 or
    CTF 1.8, text metadata), then a restart: the recovered trace reads with
    babeltrace2 2.1.2 and holds every event a live viewer had printed (only
    published packets reach a viewer)."""
    relay = make_relay("ctflive-relayd", "r")
    lttng_sid.create_extra = [f"--trace-format={fmt}"]
    ls.setup_session(lttng_sid, relay, "k9")
    bt = bt_live(sid, relay, "k9")
    app = None
    try:
        ls.wait_clients(relay, "k9")
        app = lttng_sid.spawn_app(100000, 1000, "k9")
        h.wait_for(lambda: len(h.tick_indices([x.line for x in bt.lines], "k9")) > 100, 30,
                   what="events printed live")
        seen = h.tick_indices([x.line for x in bt.lines], "k9")
        relay.kill()
    finally:
        bt.stop()
        if app is not None:
            h.stop_popen(app)
    sdir = relay.session_dir("k9")
    with contextlib.suppress(Exception):
        lttng_sid.destroy("k9", check=False)
    (relay.dir / "ports").unlink(missing_ok=True)
    relay.start()
    h.wait_for(lambda: (sdir / ".ctflive-session").read_text().strip() == "recovered", 10,
               what="recovered marker")
    off = h.babeltrace(sdir, tools=sid)
    assert off.rc == 0, off.err
    got = set(h.tick_indices(off.lines, "k9"))
    assert set(seen) <= got, sorted(set(seen) - got)[:10]
