# SPDX-License-Identifier: MIT
"""Non-live session kinds recorded by lttng-relayd and the candidate relay at
once: plain network session, rotate + clear, snapshots, tracefile size/count
ring, forced lower protocol minor. The first four run with the host's LTTng
2.13 and with today's LTTng 2.16 (CTF 2, its default; lttng-relayd and
babeltrace2 2.1.2 from the Debian sid root, see sidroot.py)."""

import re
import time

import pytest

import lttng_harness as h
import relayd_client as rc
from conftest import CANDIDATES


def assert_no_problems(problems):
    assert not problems, "\n".join(problems)


@pytest.fixture(params=["lttng-2.13", "lttng-2.16"])
def lt(request):
    """The session daemon of a test: the host's LTTng 2.13, or LTTng 2.16
    (its default trace format, CTF 2) from the sid root. lt.tools says which
    lttng-relayd and babeltrace2 go with it."""
    return request.getfixturevalue("lttng" if request.param == "lttng-2.13" else "lttng_sid")


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_network_session(lt, make_relay, candidate):
    lttng = lt
    """c. Plain (non-live) network session, per-UID buffers."""
    ref = make_relay("lttng-relayd", "ref", tools=lttng.tools)
    cand = make_relay(candidate, "cand", tools=lttng.tools)
    pair = h.SessionPair(lttng, ref, cand)
    pair.setup("network", buffers="uid", subbuf_size=16384, num_subbuf=8)
    lttng.run_app(500, interval_us=200, name="net")
    pair.finish()
    dref, dcand = pair.session_dir("ref"), pair.session_dir("cand")
    bt = h.babeltrace(dcand, tools=lttng.tools)
    assert bt.rc == 0, bt.err
    assert h.tick_indices(bt.lines, "net") == list(range(500))
    assert_no_problems(pair.compare())


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_rotate_twice_and_clear(lt, make_relay, candidate):
    lttng = lt
    """c. Non-live session: run 1, rotate, run 2, rotate, run 3, clear, run 4.
    The two archives keep runs 1 and 2, clear drops run 3, the last chunk
    (archived at destroy) holds run 4."""
    ref = make_relay("lttng-relayd", "ref", tools=lttng.tools)
    cand = make_relay(candidate, "cand", tools=lttng.tools)
    pair = h.SessionPair(lttng, ref, cand)
    pair.setup("network", buffers="uid", subbuf_size=16384, num_subbuf=8)
    lttng.run_app(100, interval_us=200, name="r1")
    pair.each(lttng.rotate)
    lttng.run_app(100, interval_us=200, name="r2")
    pair.each(lttng.rotate)
    lttng.run_app(100, interval_us=200, name="r3")
    pair.each(lttng.clear)
    lttng.run_app(100, interval_us=200, name="r4")
    pair.finish()

    dref, dcand = pair.session_dir("ref"), pair.session_dir("cand")
    for d in (dref, dcand):
        bt = h.babeltrace(d, tools=lttng.tools)
        assert bt.rc == 0, f"{d}: {bt.err}"
        for name, want in (("r1", 100), ("r2", 100), ("r3", 0), ("r4", 100)):
            assert h.tick_indices(bt.lines, name) == list(range(want)), (d, name)
        archives = sorted((d / "archives").iterdir())
        assert len(archives) == 3, archives
    assert_no_problems(pair.compare())
    # Each archive is a trace on its own.
    for a in sorted((dcand / "archives").iterdir()):
        assert h.babeltrace(a, tools=lttng.tools).rc == 0, a


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_snapshot_records(lt, make_relay, candidate):
    lttng = lt
    """c. Snapshot session, `lttng snapshot record` twice: each snapshot is
    a complete trace; the second holds both runs (buffers are not emptied)."""
    ref = make_relay("lttng-relayd", "ref", tools=lttng.tools)
    cand = make_relay(candidate, "cand", tools=lttng.tools)
    pair = h.SessionPair(lttng, ref, cand)
    pair.setup("snapshot", buffers="uid", subbuf_size=16384, num_subbuf=8)
    lttng.run_app(100, interval_us=200, name="n1")
    pair.each(lttng.snapshot_record)
    lttng.run_app(100, interval_us=200, name="n2")
    pair.each(lttng.snapshot_record)
    pair.finish()

    dref, dcand = pair.session_dir("ref"), pair.session_dir("cand")
    snaps = {}
    for label, d in (("ref", dref), ("cand", dcand)):
        snaps[label] = sorted(p for p in d.iterdir() if p.name.startswith("snapshot-"))
        assert len(snaps[label]) == 2, snaps[label]
    for s_ref, s_cand in zip(snaps["ref"], snaps["cand"]):
        assert h.normalise_relpath(s_ref.name) == h.normalise_relpath(s_cand.name)
        bt = h.babeltrace(s_cand, tools=lttng.tools)
        assert bt.rc == 0, bt.err
        assert h.tick_indices(bt.lines, "n1") == list(range(100))
        assert_no_problems(h.compare_trace_dirs(s_ref, s_cand, check_indexes=False,
                                                   tools=lttng.tools))
    if pair.cand_kind == "ctflive-relayd":
        assert_no_problems(h.check_ctflive_markers([dcand]))
    bt2 = h.babeltrace(snaps["cand"][1], tools=lttng.tools)
    assert h.tick_indices(bt2.lines, "n2") == list(range(100))
    # Snapshots carry no index.
    assert not [p for p in dcand.rglob("*.idx")]


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_tracefile_size_count_wrap(lt, make_relay, candidate):
    lttng = lt
    """c. Channel with --tracefile-size/--tracefile-count small enough to
    wrap: the oldest tracefiles are overwritten, what remains is readable and
    the same as lttng-relayd's."""
    ref = make_relay("lttng-relayd", "ref", tools=lttng.tools)
    cand = make_relay(candidate, "cand", tools=lttng.tools)
    pair = h.SessionPair(lttng, ref, cand)
    # 4 KiB packets, two per tracefile, three tracefiles per stream.
    pair.setup("network", channel="chtf", buffers="uid", subbuf_size=4096, num_subbuf=8,
               tracefile_size=8192, tracefile_count=3)
    lttng.run_app(1500, interval_us=250, name="tf")
    pair.finish()

    dref, dcand = pair.session_dir("ref"), pair.session_dir("cand")
    for d in (dref, dcand):
        bt = h.babeltrace(d, tools=lttng.tools)
        assert bt.rc == 0, f"{d}: {bt.err}"
        got = h.tick_indices(bt.lines, "tf")
        # Wrapped: old packets are gone (per CPU, so the very first events may
        # survive on a CPU that wrote little), in order, no duplicates; the
        # end is there unless the tracer itself discarded events (4 KiB
        # sub-buffers on a loaded machine).
        assert got and len(got) < 1500 and got == sorted(set(got)), (d, len(got))
        if not re.search(r"discarded \d+ events", bt.err):
            assert got[-1] == 1499, (d, len(got), got[-3:])
    files = [p.name for p in (dcand / "ust").rglob("chtf_*") if p.parent.name != "index"]
    assert any(f.endswith("_2") for f in files), files
    # Packet boundaries are the same for both sessions only up to sub-buffer
    # switch timing; the set of surviving events can differ at the edges, so
    # compare layout, index headers and index/data agreement, and that the
    # candidate kept at least as much as lttng-relayd's ring.
    problems = pair.compare()
    problems = [p for p in problems if not p.startswith("babeltrace2 output differs")]
    assert_no_problems(problems)


