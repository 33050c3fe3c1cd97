# SPDX-License-Identifier: MIT
"""`ctflive web`: the page in headless Chromium (Debian's chromium and
chromium-driver, driven with python3-selenium) against ctflive-relayd and
lttng-relayd 2.13 with a live session of the sample program; hostile
strings in trace fields; the access token of non-localhost listeners.

Screenshots go to $CTFLIVE_BUILD_DIR/test-artifacts/web-*.png.

CTFLIVE_WEB_LOAD=1 also runs the load test: 200 000 events/s for 30 s
into the session while the page is open (click latency, server memory).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import live_support as ls
import lttng_harness as h

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def artifacts_dir() -> Path:
    d = h.build_dir() / "test-artifacts"
    d.mkdir(parents=True, exist_ok=True)
    return d


class Web:
    """A running `ctflive web`."""

    def __init__(self, relay_url: str, extra=(), listen: str = "http://127.0.0.1:0"):
        if not ls.have_ctflive_cli():
            pytest.skip("ctflive not built")
        self.argv = [ls.ctflive_cli(), "web", "--listen", listen, *extra, relay_url]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=ls.env())
        self.url = self._read_url()

    def _read_url(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith("ctflive web: serving "):
                    return line.split()[3]
            if self.proc.poll() is not None:
                raise RuntimeError(f"ctflive web exited {self.proc.returncode}: "
                                   f"{self.proc.stderr.read()}")
        raise TimeoutError("ctflive web did not say where it serves")

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("ctflive web did not stop on SIGTERM")
        return self.proc.returncode


@pytest.fixture
def web_factory():
    webs: list[Web] = []

    def make(relay_url: str, **kw) -> Web:
        w = Web(relay_url, **kw)
        webs.append(w)
        return w

    yield make
    bad = []
    for w in webs:
        rc = w.stop()
        if rc != 0:
            bad.append(f"ctflive web exited {rc}: {w.proc.stderr.read()[-3000:]}")
    assert not bad, "\n".join(bad)


@pytest.fixture
def browser():
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromium-driver not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("python3-selenium not installed")
    try:
        socket.getaddrinfo("localhost", None)
    except OSError as e:
        # selenium drives chromedriver through http://localhost:PORT
        pytest.skip(f"'localhost' does not resolve here ({e}; no /etc/hosts?)")
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1100", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_script_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()


def js(drv, script: str, *args):
    return drv.execute_script(script, *args)


def wait_js(drv, script: str, timeout: float, what: str, *args):
    return h.wait_for(lambda: js(drv, script, *args), timeout, interval=0.1, what=what)


def open_session(drv, web: Web, name: str, timeout: float = 20.0) -> None:
    """Loads the page and clicks `View` on the session called name."""
    drv.get(web.url)
    wait_js(drv, "return [...document.querySelectorAll('#sessions tbody tr')]"
                 ".some(tr => tr.dataset.name === arguments[0])", timeout,
            f"session {name} listed", name)
    js(drv, "[...document.querySelectorAll('#sessions tbody tr')]"
            ".find(tr => tr.dataset.name === arguments[0])"
            ".querySelector('button.view-session').click()", name)


def row_count(drv) -> int:
    return js(drv, "return document.querySelectorAll('#rows tbody tr').length")


def visible_rows(drv) -> int:
    return js(drv, "return [...document.querySelectorAll('#rows tbody tr')]"
                   ".filter(tr => !tr.hidden).length")


def set_filter(drv, which: str, value: str) -> None:
    js(drv, "const el = document.getElementById(arguments[0]); el.value = arguments[1];"
            "el.dispatchEvent(new Event('input'));", which, value)


def wait_state(drv, states, timeout: float) -> str:
    return wait_js(drv, "const s = document.getElementById('view-state').dataset.state;"
                        "return arguments[0].includes(s) ? s : null;", timeout,
                   f"session state in {states}", list(states))


N = 8000  # 8 s of events: the page opens while the program runs


@pytest.mark.parametrize("relay_kind", ["ctflive-relayd", "lttng-relayd"])
def test_web_live_session(lttng, make_relay, web_factory, browser, relay_kind):
    """Acceptance 1 (ctflive-relayd) and 2 (lttng-relayd 2.13): rows appear
    while the program runs; shown + not shown = emitted; filters narrow the
    rows; the plot has data points; a screenshot."""
    relay = make_relay(relay_kind, "r")
    web = web_factory(ls.live_url(relay))
    ls.setup_session(lttng, relay, "webs")
    app = lttng.spawn_app(N, interval_us=1000, name="webtest")
    open_session(browser, web, "webs")
    wait_js(browser, "return document.querySelectorAll('#rows tbody tr').length > 0", 20,
            "first rows")
    assert app.poll() is None, "the program ended before the page showed a row"
    lttng.wait_app(app)
    ls.end_sessions(lttng, "webs")
    assert wait_state(browser, ("ended", "failed"), 60) == "ended", \
        js(browser, "return document.getElementById('view-message').textContent")
    c = js(browser, "return window.ctfliveWeb.counts()")
    emitted = N + 2  # start, N ticks, stop
    assert c["events"] == emitted, c
    assert c["shown"] + c["notShown"] == emitted, c
    # the rate limit (200 rows/s) was in force: some rows, not all
    assert 0 < c["shown"] < emitted and c["notShown"] > 0, c
    assert row_count(browser) == c["shown"]
    # the page's counters say the same
    assert int(js(browser, "return document.getElementById('c-shown').textContent")) \
        == c["shown"]
    assert int(js(browser, "return document.getElementById('c-notshown').textContent")) \
        == c["notShown"]

    # The first rows are always sent (burst of the rate limit): start, ticks 0..
    set_filter(browser, "filter-name", "ctflive_sample:start")
    assert visible_rows(browser) == 1
    set_filter(browser, "filter-name", "tick")
    ticks = visible_rows(browser)
    assert 0 < ticks < row_count(browser)
    set_filter(browser, "filter-text", "index = 150,")
    assert visible_rows(browser) == 1
    set_filter(browser, "filter-name", "")
    set_filter(browser, "filter-text", "")
    assert visible_rows(browser) == row_count(browser)

    assert js(browser, "return window.ctfliveWeb.plotPoints()") > 0
    assert js(browser, "return document.querySelectorAll('#plot-classes canvas').length") > 0
    # a click shows every field of the event
    js(browser, "document.querySelector('#rows tbody tr:nth-child(3)').click()")
    details = json.loads(js(browser,
                            "return document.getElementById('details-body').textContent"))
    assert details["payload"]["name"] == "webtest"
    browser.save_screenshot(str(artifacts_dir() / f"web-{relay_kind}.png"))


HOSTILE = ('<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
           '<b id="injected">bold</b>&amp;')


def test_web_escapes_trace_strings(lttng, make_relay, web_factory, browser):
    """Acceptance 3: string fields with <script> and HTML show as text."""
    relay = make_relay("ctflive-relayd", "r")
    web = web_factory(ls.live_url(relay))
    ls.setup_session(lttng, relay, "webx")
    lttng.run_app(40, interval_us=1000, name=HOSTILE)
    open_session(browser, web, "webx")
    wait_js(browser, "return document.querySelectorAll('#rows tbody tr').length >= 42", 30,
            "every row")
    ls.end_sessions(lttng, "webx")
    wait_state(browser, ("ended", "failed"), 60)
    assert js(browser, "return window.__xss") is None
    assert js(browser, "return document.getElementById('injected')") is None
    assert js(browser, "return document.querySelectorAll('#rows img, #rows b, #rows script')"
                       ".length") == 0
    cells = js(browser, "return [...document.querySelectorAll('#rows td.fields')]"
                        ".map(td => td.textContent)")
    # start, the ticks and stop carry the name
    assert sum(json.dumps(HOSTILE) in c for c in cells) == 42, cells[:3]
    js(browser, "document.querySelector('#rows tbody tr:nth-child(2)').click()")
    details = json.loads(js(browser,
                            "return document.getElementById('details-body').textContent"))
    assert details["payload"]["name"] == HOSTILE
    assert js(browser, "return document.querySelectorAll('#details img, #details b').length") \
        == 0
    browser.save_screenshot(str(artifacts_dir() / "web-hostile-strings.png"))


def http_get(url: str, headers: dict | None = None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_web_token(tmp_path, web_factory):
    """Acceptance 4: a non-localhost listener needs --token-file and refuses
    requests without the token (401); with it, it serves them."""
    relay = f"net://127.0.0.1:{h.free_port()}"  # no relay: the list says so
    r = subprocess.run([ls.ctflive_cli(), "web", "--listen", "http://127.0.0.2:0", relay],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--token-file" in r.stderr, r.stderr
    token = "k3JxW9-pQ2v_Lm8sZt4yR7bN1cF6hD0e"
    tf = tmp_path / "token"
    tf.write_text(token + "\n")
    (tmp_path / "short").write_text("abc\n")
    r = subprocess.run([ls.ctflive_cli(), "web", "--listen", "http://127.0.0.2:0",
                        "--token-file", str(tmp_path / "short"), relay],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r.stderr

    web = web_factory(relay, listen="http://127.0.0.2:0", extra=["--token-file", str(tf)])
    assert web.url.startswith("http://127.0.0.2:")
    for path in ("", "api/sessions", "app.js", "api/watch?host=a&name=b", "nothing"):
        status, hdrs, _ = http_get(web.url + path)
        assert status == 401, (path, status)
        assert "Bearer" in hdrs.get("WWW-Authenticate", "")
        status, _, _ = http_get(web.url + path, {"Authorization": "Bearer " + token[:-1] + "x"})
        assert status == 401, (path, status)
        status, _, _ = http_get(web.url + path, {"Cookie": "ctflive_token=" + token[:-1]})
        assert status == 401, (path, status)
    status, hdrs, body = http_get(web.url, {"Authorization": "Bearer " + token})
    assert status == 200 and b"ctflive web" in body
    assert "script-src 'self'" in hdrs["Content-Security-Policy"]
    status, _, body = http_get(web.url + "api/sessions", {"Cookie": "ctflive_token=" + token})
    assert status == 200
    listing = json.loads(body)
    assert listing["relay"] == relay and listing["sessions"] == []
    # the page opened with ?token= keeps it as a cookie for its requests
    status, hdrs, _ = http_get(web.url + "?token=" + token)
    assert status == 200
    cookie = hdrs["Set-Cookie"]
    assert cookie.startswith(f"ctflive_token={token};") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie

    # localhost without a token; other Host headers are refused
    local = web_factory(relay, listen="http://127.0.0.1:0")
    status, _, _ = http_get(local.url)
    assert status == 200
    status, _, _ = http_get(local.url, {"Host": "attacker.example"})
    assert status == 403



def test_web_abandoned_streams_free_their_connections(make_relay, web_factory):
    """Event streams whose clients went away give their connection back at
    once (not at their next ping): after a burst of abandoned watches beyond
    the connection limit, the next request is served within a second or two,
    and the refused connections are logged."""
    # a relay without the sessions asked: the watches wait, sending nothing
    relay = ls.live_url(make_relay("ctflive-relayd", "r"))
    web = web_factory(relay)
    port = int(web.url.rstrip("/").rsplit(":", 1)[1])
    socks = []
    for i in range(80):  # more than the 64 connections ctflive web serves at once
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(f"GET /api/watch?host=h&name=n{i % 8} HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{port}\r\n\r\n".encode())
        socks.append(s)
    served = 0
    for s in socks:
        try:
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                served += 1
        except OSError:
            pass
    assert served == 64, served  # one stream per connection up to the limit
    time.sleep(1.5)  # the first messages (the session's state) are sent and read
    for s in socks:
        s.close()
    t0 = time.monotonic()
    deadline = t0 + 20
    while True:
        try:
            status, _, body = http_get(web.url + "api/sessions")
            if status == 200:
                break
        except (OSError, urllib.error.URLError):
            pass
        assert time.monotonic() < deadline, "ctflive web did not serve again"
        time.sleep(0.1)
    # the threads notice the closed sockets within their 1 s wait
    assert time.monotonic() - t0 < 2.5, time.monotonic() - t0
    assert json.loads(body)["relay"] == relay
    assert web.stop() == 0
    err = web.proc.stderr.read()
    assert "HTTP: " in err and "limit" in err, err[-2000:]

LOAD_RATE = 200_000       # events per second
LOAD_SECONDS = 30
LOAD_PER_PACKET = 1000


def load_packet(first: int, count: int, seq: int, ts0: int, step_ns: int,
                discarded: int = 0):
    """A packet of the relay test trace (relayd_client.make_metadata()):
    events first .. first+count-1, step_ns apart from ts0."""
    import struct
    import relayd_client as rc

    content = rc.PACKET_HEADER_SIZE + count * rc.EVENT_SIZE
    size = 1 << (content - 1).bit_length()
    tb, te = ts0 + first * step_ns, ts0 + (first + count) * step_ns
    head = struct.pack("<I16sIQ", 0xC1FC1FC1, rc.TRACE_UUID.bytes, 0, 0)
    head += struct.pack("<QQQQQQI", tb, te, content * 8, size * 8, seq, discarded, 0)
    vals = []
    for i in range(first, first + count):
        vals += (0, ts0 + i * step_ns, i)
    body = head + struct.pack("<" + "IQQ" * count, *vals)
    return body, size - content, rc.Index(size * 8, content * 8, tb, te, discarded, 0, 0, seq)


def test_web_discards(make_relay, web_factory, browser):
    """Events discarded by the tracer and a missing packet are counted,
    listed among the rows and marked on the plot."""
    import relayd_client as rc

    relay = make_relay("ctflive-relayd", "r")
    web = web_factory(ls.live_url(relay))
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="webdisc",
                       hostname="dischost", live_timer=100000).setup()
    ts0 = time.time_ns()
    # packets 0, 1 and 3 (2 never comes); 7 events discarded before packet 3
    for seq, discarded in ((0, 0), (1, 0), (3, 7)):
        body, pad, idx = load_packet(seq * 10, 10, seq, ts0, 1000, discarded)
        g.d.send_packet(g.data_h, seq, body, pad)
        assert g.c.send_index(g.data_h, seq, idx) == rc.LTTNG_OK
    g.packets = 4
    open_session(browser, web, "webdisc")
    wait_js(browser, "return document.querySelectorAll('#rows tbody tr').length >= 32", 30,
            "every row")
    g.finish()
    assert wait_state(browser, ("ended", "failed"), 60) == "ended"
    text = js(browser, "return ['c-events', 'c-disc-ev', 'c-disc-pkt', 'c-lost']"
                       ".map(id => document.getElementById(id).textContent)")
    assert text == ["30", "7", "1", "0"], text
    notes = js(browser, "return [...document.querySelectorAll('#rows tr.note td.fields')]"
                        ".map(td => td.textContent)")
    assert sorted(notes) == ["tracer discarded 1 packets", "tracer discarded 7 events"], notes
    # the plot's marker series (last) has a point
    assert js(browser, "const d = window.ctfliveWeb.plotData();"
                       "return d[d.length - 1].filter(v => v != null).length") >= 1


@pytest.mark.skipif(not os.environ.get("CTFLIVE_WEB_LOAD"),
                    reason="load test: set CTFLIVE_WEB_LOAD=1")
def test_web_load(make_relay, web_factory, browser):
    """Acceptance 5: 200 000 events/s for 30 s into a live session (the
    relay test producer, paced: 200 packets of 1000 events a second); the
    page stays responsive (time for a click on Pause to take effect) and
    the server's memory stays bounded."""
    import relayd_client as rc

    relay = make_relay("ctflive-relayd", "r")
    web = web_factory(ls.live_url(relay))
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name="webload",
                       hostname="loadhost", live_timer=100000).setup()
    step = 1_000_000_000 // LOAD_RATE
    ts0 = time.time_ns()
    body, pad, idx = load_packet(0, LOAD_PER_PACKET, 0, ts0, step)
    g.d.send_packet(g.data_h, 0, body, pad)
    assert g.c.send_index(g.data_h, 0, idx) == rc.LTTNG_OK
    open_session(browser, web, "webload")
    wait_js(browser, "return document.querySelectorAll('#rows tbody tr').length > 0", 30,
            "first rows")
    total_packets = LOAD_RATE * LOAD_SECONDS // LOAD_PER_PACKET
    clicks, rss, late = [], [], 0.0
    t0 = time.monotonic()
    next_sample = t0
    for seq in range(1, total_packets):
        due = t0 + seq * LOAD_PER_PACKET / LOAD_RATE
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            late = max(late, now - due)
        body, pad, idx = load_packet(seq * LOAD_PER_PACKET, LOAD_PER_PACKET, seq, ts0, step)
        g.d.send_packet(g.data_h, seq, body, pad)
        assert g.c.send_index(g.data_h, seq, idx) == rc.LTTNG_OK
        if time.monotonic() >= next_sample:
            next_sample += 1.0
            rss.append(web.rss_kib())
            start = time.monotonic()
            ok = js(browser, """
                const b = document.getElementById('pause');
                b.click();
                const ok = b.dataset.paused === 'true';
                b.click();
                return ok && b.dataset.paused === 'false';""")
            clicks.append(round((time.monotonic() - start) * 1000, 1))
            assert ok
    send_seconds = time.monotonic() - t0
    g.packets = total_packets
    g.finish()
    assert wait_state(browser, ("ended", "failed"), 300) == "ended"
    caught_up = time.monotonic() - t0
    c = js(browser, "return window.ctfliveWeb.counts()")
    rss.append(web.rss_kib())
    events = total_packets * LOAD_PER_PACKET
    report = {"events": c["events"], "sent": events, "shown": c["shown"],
              "not_shown": c["notShown"], "send_seconds": round(send_seconds, 1),
              "sender_late_max_s": round(late, 3),
              "viewer_done_seconds": round(caught_up, 1),
              "click_ms_median": sorted(clicks)[len(clicks) // 2],
              "click_ms_max": max(clicks), "clicks": len(clicks),
              "rss_kib_first": rss[0], "rss_kib_max": max(rss), "rss_kib_last": rss[-1]}
    (artifacts_dir() / "web-load.json").write_text(json.dumps(report, indent=1))
    print("web load:", report)
    browser.save_screenshot(str(artifacts_dir() / "web-load.png"))
    assert c["events"] == events
    assert c["shown"] + c["notShown"] == events
    assert max(clicks) < 1000, clicks
    assert max(rss) < 128 * 1024, rss
