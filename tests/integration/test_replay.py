# SPDX-License-Identifier: MIT
"""The relay fed by the test-side protocol client: a well-formed hand-built
session, and replays of real LTTng 2.13.9 client byte streams whose
lttng-relayd output is known (fixtures/relay-output)."""

import filecmp
import shutil
from pathlib import Path

import pytest

import lttng_harness as h
import relayd_client as rc

RELAYS = ["lttng-relayd", "ctflive-relayd"]


def fixtures():
    d = h.fixtures_dir()
    if d is None:
        pytest.skip("CTFLIVE_FIXTURES_DIR not set or missing")
    return d


def compare_with_fixture(out_dir: Path, fixture_dir: Path, expect_txt: Path) -> list[str]:
    problems = []
    got = h.tree_files(out_dir)
    want = h.tree_files(fixture_dir)
    if sorted(got) != sorted(want):
        problems.append(f"files differ: missing {sorted(set(want) - set(got))}, "
                        f"extra {sorted(set(got) - set(want))}")
    for rel in sorted(set(got) & set(want)):
        if not filecmp.cmp(got[rel], want[rel], shallow=False):
            problems.append(f"{rel}: content differs ({got[rel].stat().st_size} bytes, "
                            f"lttng-relayd wrote {want[rel].stat().st_size})")
    bt = h.babeltrace(out_dir)
    if bt.rc != 0:
        problems.append(f"babeltrace2 failed ({bt.rc}): {bt.err[-2000:]}")
    expect = expect_txt.read_text().splitlines()
    if bt.lines != expect:
        problems.append(f"babeltrace2 output differs from {expect_txt.name}: "
                        f"{len(bt.lines)} lines vs {len(expect)}")
    return problems


@pytest.mark.parametrize("relay_kind", RELAYS)
def test_good_session(make_relay, relay_kind):
    """A complete well-formed session from the Python client is readable."""
    relay = make_relay(relay_kind, "r")
    res = rc.good_session(relay.ports.control, relay.ports.data)
    assert res["path"].startswith("goodhost/good-"), res
    d = relay.output / res["path"]
    bt = h.babeltrace(d)
    assert bt.rc == 0, bt.err
    assert [int(line.rsplit("index = ", 1)[1].rstrip(" }")) for line in bt.lines] == \
        list(range(res["events"]))
    tdir = d / "ust" / "uid" / "1000" / "64-bit"
    assert sorted(h.tree_files(tdir)) == ["chan_0", "index/chan_0.idx", "metadata"]
    assert not h.check_index_consistent(tdir / "index" / "chan_0.idx", tdir / "chan_0")
    idx = h.read_index(tdir / "index" / "chan_0.idx")
    assert (idx.magic, idx.major, idx.minor, idx.entry_len) == (h.INDEX_MAGIC, 1, 1, 72)
    assert len(idx.entries) == 4
    assert relay.alive()


@pytest.fixture(scope="module")
def live_uid_capture():
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    pcap = fixtures() / "captures" / "live-uid.pcap"
    return rc.load_pcap(pcap, 15342, 15343, ctrl_stream=0, data_stream=1)


@pytest.mark.parametrize("relay_kind", RELAYS)
def test_replay_live_uid_capture(make_relay, relay_kind, live_uid_capture):
    """Replay captures/live-uid.pcap (real sessiond+consumerd, live per-UID)
    with its original interleaving of control and data messages: the output
    must be byte-identical to what lttng-relayd wrote for that session."""
    cap = live_uid_capture
    assert (len(cap.ctrl_c2s), len(cap.ctrl_s2c), len(cap.data_c2s)) == (5512, 263, 39734)
    relay = make_relay(relay_kind, "r")
    r = rc.replay(relay.ports.control, relay.ports.data, cap.ctrl_c2s, cap.ctrl_s2c,
                  cap.data_c2s, order=cap.order, times=cap.times)
    r.close()
    name = "rrlive1-20261129-105018"
    out = h.find_session_dir(relay.output, name)
    # The relay closes the streams once the last data arrived; wait for the
    # last index entry before comparing.
    fix = fixtures() / "relay-output"
    want_idx = fix / name / "ust/uid/0/64-bit/index/channel0_0.idx"
    got_idx = out / "ust/uid/0/64-bit/index/channel0_0.idx"
    h.wait_for(lambda: got_idx.exists() and
               got_idx.stat().st_size == want_idx.stat().st_size, 10,
               what="last index entry")
    problems = compare_with_fixture(out, fix / name, fix / f"{name}.expect.txt")
    if relay_kind == "ctflive-relayd":
        problems += h.check_ctflive_markers([out])
    assert not problems, "\n".join(problems)
    assert relay.alive()


