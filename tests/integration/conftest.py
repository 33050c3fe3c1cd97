# SPDX-License-Identifier: MIT
"""pytest fixtures shared by the integration tests (see lttng_harness.py)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lttng_harness as h  # noqa: E402

# The relay compared against lttng-relayd.  "lttng-relayd" as candidate is a
# self-check of the tests themselves (two real relays must agree); it stays in
# the default run because it is what proves a failing ctflive-relayd case is
# a relay bug and not a test bug.
CANDIDATES = ["lttng-relayd", "ctflive-relayd"]


def pytest_configure(config):
    h.set_child_subreaper()
    config.addinivalue_line("markers", "lttng: needs a real LTTng 2.13 installation")
    config.addinivalue_line("markers", "lttng_verbose: the session daemon and its consumer "
                            "daemons log verbosely (-vvv --verbose-consumer) to its log file")


def _lttng_missing_reason() -> str | None:
    missing = h.missing_tools()
    if missing:
        return f"LTTng tools not installed: {', '.join(missing)}"
    if not h.sample_app_path().exists():
        return f"ctflive-sample-app not built ({h.sample_app_path()})"
    return None


def skip_unless_relay(kind: str) -> None:
    if kind == "ctflive-relayd" and not h.have_ctflive_relayd():
        pytest.skip(f"ctflive-relayd not built ({h.ctflive_relayd_path()})")
    if kind == "lttng-relayd" and h.missing_tools():
        pytest.skip("lttng-relayd not installed")


@pytest.fixture(scope="session")
def user() -> h.User:
    return h.test_user()


@pytest.fixture
def ws(user, request):
    # Kept short: LTTNG_HOME ends up in unix socket paths (108-byte limit).
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name.replace("test_", ""))[:24]
    w = h.Workspace(user, prefix=f"ctfl-{tag}-")
    yield w
    failed = getattr(request.node, "rep_call", None)
    w.cleanup(failed=bool(failed and failed.failed))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def lttng(ws):
    reason = _lttng_missing_reason()
    if reason:
        pytest.skip(reason)
    lt = h.Lttng(ws)
    try:
        lt.start()
        yield lt
    finally:
        lt.stop()


@pytest.fixture(scope="session")
def sid(user) -> h.SidTools:
    """LTTng 2.16 and babeltrace2 2.1.2 from a Debian sid root (sidroot.py):
    built once and cached, entered in a private mount namespace."""
    import sidroot
    reason = sidroot.unavailable_reason()
    if reason:
        pytest.skip(reason)
    root = sidroot.ensure_root()
    sidroot.enter(root)
    sidroot.add_user(root, user.name, user.uid, user.gid)
    return h.SidTools(root)


@pytest.fixture
def lttng_sid(ws, sid, request):
    """A started lttng-sessiond 2.16 (from the sid root) with its own LTTNG_HOME
    (verbose with the lttng_verbose marker)."""
    lt = h.Lttng(ws, tools=sid)
    lt.verbose = request.node.get_closest_marker("lttng_verbose") is not None
    try:
        lt.start()
        yield lt
    finally:
        lt.stop()


@pytest.fixture
def make_relay(ws, request):
    """Factory: make_relay(kind, name, tools=...) -> started relay, stopped at
    teardown. `tools` chooses which lttng-relayd runs (the host's, or
    today's from the sid fixture); ctflive-relayd always runs on the host.
    A relay that died during the test is reported with its log."""
    relays: list[h.Relay] = []

    def make(kind: str, name: str | None = None, extra=(), tools=None) -> h.Relay:
        skip_unless_relay(kind)
        kw = {"tools": tools} if tools is not None and kind == "lttng-relayd" else {}
        relay = h.RELAY_KINDS[kind](ws, name or f"relay{len(relays)}-{kind}", **kw)
        relays.append(relay)
        relay.start(extra=extra)
        return relay

    yield make
    bad = []
    for r in relays:
        died = r.proc is not None and r.proc.poll() is not None
        rc = r.stop()
        # Both relays exit 0 on SIGTERM; anything else (a crash, a sanitizer
        # report, a hang that needed SIGKILL at teardown) fails the test.  A
        # SIGKILL during the test is a test killing its relay on purpose.
        if died and (rc == -9 or r.killed):
            continue
        if rc not in (0, None):
            when = "during the test" if died else "when stopped with SIGTERM"
            bad.append(f"{r.kind} ({r.name}) exited with {rc} {when}; "
                       f"log:\n{r.log()[-4000:]}")
        elif os.environ.get("CTFLIVE_IT_VERBOSE"):
            print(f"[ctflive] {r.kind} ({r.name}) log:\n{r.log()[-4000:]}")
    if bad:
        pytest.fail("\n".join(bad))


def pytest_runtest_setup(item):
    # Skip before any daemon is started when the candidate relay is absent.
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for key in ("candidate", "relay_kind"):
            kind = callspec.params.get(key)
            if kind:
                skip_unless_relay(kind)
