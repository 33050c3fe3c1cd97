# SPDX-License-Identifier: MIT
"""ctflive-relayd's commit-before-publish contract, seen from disk (the lock
protocol of the project's file-format notes): while a session is written,
each tracefile, index and metadata file is write-locked from its safe point
to the end; published index entries only describe published packets; the
safe points advance while the session runs, whether the relay runs in the
foreground or as a daemon; nothing stays locked once the session ends."""

import os
import time

import pytest

import lttng_harness as h
import relayd_client as rc


def safe_point(path):
    # A file not created yet (its packet or index not received yet) has none.
    if not path.exists():
        return 0
    start = h.unsafe_from(path)
    return path.stat().st_size if start is None else start


@pytest.mark.parametrize("mode", ["foreground", "daemon"])
def test_publish_advances_while_session_runs(ws, mode):
    pytest.importorskip("fcntl")
    if not h.have_ctflive_relayd():
        pytest.skip("ctflive-relayd not built")
    relay = h.CtfliveRelayd(ws, "r")
    relay.start(daemon=(mode == "daemon"))
    try:
        g = rc.GoodSession(relay.ports.control, relay.ports.data, name="pub").setup()
        g.send_data()
        tdir = relay.output / g.path / "ust" / "uid" / "1000" / "64-bit"
        data, idx, meta = tdir / "chan_0", tdir / "index" / "chan_0.idx", tdir / "metadata"
        want = (4 * 4096, 16 + 4 * 72, len(rc.make_metadata("goodhost")))

        def published():
            return (safe_point(data), safe_point(idx), safe_point(meta))

        try:
            h.wait_for(lambda: all(a >= b for a, b in zip(published(), want)), 5,
                       what="publication")
        except TimeoutError:
            pid = relay.daemon_pid or relay.proc.pid
            threads = len(os.listdir(f"/proc/{pid}/task"))
            pytest.fail(f"{mode}: safe points (tracefile, index, metadata) stayed at "
                        f"{published()} after 5 s, want {want}; the relay has "
                        f"{threads} thread(s)")
        # A published index entry never describes an unpublished packet.
        entries = (safe_point(idx) - 16) // 72
        ix = h.read_index(idx)
        for e in ix.entries[:entries]:
            assert e[0] + e[1] // 8 <= safe_point(data)
        g.finish()
        time.sleep(0.2)
        h.wait_for(lambda: all(h.unsafe_from(p) is None for p in (data, idx, meta)), 5,
                   what="locks released at the end of the session")
        assert relay.alive()
    finally:
        rc_ = relay.stop()
    assert rc_ in (0, None), f"relay exited with {rc_}: {relay.log()[-2000:]}"