@pytest.mark.parametrize("relay_kind", RELAYS)
def test_replay_forced_minor7(make_relay, relay_kind):
    """Replay captures/forced-minor/m7.* (2.4 CREATE_SESSION, 2.2 ADD_STREAM
    with full paths, 64-byte SEND_INDEX): output equal to lttng-relayd's
    rrm7 session, v1.0 indexes."""
    cdir = fixtures() / "captures" / "forced-minor"
    relay = make_relay(relay_kind, "r")
    r = rc.replay(relay.ports.control, relay.ports.data,
                  (cdir / "m7.1.ctrl.c2s").read_bytes(), (cdir / "m7.1.ctrl.s2c").read_bytes(),
                  (cdir / "m7.2.data.c2s").read_bytes())
    r.close()
    name = "rrm7-20261129-105252"
    out = h.find_session_dir(relay.output, name)
    fix = fixtures() / "relay-output"
    want_idx = fix / name / "ust/uid/0/64-bit/index/channel0_1.idx"
    got_idx = out / "ust/uid/0/64-bit/index/channel0_1.idx"
    h.wait_for(lambda: got_idx.exists() and
               got_idx.stat().st_size == want_idx.stat().st_size, 10,
               what="last index entry")
    problems = compare_with_fixture(out, fix / name, fix / f"{name}.expect.txt")
    if relay_kind == "ctflive-relayd":
        problems += h.check_ctflive_markers([out])
    assert not problems, "\n".join(problems)
    idx = h.read_index(got_idx)
    assert (idx.major, idx.minor, idx.entry_len) == (1, 0, 56)
    assert relay.alive()


def settled_tree(root, timeout: float = 10.0) -> dict:
    """Wait until the files under root stop changing (names and sizes)."""
    import time

    def snap():
        return {rel: p.stat().st_size for rel, p in h.tree_files(root).items()}

    last, stable_since = snap(), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        cur = snap()
        if cur != last:
            last, stable_since = cur, time.monotonic()
        elif time.monotonic() - stable_since >= 0.4:
            break
    return last


# capture -> [(ctrl tcp stream, data tcp stream), ...] in the order to replay
CAPTURES = {
    "live-pid": [(0, 1)],
    "live-clear": [(0, 1)],
    "rotate-clear-nonlive": [(0, 1)],
    "snapshot": [(0, 1), (2, 3)],
}


@pytest.fixture(scope="module")
def captures():
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    cache = {}

    def get(name):
        if name not in cache:
            pcap = fixtures() / "captures" / f"{name}.pcap"
            cache[name] = [rc.load_pcap(pcap, 15342, 15343, c, d) for c, d in CAPTURES[name]]
        return cache[name]

    return get


@pytest.mark.parametrize("capture", list(CAPTURES) + ["forced-minor-11"])
@pytest.mark.parametrize("candidate", ["lttng-relayd", "ctflive-relayd"])
def test_replay_capture_same_as_lttng_relayd(make_relay, captures, candidate, capture):
    """Replay a real client byte stream into lttng-relayd and into the
    candidate: both output trees must be byte-identical (same messages in,
    same timestamps, so even chunk and archive names match)."""
    if capture == "forced-minor-11":
        cdir = fixtures() / "captures" / "forced-minor"
        caps = [rc.Capture((cdir / "m11.1.ctrl.c2s").read_bytes(),
                           (cdir / "m11.1.ctrl.s2c").read_bytes(),
                           (cdir / "m11.2.data.c2s").read_bytes(), order=None)]
    else:
        caps = captures(capture)
    outs = []
    for kind, label in (("lttng-relayd", "ref"), (candidate, "cand")):
        relay = make_relay(kind, label)
        for cap in caps:
            r = rc.replay(relay.ports.control, relay.ports.data, cap.ctrl_c2s, cap.ctrl_s2c,
                          cap.data_c2s, order=cap.order or None, times=cap.times)
            r.close()
        settled_tree(relay.output)
        assert relay.alive(), relay.log()[-2000:]
        outs.append(relay.output)
    ref, cand = outs
    if candidate == "ctflive-relayd":
        problems = h.check_ctflive_markers(sorted(p.parent for p in
                                                  cand.rglob(h.CTFLIVE_MARKER)))
        assert not problems, "\n".join(problems)
    fref, fcand = h.tree_files(ref), h.tree_files(cand)
    assert sorted(fcand) == sorted(fref), \
        f"only lttng-relayd: {sorted(set(fref) - set(fcand))}, " \
        f"only candidate: {sorted(set(fcand) - set(fref))}"
    differ = [rel for rel in sorted(fref) if not filecmp.cmp(fref[rel], fcand[rel], shallow=False)]
    assert not differ, f"content differs: {differ}"
    # And the traces are readable: every directory holding a metadata file.
    for meta in sorted(p for rel, p in fcand.items() if rel.endswith("/metadata")):
        bt = h.babeltrace(meta.parent)
        assert bt.rc == 0, f"{meta.parent}: {bt.err[-1000:]}"
