# SPDX-License-Identifier: MIT
"""Helpers for the live viewer server tests (test_live_server.py) and the
live benchmark: babeltrace2 live viewers, waiting for attachments, live
sessions with the sample program."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

import live_client as lc
import lttng_harness as h

HOST = socket.gethostname()


def env() -> dict[str, str]:
    return dict(os.environ, TZ="UTC", LANG="C")


def live_url(relay: h.Relay, session: str | None = None) -> str:
    base = f"net://{h.LOCALHOST}:{relay.ports.live}"
    return f"{base}/host/{HOST}/{session}" if session else base


def setup_session(lttng: h.Lttng, relay: h.Relay, name: str, buffers: str = "uid",
                  timer_us: int = 100000, subbuf_size: int = 16384, num_subbuf: int = 8,
                  start: bool = True) -> None:
    lttng.create_live(name, relay, timer_us)
    lttng.enable_channel(name, "ch", buffers=buffers, subbuf_size=subbuf_size,
                         num_subbuf=num_subbuf)
    lttng.enable_event(name, channel="ch")
    if start:
        lttng.start_session(name)


def end_sessions(lttng: h.Lttng, *names: str) -> None:
    """`lttng stop` then `lttng destroy` of each session."""
    for n in names:
        lttng.stop_session(n)
        lttng.destroy(n)


def session_clients(relay: h.Relay, name: str) -> int:
    """`clients` of the (first) listed session called name, -1 if not listed."""
    with lc.LiveConn(relay.ports.live) as c:
        # Announce 2.15: a relay of 2.15 or later lists CTF 2 sessions too.
        _vid, _major, minor, _type = c.connect(minor=15)
        listed = ([s for s, _fmt in c.list_sessions_2_15()] if minor >= 15
                  else c.list_sessions())
        for s in listed:
            if s.name == name:
                return s.clients
    return -1


def wait_clients(relay: h.Relay, name: str, n: int = 1, timeout: float = 10.0) -> None:
    h.wait_for(lambda: session_clients(relay, name) >= n, timeout,
               what=f"{n} viewer(s) attached to {name}")


@dataclass
class TimedLine:
    t: float  # time.time() when the line was read from the viewer's stdout
    line: str


@dataclass
class BtLive:
    """A `babeltrace2 -i lttng-live` process whose stdout lines are read (and
    time-stamped) by a thread as they come."""

    url: str
    extra: Sequence[str] = ()
    prefix: Sequence[str] = ()  # e.g. ("stdbuf", "-oL") for line-buffered output
    proc: subprocess.Popen | None = None
    lines: list[TimedLine] = field(default_factory=list)
    _reader: threading.Thread | None = None
    err: str = ""

    def start(self) -> "BtLive":
        argv = [*self.prefix, "babeltrace2", "-i", "lttng-live", *self.extra, self.url]
        self.proc = subprocess.Popen(argv, env=env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(TimedLine(time.time(), line.rstrip("\n")))

    def finish(self, timeout: float = 30.0) -> tuple[int, list[str], str]:
        """Waits for the viewer to exit: (rc, lines, stderr). Kills it and
        fails if it does not exit in time."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            h.stop_popen(self.proc)
            self._reader.join(5)
            self.err = self.proc.stderr.read()
            raise AssertionError(f"babeltrace2 live viewer of {self.url} did not exit "
                                 f"within {timeout}s; stderr: {self.err[-2000:]}")
        self._reader.join(10)
        self.err = self.proc.stderr.read()
        return self.proc.returncode, [x.line for x in self.lines], self.err

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            h.stop_popen(self.proc)


def ctflive_cli() -> str:
    return str(h.build_dir() / "src" / "cli" / "ctflive")


def have_ctflive_cli() -> bool:
    return os.access(ctflive_cli(), os.X_OK)
