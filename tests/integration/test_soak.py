# SPDX-License-Identifier: MIT
"""Soak: N producers x M live viewers for a configurable time (off by
default). Every viewer must get every event of its session, and once every
session ended the relay's RSS and descriptors must be back to baseline.

  CTFLIVE_SOAK_SECONDS=600 CTFLIVE_SOAK_PRODUCERS=16 CTFLIVE_SOAK_VIEWERS=4 \\
    /usr/bin/python3 -m pytest tests/integration/test_soak.py -s

Prints the figures (packets, events, rates, RSS and descriptors).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import live_client as lc
import lttng_harness as h
import relayd_client as rc

SECONDS = float(os.environ.get("CTFLIVE_SOAK_SECONDS", "0"))
PRODUCERS = int(os.environ.get("CTFLIVE_SOAK_PRODUCERS", "4"))
VIEWERS = int(os.environ.get("CTFLIVE_SOAK_VIEWERS", "2"))
PER_PACKET = 50

pytestmark = [
    pytest.mark.skipif(SECONDS <= 0, reason="soak: set CTFLIVE_SOAK_SECONDS"),
    pytest.mark.skipif(not h.have_ctflive_relayd(), reason="ctflive-relayd not built"),
]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Producer(threading.Thread):
    def __init__(self, relay: h.Relay, name: str, until: float):
        super().__init__(daemon=True)
        self.g = rc.GoodSession(relay.ports.control, relay.ports.data, name=name,
                                hostname="soak", live_timer=100000)
        self.until = until
        self.sent = 0
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            self.g.setup()
            self.ready.set()
            seq = 0
            while time.monotonic() < self.until:
                pk = rc.make_packet(seq * PER_PACKET, PER_PACKET, seq)
                self.g.d.send_packet(self.g.data_h, seq, pk.data, pk.padding)
                assert self.g.c.send_index(self.g.data_h, seq, pk.index) == rc.LTTNG_OK
                seq += 1
                if seq % 20 == 0:
                    time.sleep(0.01)
            self.sent = seq
            self.g.packets = seq
            self.g.finish()
        except BaseException as e:  # reported by the test
            self.error = e
            self.ready.set()


class Viewer(threading.Thread):
    def __init__(self, relay: h.Relay, name: str, timeout: float):
        super().__init__(daemon=True)
        self.v = lc.LiveViewer(relay.ports.live, name)
        self.timeout = timeout
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.v.open()
            self.v.run_until_hup(timeout=self.timeout, interval=0.01)
        except BaseException as e:
            self.error = e
        finally:
            self.v.close()


def test_soak(make_relay):
    relay = make_relay("ctflive-relayd")
    pid = relay.proc.pid
    rc.good_session(relay.ports.control, relay.ports.data, name="warmup")
    time.sleep(1)
    base_rss, base_fds = rss_kib(pid), fds(pid)
    t0 = time.monotonic()
    until = t0 + SECONDS
    producers = [Producer(relay, f"soak{i}", until) for i in range(PRODUCERS)]
    for p in producers:
        p.start()
    for p in producers:
        p.ready.wait(30)
    viewers = {p: [Viewer(relay, p.g.name, SECONDS + 120) for _ in range(VIEWERS)]
               for p in producers}
    for vs in viewers.values():
        for v in vs:
            v.start()
    peak_rss = 0
    while any(p.is_alive() for p in producers):
        peak_rss = max(peak_rss, rss_kib(pid))
        time.sleep(1)
    for vs in viewers.values():
        for v in vs:
            v.join(SECONDS + 180)
    elapsed = time.monotonic() - t0
    problems = []
    total = 0
    for p, vs in viewers.items():
        if p.error:
            problems.append(f"{p.g.name}: producer: {p.error!r}")
            continue
        total += p.sent * PER_PACKET
        for v in vs:
            got = len(v.v.packets) * PER_PACKET
            if v.error or got != p.sent * PER_PACKET:
                problems.append(f"{p.g.name}: viewer got {got} of {p.sent * PER_PACKET} "
                                f"events ({v.error!r})")
    h.wait_for(lambda: fds(pid) <= base_fds, 30, what="descriptors back to baseline")
    time.sleep(2)
    end_rss, end_fds = rss_kib(pid), fds(pid)
    print(f"\nsoak: {PRODUCERS} producers x {VIEWERS} viewers, {elapsed:.0f} s: "
          f"{total} events sent ({total / elapsed:.0f}/s), each delivered to {VIEWERS} "
          f"viewer(s); RSS {base_rss} KiB at start, {peak_rss} peak, {end_rss} at end; "
          f"descriptors {base_fds} at start, {end_fds} at end")
    assert not problems, "\n".join(problems[:20])
    assert end_fds <= base_fds
    assert end_rss <= base_rss + 16 * 1024, (base_rss, end_rss)
    assert relay.alive()
