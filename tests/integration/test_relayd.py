# SPDX-License-Identifier: MIT
"""ctflive-relayd on its own, without LTTng: its command line (usage errors
are one line and exit 2; other startup errors are one line and exit 1, and
free everything, which the ASan build checks), its log lines, its port file
and its session markers."""

import os
import socket
import struct
import subprocess
import threading
import time

import pytest

import lttng_harness as h
import relayd_client as rc

ANY = "tcp://127.0.0.1:0"


@pytest.fixture(autouse=True)
def _need_relayd():
    if not h.have_ctflive_relayd():
        pytest.skip(f"ctflive-relayd not built ({h.ctflive_relayd_path()})")


def run_relayd(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Runs ctflive-relayd with every port on 127.0.0.1:0 unless args say
    otherwise; it is expected to exit at once."""
    argv = [str(h.ctflive_relayd_path()), "-o", str(tmp_path / "out"),
            "-C", ANY, "-D", ANY, "-L", ANY, *args]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=20, env={**os.environ, "LANG": "C"})


def assert_one_error(r: subprocess.CompletedProcess, status: int, message: str) -> None:
    lines = r.stderr.splitlines()
    assert r.returncode == status and len(lines) == 1, \
        f"exit {r.returncode}, want {status} and one line; stderr:\n{r.stderr}"
    assert lines[0].startswith("ctflive-relayd: error: "), lines[0]
    assert message in lines[0], f"{lines[0]!r} does not say {message!r}"


# --------------------------------------------------------------------------
# command line


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unrecognized option '--bogus'"),
    (["--bogus=1"], "unrecognized option '--bogus'"),
    (["-y"], "unrecognized option '-y'"),
    (["-vy"], "unrecognized option '-y'"),
    (["--d"], "option '--d' is ambiguous"),
    (["--help=1"], "option '--help' takes no argument"),
    (["--port-file"], "option '--port-file' requires an argument"),
    (["-C"], "option '-C' requires an argument"),
    (["extra"], "unexpected argument 'extra'"),
    (["--sync", "bogus"], "invalid --sync 'bogus'"),
    (["--protocol-minor", "3"], "invalid --protocol-minor '3'"),
    (["--protocol-minor", "16"], "invalid --protocol-minor '16'"),
    (["--protocol-minor", ""], "invalid --protocol-minor ''"),
    (["-C", "tcp://127.0.0.1:99999"], "control port URL 'tcp://127.0.0.1:99999': invalid port"),
    (["-C", "tcp://127.0.0.1:-1"], "'tcp://127.0.0.1:-1': invalid port"),
    (["-D", "tcp://127.0.0.1:x"], "data port URL 'tcp://127.0.0.1:x': invalid port"),
    (["-C", "tcp://127.0.0.1:"], "'tcp://127.0.0.1:': missing port"),
    (["-C", "tcp://[::1:0"], "'tcp://[::1:0': missing ']' after IPv6 address"),
    (["-C", "tcp6://[::zz]:0"], "'tcp6://[::zz]:0': bad IPv6 address"),
    (["-C", "tcp://:0"], "'tcp://:0': missing address"),
    (["-C", "udp://127.0.0.1:0"], "'udp://127.0.0.1:0': unknown protocol"),
    (["--allow-from", "foo:10.0.0.0/8"], "unknown port 'foo'"),
    (["--allow-from", "live:10.0.0.0/33"], "invalid --allow-from 'live:10.0.0.0/33'"),
])
def test_usage_errors(tmp_path, args, message):
    r = run_relayd(tmp_path, *args)
    assert_one_error(r, 2, message)
    assert "/" not in r.stderr.split(":")[0], "the program is named by its path"
    assert not (tmp_path / "out").exists(), "a usage error must come before any work"


def test_ctflive_view_usage():
    """ctflive's option errors name the subcommand; view --help says NATS
    sessions are read as they arrive, and lists the --nats-* options."""
    ctflive = str(h.build_dir() / "src" / "cli" / "ctflive")
    r = subprocess.run([ctflive, "view", "--bogus"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and r.stderr.startswith("ctflive view: unrecognized option"), \
        r.stderr
    r = subprocess.run([ctflive, "view", "--help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "once it ended" not in r.stdout
    assert "as it arrives" in " ".join(r.stdout.split()), r.stdout
    nats = subprocess.run([ctflive, "ls", "nats://127.0.0.1:1", "--timeout", "100"],
                          capture_output=True, text=True, timeout=20)
    if "without NATS support" not in nats.stderr:
        assert "--nats-user" in r.stdout and "--nats-tls-ca" in r.stdout, r.stdout


@pytest.mark.parametrize("url", ["tcp://nonexistent.invalid:0",
                                 # no port: the default one, as for lttng-relayd
                                 "tcp://nonexistent.invalid"])
def test_cannot_resolve(tmp_path, url):
    r = run_relayd(tmp_path, "-C", url)
    assert_one_error(r, 1, "cannot resolve 'nonexistent.invalid'")
    assert "Cannot assign requested address" not in r.stderr


def test_bad_port_file(tmp_path):
    r = run_relayd(tmp_path, "--port-file", str(tmp_path / "missing" / "ports"))
    assert_one_error(r, 1, "cannot write port file")


def test_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_relayd(tmp_path, "-D", f"tcp://127.0.0.1:{port}")
        assert_one_error(r, 1, f"cannot listen on 'tcp://127.0.0.1:{port}'")
        # The output directory it made is not left behind; one that was
        # there before stays.
        assert not (tmp_path / "out").exists()
        (tmp_path / "out").mkdir()
        r = run_relayd(tmp_path, "-D", f"tcp://127.0.0.1:{port}")
        assert_one_error(r, 1, f"cannot listen on 'tcp://127.0.0.1:{port}'")
        assert (tmp_path / "out").is_dir()


# --------------------------------------------------------------------------
# port file


@pytest.mark.parametrize("mode", ["foreground", "daemon"])
def test_port_file_removed_at_shutdown(ws, mode):
    relay = h.CtfliveRelayd(ws, "r")
    relay.start(daemon=(mode == "daemon"))
    port_file = relay.dir / "ports"
    try:
        assert port_file.exists()
    finally:
        status = relay.stop()
    assert status in (0, None), f"relay exited with {status}: {relay.log()[-2000:]}"
    assert not port_file.exists(), f"{mode}: port file left after a clean shutdown"


def test_port_file_kept_if_replaced(make_relay):
    relay = make_relay("ctflive-relayd")
    port_file = relay.dir / "ports"
    tmp = relay.dir / "ports.other"
    tmp.write_text("control 1\ndata 2\nlive 3\n")
    os.replace(tmp, port_file)  # another relay's, say
    assert relay.stop() == 0
    assert port_file.read_text() == "control 1\ndata 2\nlive 3\n"


# --------------------------------------------------------------------------
# log lines


def test_oversized_message_log(make_relay):
    relay = make_relay("ctflive-relayd")
    with rc.ControlConn(relay.ports.control) as c:
        c.sock.sendall(rc.CTRL_HDR.pack(0, 2**61 + 12345, 0x7fff, 0))
        assert rc.is_closed(c.sock)
    h.wait_for(lambda: "connection closed" in relay.log(), 5, what="the closing log line")
    log = relay.log()
    assert "connection closed: message over the size limit" in log, log
    assert "Argument list too long" not in log, log


# --------------------------------------------------------------------------
# control commands refused by the command table

U64 = struct.Struct(">Q")
U64_PAIR = struct.Struct(">QQ")
ERR = rc.LTTNG_ERR_UNK
PROTO = rc.LTTNG_ERR_INVALID_PROTOCOL


def _reply_then_closed(c: rc.ControlConn, size: int) -> tuple[bytes | None, bool]:
    """The reply (None if the connection closed first) and whether the relay
    then closed the connection."""
    try:
        rep = rc.recv_exact(c.sock, size)
    except (rc.ConnectionClosed, socket.timeout):
        return None, True
    return rep, rc.is_closed(c.sock, 1.0)


# (setup, command, payload, reply size, expected reply or None (no reply), closed)
# setup: "none" = no VERSION; "version" = VERSION 2.13, no session;
# "2.4" = VERSION 2.4 and a session.
REFUSALS = [
    ("none", rc.GET_CONFIGURATION, U64.pack(0), 4, struct.pack(">I", ERR), True),
    ("none", 4242, b"", 4, struct.pack(">I", ERR), True),
    ("version", rc.ADD_STREAM, rc.enc_add_stream_2_11("c", "ust"), 4,
     struct.pack(">I", ERR), True),
    ("version", rc.STREAMS_SENT, b"", 4, struct.pack(">I", ERR), True),
    ("version", rc.SEND_INDEX, b"\0" * 80, 4, struct.pack(">I", ERR), True),
    ("version", rc.CLOSE_STREAM, U64_PAIR.pack(1, 0), 4, struct.pack(">I", ERR), True),
    ("version", rc.CLOSE_STREAM, b"", 4, struct.pack(">I", ERR), True),
    ("version", rc.DATA_PENDING, U64_PAIR.pack(1, 0), 4, struct.pack(">I", 2**32 - 1), True),
    ("version", rc.RESET_METADATA, U64_PAIR.pack(1, 0), 4, struct.pack(">I", ERR), True),
    ("version", rc.ROTATE_STREAMS, b"", 4, struct.pack(">I", PROTO), True),
    ("version", rc.CREATE_TRACE_CHUNK, rc.enc_create_trace_chunk(1, 1), 4,
     struct.pack(">I", PROTO), True),
    ("version", rc.CLOSE_TRACE_CHUNK, rc.enc_close_trace_chunk(1, 1), 8,
     struct.pack(">II", PROTO, 0), True),
    ("version", rc.TRACE_CHUNK_EXISTS, U64.pack(0), 4, struct.pack(">I", PROTO), True),
    ("version", rc.QUIESCENT_CONTROL, U64.pack(1), 4, struct.pack(">I", rc.LTTNG_OK), False),
    ("version", rc.BEGIN_DATA_PENDING, U64.pack(1), 4, struct.pack(">I", ERR), True),
    ("version", rc.END_DATA_PENDING, b"", 4, None, True),  # malformed: closed, no reply
    ("version", rc.SEND_METADATA, U64.pack(1) + b"\0" * 4 + b"x", 4, None, True),
    ("2.4", rc.CREATE_TRACE_CHUNK, rc.enc_create_trace_chunk(1, 1), 4,
     struct.pack(">I", PROTO), True),
    ("2.4", rc.CLOSE_TRACE_CHUNK, rc.enc_close_trace_chunk(1, 1), 8,
     struct.pack(">II", PROTO, 0), True),
]


@pytest.mark.parametrize("setup, cmd, payload, size, want, closed", REFUSALS,
                         ids=[f"{r[0]}-{rc.CMD_NAMES.get(r[1], r[1])}-{len(r[2])}"
                              for r in REFUSALS])
def test_command_refusals(make_relay, setup, cmd, payload, size, want, closed):
    """What the command table answers to a command sent too early, without a
    session, or below protocol 2.11: the status LTTng peers expect, then the
    connection closes."""
    relay = make_relay("ctflive-relayd")
    with rc.ControlConn(relay.ports.control) as c:
        if setup == "2.4":
            c.version(2, 4)
            c.minor = 4
            c.send(rc.CREATE_SESSION, rc.enc_create_session_2_4(b"s24", b"h"))
            _sid, ret = struct.unpack(">QI", rc.recv_exact(c.sock, 12))
            assert ret == rc.LTTNG_OK
        elif setup == "version":
            c.version()
        c.send(cmd, payload)
        rep, was_closed = _reply_then_closed(c, size)
    assert (rep, was_closed) == (want, closed), relay.log()[-2000:]
    assert relay.alive()


# --------------------------------------------------------------------------
# session marker when the peer vanishes


def marker_state(relay: h.Relay, path: str) -> str:
    try:
        return (relay.output / path / h.CTFLIVE_MARKER).read_text().strip()
    except OSError:
        return "missing"


@pytest.mark.parametrize("how, want", [
    ("clean", "complete"),
    ("control-first", "interrupted"),
    ("data-first", "interrupted"),
    ("mid-packet", "interrupted"),
])
def test_marker_when_peer_vanishes(make_relay, how, want):
    """A consumer that is killed (kill -9 of lttng-consumerd) closes its
    connections at a message boundary, without CLOSE_STREAM: that session
    did not end normally."""
    relay = make_relay("ctflive-relayd")
    g = rc.GoodSession(relay.ports.control, relay.ports.data, name=f"v-{how}").setup()
    try:
        g.send_data()
        if how == "clean":
            g.finish()
        elif how == "control-first":
            g.c.close()
            time.sleep(0.2)
            g.d.close()
        elif how == "data-first":
            g.d.close()
            time.sleep(0.2)
            g.c.close()
        else:
            pk = rc.make_packet(0, 10, g.packets)
            g.d.sock.sendall(rc.data_header(g.data_h, g.packets, len(pk.data), pk.padding)
                             + pk.data[:100])
            time.sleep(0.2)
            g.d.close()
            g.c.close()
    finally:
        g.close()
    try:
        h.wait_for(lambda: marker_state(relay, g.path) not in ("active", "missing"), 10,
                   what="the session marker")
    except TimeoutError:
        pass
    assert marker_state(relay, g.path) == want, relay.log()[-2000:]
    assert relay.alive()


# --------------------------------------------------------------------------
# pipelined control requests


def test_pipelined_requests_behind_a_slow_reader(make_relay):
    """A control connection reads many requests per recv() and answers them
    with one send(): requests pipelined far ahead of a peer that reads its
    replies slowly (small receive buffer: the relay's send queue fills and
    the requests behind it wait) are all answered, in order, and the
    connection still serves a session afterwards."""
    relay = make_relay("ctflive-relayd")
    n = 20000
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect((h.LOCALHOST, relay.ports.control))
    # VERSION, then GET_CONFIGURATION requests (12-byte replies each).
    reqs = [rc.ctrl_header(rc.VERSION, 8) + rc.enc_version(2, 13)]
    reqs += [rc.ctrl_header(rc.GET_CONFIGURATION, 8) + struct.pack(">Q", 0)] * n
    data = b"".join(reqs)
    sent = []

    def send_all():
        try:
            s.sendall(data)
            sent.append(True)
        except OSError as e:
            sent.append(e)

    t = threading.Thread(target=send_all, daemon=True)
    t.start()
    try:
        assert struct.unpack(">II", rc.recv_exact(s, 8))[0] == 2
        for i in range(n):
            if i % 2000 == 0:
                time.sleep(0.05)  # a slow reader: the relay's queue backs up
            ret, flags = struct.unpack(">IQ", rc.recv_exact(s, 12))
            assert ret == rc.LTTNG_OK, f"reply {i}: {ret}"
        t.join(10)
        assert sent == [True]
        # The same connection goes on with a session.
        c = rc.ControlConn.__new__(rc.ControlConn)
        c.sock, c.minor = s, 13
        rep = c.create_session(rc.enc_create_session_2_11("pipe", "pipehost"))
        assert rep.ret_code == rc.LTTNG_OK
    finally:
        s.close()
    assert relay.alive()


# --------------------------------------------------------------------------
# batched writes: many packets of several streams per read


@pytest.mark.parametrize("sync", ["data", "none"])
@pytest.mark.parametrize("tracefile_size", [0, 40000])
def test_batched_packets_match_index(make_relay, sync, tracefile_size):
    """The packets of several streams arrive interleaved, many per read (one
    sendall), half of their SEND_INDEX before the data and half after (all
    before with a tracefile size: streams then switch files in the middle of
    a read). Every
    packet is on disk once, at the offset its index entry names, with its
    bytes and its padding; index and data files agree."""
    extra = () if sync == "data" else ("--sync", "none")
    relay = make_relay("ctflive-relayd", extra=extra)
    nstreams, npackets = 3, 60
    c, d = rc.ControlConn(relay.ports.control), rc.DataConn(relay.ports.data)
    try:
        assert c.version()[0] == 2
        rep = c.create_session(rc.enc_create_session_2_11("batch", "batchhost"))
        assert rep.ret_code == rc.LTTNG_OK
        assert c.create_trace_chunk(0, 1764413419) == rc.LTTNG_OK
        handles = []
        for i in range(nstreams):
            hd, ret = c.add_stream(f"chan_{i}", "ust/uid/1000/64-bit",
                                   tracefile_size=tracefile_size)
            assert ret == rc.LTTNG_OK
            handles.append(hd)
        meta, ret = c.add_stream("metadata", "ust/uid/1000/64-bit")
        assert ret == rc.LTTNG_OK
        assert c.streams_sent() == rc.LTTNG_OK
        c.send_metadata(meta, rc.make_metadata("batchhost"), 0)
        sent = {}
        for seq in range(npackets):
            for i, hd in enumerate(handles):
                pk = rc.make_packet(seq * 10, 1 + (seq + i) % 10, seq, cpu=i,
                                    packet_bytes=4096 * (1 + (seq + i) % 3))
                sent[(i, seq)] = pk
        # The relay matches a late control half only within one file switch:
        # with a tracefile size, every SEND_INDEX goes first.
        half = npackets if tracefile_size else npackets // 2
        for seq in range(half):
            for i, hd in enumerate(handles):
                assert c.send_index(hd, seq, sent[(i, seq)].index) == rc.LTTNG_OK
        d.sock.sendall(b"".join(
            rc.data_header(hd, seq, len(sent[(i, seq)].data), sent[(i, seq)].padding) +
            sent[(i, seq)].data
            for seq in range(npackets) for i, hd in enumerate(handles)))
        for seq in range(half, npackets):
            for i, hd in enumerate(handles):
                assert c.send_index(hd, seq, sent[(i, seq)].index) == rc.LTTNG_OK
        h.wait_for(lambda: all(c.data_pending(hd, npackets - 1) == 0 for hd in handles), 20,
                   what="data pending")
        for hd in handles:
            assert c.close_stream(hd, npackets - 1) == rc.LTTNG_OK
    finally:
        c.close()
        d.close()
    found = {}
    for i in range(nstreams):
        idx_files = sorted(relay.output.rglob(f"index/chan_{i}*.idx"))
        assert idx_files, f"no index for chan_{i}"
        if tracefile_size:
            assert len(idx_files) > 1, "the tracefile size switched no file"
        for idx_path in idx_files:
            data_path = idx_path.parent.parent / idx_path.name[:-len(".idx")]
            assert h.check_index_consistent(idx_path, data_path) == []
            data = data_path.read_bytes()
            for e in h.read_index(idx_path).entries:
                off, psize, seq = e[0], e[1] // 8, e[8]
                pk = sent[(i, seq)]
                assert (i, seq) not in found, f"chan_{i} packet {seq} indexed twice"
                found[(i, seq)] = True
                assert psize == len(pk.data) + pk.padding
                assert data[off:off + len(pk.data)] == pk.data, f"chan_{i} packet {seq}"
                assert data[off + len(pk.data):off + psize] == bytes(pk.padding)
    assert sorted(found) == sorted(sent)