@pytest.mark.parametrize("minor", [11, 7])
@pytest.mark.parametrize("candidate", CANDIDATES)
def test_forced_minor(lttng, make_relay, candidate, minor):
    """d. A proxy rewrites the minor in VERSION (request and reply) so the
    2.13 sessiond/consumerd speak protocol 2.<minor> to the relay."""
    ref = make_relay("lttng-relayd", "ref")
    cand = make_relay(candidate, "cand")
    proxies = [rc.MinorProxy(r.ports.control, r.ports.data, minor).start() for r in (ref, cand)]
    try:
        pair = h.SessionPair(lttng, ref, cand, urls={"sref": proxies[0].url,
                                                     "scand": proxies[1].url})
        pair.setup("live", timer_us=100000, buffers="uid", subbuf_size=16384, num_subbuf=8)
        lttng.run_app(300, interval_us=500, name=f"m{minor}")
        time.sleep(0.3)
        pair.finish()
        # The consumerd closes its relay connections shortly after destroy.
        for p in proxies:
            assert p.wait_idle(10), "connections through the proxy still open"
    finally:
        for p in proxies:
            p.stop()
    for p in proxies:
        assert p.versions_seen and all(v == (2, 13) for v in p.versions_seen), p.versions_seen
        assert not p.errors, p.errors
    dref, dcand = pair.session_dir("ref"), pair.session_dir("cand")
    bt = h.babeltrace(dcand)
    assert bt.rc == 0, bt.err
    assert h.tick_indices(bt.lines, f"m{minor}") == list(range(300))
    assert_no_problems(pair.compare())
    idx_files = list(dcand.rglob("*.idx"))
    assert idx_files
    for p in idx_files:
        idx = h.read_index(p)
        want = (1, 0, 56) if minor < 8 else (1, 1, 72)
        assert (idx.major, idx.minor, idx.entry_len) == want, p
