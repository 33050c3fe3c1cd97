# SPDX-License-Identifier: MIT
"""--group-output-by-host (-p) and --group-output-by-session (-s): with the
same option, lttng-relayd and ctflive-relayd name a session's directory the
same way (OUTPUT/HOST/SESSION-DATETIME or OUTPUT/SESSION/HOST-DATETIME, and
with a custom trace directory OUTPUT/HOST/TRACEDIR or
OUTPUT/SESSION/HOST-DATETIME/TRACEDIR) and write the same trace there."""

import re
import socket

import pytest

import lttng_harness as h

DATETIME = r"\d{8}-\d{6}"


def session_dirs(output, depth):
    """Directories `depth` levels below `output`, relative, that hold a trace."""
    found = []
    for meta in output.rglob("metadata"):
        rel = meta.parent.relative_to(output)
        # SESSION-DIR/ust/uid/UID/64-bit/metadata: keep the session part.
        found.append("/".join(rel.parts[:depth]))
    return sorted(set(found))


@pytest.mark.parametrize("grouping", ["host", "session"])
@pytest.mark.parametrize("custom", [False, True], ids=["default-dir", "custom-dir"])
def test_grouping_matches_lttng_relayd(lttng, make_relay, grouping, custom):
    opt = f"--group-output-by-{grouping}"
    ref = make_relay("lttng-relayd", "ref", extra=[opt])
    cand = make_relay("ctflive-relayd", "cand", extra=[opt])
    urls = {}
    if custom:
        urls = {name: f"net://127.0.0.1:{r.ports.control}:{r.ports.data}/custom/{name}"
                for name, r in (("sref", ref), ("scand", cand))}
    pair = h.SessionPair(lttng, ref, cand, urls=urls)
    pair.setup("network", buffers="uid", subbuf_size=16384, num_subbuf=8)
    lttng.run_app(200, interval_us=200, name="grp")
    pair.finish()

    host = re.escape(socket.gethostname())
    dirs = {}
    for name, relay in pair.relays.items():
        sess = re.escape(name)
        if grouping == "host":
            want = rf"{host}/custom/{sess}" if custom else rf"{host}/{sess}-{DATETIME}"
            depth = 3 if custom else 2
        else:
            want = rf"{sess}/{host}-{DATETIME}" + (rf"/custom/{sess}" if custom else "")
            depth = 4 if custom else 2
        found = session_dirs(relay.output, depth)
        assert len(found) == 1 and re.fullmatch(want, found[0]), (relay.kind, found, want)
        dirs[name] = relay.output / found[0]
    problems = h.compare_trace_dirs(dirs["sref"], dirs["scand"], cand_kind="ctflive-relayd")
    assert not problems, "\n".join(problems)
    bt = h.babeltrace(dirs["scand"])
    assert bt.rc == 0, bt.err
    assert h.tick_indices(bt.lines, "grp") == list(range(200))
