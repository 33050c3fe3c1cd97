# SPDX-License-Identifier: MIT
"""Test-side client of the relay daemon control and data protocol (LTTng 2.13
wire format, big-endian, as described in the project's relayd protocol notes),
plus a tiny CTF 1.8 trace generator, a capture replayer and a TCP proxy that
forces the negotiated protocol minor.

Only what tests need: encoders for every control command a 2.13 consumer
sends, decoders for their replies, and raw access for hostile inputs.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field

# Commands (enum lttcomm_relayd_command)
ADD_STREAM = 1
CREATE_SESSION = 2
START_DATA = 3
UPDATE_SYNC_INFO = 4
VERSION = 5
SEND_METADATA = 6
CLOSE_STREAM = 7
DATA_PENDING = 8
QUIESCENT_CONTROL = 9
BEGIN_DATA_PENDING = 10
END_DATA_PENDING = 11
ADD_INDEX = 12
SEND_INDEX = 13
CLOSE_INDEX = 14
LIST_SESSIONS = 15
STREAMS_SENT = 16
RESET_METADATA = 17
ROTATE_STREAMS = 18
CREATE_TRACE_CHUNK = 19
CLOSE_TRACE_CHUNK = 20
TRACE_CHUNK_EXISTS = 21
GET_CONFIGURATION = 22

CMD_NAMES = {v: k for k, v in dict(globals()).items()
             if isinstance(v, int) and k.isupper() and 1 <= v <= 22}

# Status codes
LTTNG_OK = 10
LTTNG_ERR_UNK = 11
LTTNG_ERR_FATAL = 25
LTTNG_ERR_INVALID = 97
LTTNG_ERR_INVALID_PROTOCOL = 152

U64_MAX = 2**64 - 1
CTRL_HDR = struct.Struct(">QQII")      # circuit_id, data_size, cmd, cmd_version
DATA_HDR = struct.Struct(">QQQII")     # circuit_id, stream_id, net_seq_num, data_size, padding


class ConnectionClosed(Exception):
    """The relay closed the connection (or reset it)."""


def ctrl_header(cmd: int, size: int) -> bytes:
    return CTRL_HDR.pack(0, size, cmd, 0)


def data_header(stream_id: int, net_seq: int, size: int, padding: int) -> bytes:
    return DATA_HDR.pack(0, stream_id, net_seq, size, padding)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosed(str(e)) from e
        if not chunk:
            raise ConnectionClosed(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def is_closed(sock: socket.socket, timeout: float = 3.0) -> bool:
    """True if the peer closed the connection within timeout (reads and
    discards anything pending)."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        sock.settimeout(10.0)


def _cstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return b + b"\0"


# --------------------------------------------------------------------------
# Payload encoders


def enc_version(major: int = 2, minor: int = 13) -> bytes:
    return struct.pack(">II", major, minor)


def enc_create_session_2_11(name: str | bytes, hostname: str | bytes,
                            base_path: str | bytes = b"", live_timer: int = 0,
                            snapshot: bool = False, name_has_ctime: bool = False,
                            sessiond_uuid: bytes | None = None, session_id: int = 1,
                            creation_time: int = 1764413418,
                            current_chunk: int | None = None,
                            lengths: tuple[int, int, int] | None = None) -> bytes:
    n, hn, bp = _cstr(name), _cstr(hostname), _cstr(base_path)
    ln = lengths or (len(n), len(hn), len(bp))
    fixed = struct.pack(">IIIIBB16sQQBQ", ln[0], ln[1], ln[2], live_timer, int(snapshot),
                        int(name_has_ctime), sessiond_uuid or uuidlib.uuid4().bytes,
                        session_id, creation_time, int(current_chunk is not None),
                        current_chunk or 0)
    assert len(fixed) == 59
    return fixed + n + hn + bp


def enc_create_session_2_4(name: bytes, hostname: bytes, live_timer: int = 0,
                           snapshot: int = 0) -> bytes:
    return struct.pack(">255s64sII", name, hostname, live_timer, snapshot)


def enc_add_stream_2_2(channel: bytes, pathname: bytes, tracefile_size: int = 0,
                       tracefile_count: int = 0) -> bytes:
    return struct.pack(">264s4096sQQ", channel, pathname, tracefile_size, tracefile_count)


def enc_add_stream_2_11(channel: str | bytes, pathname: str | bytes,
                        tracefile_size: int = 0, tracefile_count: int = 0,
                        chunk_id: int = 0,
                        lengths: tuple[int, int] | None = None) -> bytes:
    c, p = _cstr(channel), _cstr(pathname)
    ln = lengths or (len(c), len(p))
    return struct.pack(">IIQQQ", ln[0], ln[1], tracefile_size, tracefile_count,
                       chunk_id) + c + p


def enc_create_trace_chunk(chunk_id: int, ts: int, name: str | bytes | None = None) -> bytes:
    nm = _cstr(name) if name is not None else b""
    return struct.pack(">QQI", chunk_id, ts, len(nm)) + nm


def enc_close_trace_chunk(chunk_id: int, ts: int, command: int | None = None) -> bytes:
    return struct.pack(">QQBI", chunk_id, ts, int(command is not None), command or 0)


@dataclass
class Index:
    packet_size: int          # bits
    content_size: int         # bits
    ts_begin: int
    ts_end: int
    events_discarded: int = 0
    stream_class_id: int = 0
    stream_instance_id: int = 0
    packet_seq_num: int = 0


def enc_send_index(relay_stream: int, net_seq: int, idx: Index, minor: int = 13) -> bytes:
    b = struct.pack(">8Q", relay_stream, net_seq, idx.packet_size, idx.content_size,
                    idx.ts_begin, idx.ts_end, idx.events_discarded, idx.stream_class_id)
    if minor >= 8:
        b += struct.pack(">QQ", idx.stream_instance_id, idx.packet_seq_num)
    return b


def enc_rotate_streams(positions: list[tuple[int, int]], new_chunk: int | None) -> bytes:
    # x86-64 layout of the 2.13.9 sender: count u32, is_set u8 @4, value u64 @12.
    head = struct.pack(">IB3xIQ", len(positions), int(new_chunk is not None), 0,
                       new_chunk or 0)
    assert len(head) == 20
    return head + b"".join(struct.pack(">QQ", s, q) for s, q in positions)


# --------------------------------------------------------------------------
# Control connection


@dataclass
class CreateSessionReply:
    session_id: int
    ret_code: int
    path: bytes


class ControlConn:
    """One control connection; request/reply helpers read exactly the reply
    size the real consumer expects."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = connect(port, timeout)
        self.minor = 13

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, cmd: int, payload: bytes = b"", size: int | None = None) -> None:
        self.sock.sendall(ctrl_header(cmd, len(payload) if size is None else size) + payload)

    def request(self, cmd: int, payload: bytes, reply_size: int) -> bytes:
        self.send(cmd, payload)
        return recv_exact(self.sock, reply_size)

    def generic(self, cmd: int, payload: bytes = b"") -> int:
        return struct.unpack(">I", self.request(cmd, payload, 4))[0]

    # commands

    def version(self, major: int = 2, minor: int = 13) -> tuple[int, int]:
        rep = struct.unpack(">II", self.request(VERSION, enc_version(major, minor), 8))
        self.minor = min(minor, rep[1])
        return rep

    def get_configuration(self, flags: int = 0) -> tuple[int, int]:
        return struct.unpack(">IQ", self.request(GET_CONFIGURATION, struct.pack(">Q", flags), 12))

    def create_session(self, payload: bytes) -> CreateSessionReply:
        self.send(CREATE_SESSION, payload)
        sid, ret, plen = struct.unpack(">QII", recv_exact(self.sock, 16))
        path = recv_exact(self.sock, plen) if plen else b""
        return CreateSessionReply(sid, ret, path)

    def create_trace_chunk(self, chunk_id: int, ts: int, name=None) -> int:
        return self.generic(CREATE_TRACE_CHUNK, enc_create_trace_chunk(chunk_id, ts, name))

    def close_trace_chunk(self, chunk_id: int, ts: int, command: int | None = None
                          ) -> tuple[int, bytes]:
        self.send(CLOSE_TRACE_CHUNK, enc_close_trace_chunk(chunk_id, ts, command))
        ret, plen = struct.unpack(">II", recv_exact(self.sock, 8))
        path = recv_exact(self.sock, plen) if plen else b""
        return ret, path

    def trace_chunk_exists(self, chunk_id: int) -> tuple[int, int]:
        return struct.unpack(">IB", self.request(TRACE_CHUNK_EXISTS,
                                                 struct.pack(">Q", chunk_id), 5))

    def add_stream(self, channel, pathname, tracefile_size=0, tracefile_count=0,
                   chunk_id=0, lengths=None) -> tuple[int, int]:
        p = enc_add_stream_2_11(channel, pathname, tracefile_size, tracefile_count,
                                chunk_id, lengths)
        return struct.unpack(">QI", self.request(ADD_STREAM, p, 12))

    def streams_sent(self) -> int:
        return self.generic(STREAMS_SENT)

    def send_metadata(self, stream: int, data: bytes, padding: int = 0) -> None:
        # Header alone, then sub-header + bytes; no reply.
        self.sock.sendall(ctrl_header(SEND_METADATA, 12 + len(data)))
        self.sock.sendall(struct.pack(">QI", stream, padding) + data)

    def send_index(self, stream: int, net_seq: int, idx: Index) -> int:
        return self.generic(SEND_INDEX, enc_send_index(stream, net_seq, idx, self.minor))

    def close_stream(self, stream: int, last_net_seq: int) -> int:
        return self.generic(CLOSE_STREAM, struct.pack(">QQ", stream, last_net_seq))

    def data_pending(self, stream: int, last_net_seq: int) -> int:
        return self.generic(DATA_PENDING, struct.pack(">QQ", stream, last_net_seq))

    def quiescent_control(self, stream: int) -> int:
        return self.generic(QUIESCENT_CONTROL, struct.pack(">Q", stream))

    def begin_data_pending(self, session_id: int) -> int:
        return self.generic(BEGIN_DATA_PENDING, struct.pack(">Q", session_id))

    def end_data_pending(self, session_id: int) -> int:
        return self.generic(END_DATA_PENDING, struct.pack(">Q", session_id))

    def rotate_streams(self, positions, new_chunk) -> int:
        return self.generic(ROTATE_STREAMS, enc_rotate_streams(positions, new_chunk))


class DataConn:
    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = connect(port, timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_packet(self, stream: int, net_seq: int, data: bytes, padding: int = 0) -> None:
        self.sock.sendall(data_header(stream, net_seq, len(data), padding) + data)


# --------------------------------------------------------------------------
# A minimal CTF 1.8 trace (one stream class, one event class)


TRACE_UUID = uuidlib.UUID("6c1f3a5e-2b7d-4f0a-9c31-5d8e7f6a4b21")

METADATA_TEMPLATE = """/* CTF 1.8 */

typealias integer {{ size = 8; align = 8; signed = false; }} := uint8_t;
typealias integer {{ size = 32; align = 8; signed = false; }} := uint32_t;
typealias integer {{ size = 64; align = 8; signed = false; }} := uint64_t;

trace {{
	major = 1;
	minor = 8;
	uuid = "{uuid}";
	byte_order = le;
	packet.header := struct {{
		uint32_t magic;
		uint8_t  uuid[16];
		uint32_t stream_id;
		uint64_t stream_instance_id;
	}};
}};

env {{
	hostname = "{hostname}";
}};

clock {{
	name = "monotonic";
	uuid = "{uuid}";
	freq = 1000000000;
	offset = 0;
}};

typealias integer {{ size = 64; align = 8; signed = false; map = clock.monotonic.value; }} := uint64_clock_t;

stream {{
	id = 0;
	packet.context := struct {{
		uint64_clock_t timestamp_begin;
		uint64_clock_t timestamp_end;
		uint64_t content_size;
		uint64_t packet_size;
		uint64_t packet_seq_num;
		uint64_t events_discarded;
		uint32_t cpu_id;
	}};
	event.header := struct {{
		uint32_t id;
		uint64_clock_t timestamp;
	}};
}};

event {{
	name = "ctflive_test:tick";
	id = 0;
	stream_id = 0;
	fields := struct {{
		uint64_t index;
	}};
}};
"""

PACKET_HEADER_SIZE = 32 + 52  # header + context bytes
EVENT_SIZE = 12 + 8


def make_metadata(hostname: str = "clienthost") -> bytes:
    return METADATA_TEMPLATE.format(uuid=str(TRACE_UUID), hostname=hostname).encode()


@dataclass
class Packet:
    data: bytes       # content bytes (what travels as data_size)
    padding: int      # zero bytes the relay appends
    index: Index
    first: int
    count: int


def make_packet(first: int, count: int, seq: int, cpu: int = 0, ts0: int = 1_000_000_000,
                packet_bytes: int = 4096) -> Packet:
    """A packet with events index first .. first+count-1, 1 µs apart."""
    content = PACKET_HEADER_SIZE + count * EVENT_SIZE
    assert content <= packet_bytes
    tb = ts0 + first * 1000
    te = ts0 + (first + max(count, 1)) * 1000
    body = bytearray()
    body += struct.pack("<I16sIQ", 0xC1FC1FC1, TRACE_UUID.bytes, 0, cpu)
    body += struct.pack("<QQQQQQI", tb, te, content * 8, packet_bytes * 8, seq, 0, cpu)
    for i in range(first, first + count):
        body += struct.pack("<IQQ", 0, ts0 + i * 1000, i)
    idx = Index(packet_bytes * 8, content * 8, tb, te, 0, 0, cpu, seq)
    return Packet(bytes(body), packet_bytes - content, idx, first, count)


class GoodSession:
    """A complete, well-formed 2.11+ session driven in phases so that other
    (hostile) traffic can run in between: setup() = VERSION, CREATE_SESSION,
    CREATE_TRACE_CHUNK, ADD_STREAM x2, STREAMS_SENT, SEND_METADATA;
    send_data() = data packets + SEND_INDEX; finish() = data pending round,
    quiet rotation, CLOSE_TRACE_CHUNK, CLOSE_STREAM."""

    def __init__(self, ctrl_port: int, data_port: int, name: str = "good",
                 hostname: str = "goodhost", packets: int = 4, per_packet: int = 50,
                 live_timer: int = 0, pathname: str = "ust/uid/1000/64-bit"):
        self.ports = (ctrl_port, data_port)
        self.name, self.hostname = name, hostname
        self.packets, self.per_packet = packets, per_packet
        self.live_timer = live_timer
        self.pathname = pathname
        self.c: ControlConn | None = None
        self.d: DataConn | None = None
        self.events = packets * per_packet

    def setup(self) -> "GoodSession":
        self.c, self.d = ControlConn(self.ports[0]), DataConn(self.ports[1])
        c = self.c
        major, _minor = c.version()
        assert major == 2
        rep = c.create_session(enc_create_session_2_11(self.name, self.hostname,
                                                       live_timer=self.live_timer))
        assert rep.ret_code == LTTNG_OK, rep
        self.session_id = rep.session_id
        self.path = rep.path.rstrip(b"\0").decode()
        assert c.create_trace_chunk(0, 1764413419) == LTTNG_OK
        self.data_h, ret = c.add_stream("chan_0", self.pathname)
        assert ret == LTTNG_OK
        self.meta_h, ret = c.add_stream("metadata", self.pathname)
        assert ret == LTTNG_OK
        assert c.streams_sent() == LTTNG_OK
        c.send_metadata(self.meta_h, make_metadata(self.hostname), 0)
        return self

    def send_data(self) -> None:
        for seq in range(self.packets):
            pk = make_packet(seq * self.per_packet, self.per_packet, seq)
            self.d.send_packet(self.data_h, seq, pk.data, pk.padding)
            assert self.c.send_index(self.data_h, seq, pk.index) == LTTNG_OK

    def finish(self) -> None:
        c, last = self.c, self.packets - 1
        try:
            for _ in range(100):
                assert c.begin_data_pending(self.session_id) == LTTNG_OK
                if c.data_pending(self.data_h, last) == 0:
                    assert c.quiescent_control(self.meta_h) == LTTNG_OK
                    if c.end_data_pending(self.session_id) == 0:
                        break
                time.sleep(0.05)
            else:
                raise AssertionError("data still pending after 5 s")
            assert c.rotate_streams([(self.data_h, self.packets)], None) == LTTNG_OK
            assert c.rotate_streams([(self.meta_h, 0)], None) == LTTNG_OK
            ret, _path = c.close_trace_chunk(0, 1764413420)
            assert ret == LTTNG_OK, ret
            ret, _exists = c.trace_chunk_exists(0)
            assert ret == LTTNG_OK
            assert c.close_stream(self.meta_h, U64_MAX) == LTTNG_OK
            assert c.close_stream(self.data_h, last) == LTTNG_OK
        finally:
            self.close()

    def close(self) -> None:
        for conn in (self.c, self.d):
            if conn:
                conn.close()


def good_session(ctrl_port: int, data_port: int, **kw) -> dict:
    """Run a GoodSession start to end; returns the event count and the
    relay's output path (relative to its output directory)."""
    g = GoodSession(ctrl_port, data_port, **kw)
    try:
        g.setup()
        g.send_data()
        g.finish()
    finally:
        g.close()
    return {"events": g.events, "path": g.path, "session_id": g.session_id}


# --------------------------------------------------------------------------
# Splitting captured byte streams into messages


@dataclass
class CtrlMsg:
    cmd: int
    payload: bytes
    end: int            # offset just past the message in the byte stream


@dataclass
class DataMsg:
    stream_id: int
    net_seq: int
    data: bytes
    padding: int
    end: int


def split_control(buf: bytes) -> list[CtrlMsg]:
    out, pos = [], 0
    while pos + 24 <= len(buf):
        _c, size, cmd, _v = CTRL_HDR.unpack_from(buf, pos)
        if pos + 24 + size > len(buf):
            break
        out.append(CtrlMsg(cmd, buf[pos + 24:pos + 24 + size], pos + 24 + size))
        pos += 24 + size
    if pos != len(buf):
        raise ValueError(f"control stream: {len(buf) - pos} trailing bytes")
    return out


def split_data(buf: bytes) -> list[DataMsg]:
    out, pos = [], 0
    while pos + 32 <= len(buf):
        _c, sid, seq, size, pad = DATA_HDR.unpack_from(buf, pos)
        if pos + 32 + size > len(buf):
            break
        out.append(DataMsg(sid, seq, buf[pos + 32:pos + 32 + size], pad, pos + 32 + size))
        pos += 32 + size
    if pos != len(buf):
        raise ValueError(f"data stream: {len(buf) - pos} trailing bytes")
    return out


def reply_size(cmd: int, minor: int) -> int | None:
    """Fixed part of the reply to cmd (None: no reply)."""
    if cmd == SEND_METADATA:
        return None
    return {
        VERSION: 8, GET_CONFIGURATION: 12, ADD_STREAM: 12, TRACE_CHUNK_EXISTS: 5,
        CREATE_SESSION: 16 if minor >= 11 else 12, CLOSE_TRACE_CHUNK: 8,
    }.get(cmd, 4)


class Replayer:
    """Replays one recorded client (control + data byte streams) against a
    relay, rewriting relay-assigned stream handles and session ids."""

    def __init__(self, ctrl_port: int, data_port: int):
        self.c = ControlConn(ctrl_port)
        self.d = DataConn(data_port)
        self.minor = 13
        self.handles: dict[int, int] = {}     # recorded -> new
        self.sessions: dict[int, int] = {}
        self.recorded_replies: bytes | None = None
        self.rpos = 0
        self.log: list[str] = []

    def close(self):
        self.c.close()
        self.d.close()

    def _h(self, v: int) -> int:
        return self.handles.get(v, v)

    def _rewrite(self, m: CtrlMsg) -> bytes:
        p = bytearray(m.payload)

        def sub(off: int, table: dict[int, int]):
            v = struct.unpack_from(">Q", p, off)[0]
            struct.pack_into(">Q", p, off, table.get(v, v))

        if m.cmd in (SEND_INDEX, CLOSE_STREAM, DATA_PENDING, QUIESCENT_CONTROL, RESET_METADATA,
                     SEND_METADATA):
            sub(0, self.handles)
        elif m.cmd in (BEGIN_DATA_PENDING, END_DATA_PENDING):
            sub(0, self.sessions)
        elif m.cmd == ROTATE_STREAMS:
            count = struct.unpack_from(">I", p, 0)[0]
            head = len(p) - 16 * count
            for i in range(count):
                sub(head + 16 * i, self.handles)
        return bytes(p)

    def _recorded_reply(self, n: int) -> bytes | None:
        if self.recorded_replies is None:
            return None
        r = self.recorded_replies[self.rpos:self.rpos + n]
        self.rpos += n
        return r

    def control(self, m: CtrlMsg) -> bytes | None:
        payload = self._rewrite(m)
        self.c.send(m.cmd, payload)
        n = reply_size(m.cmd, self.minor)
        if n is None:
            return None
        rep = recv_exact(self.c.sock, n)
        old = self._recorded_reply(n)
        if m.cmd == VERSION:
            self.minor = min(struct.unpack(">I", m.payload[4:8])[0],
                             struct.unpack(">I", rep[4:8])[0])
        elif m.cmd == CREATE_SESSION:
            if self.minor >= 11:
                sid, ret, plen = struct.unpack(">QII", rep)
                rep += recv_exact(self.c.sock, plen) if plen else b""
                if old is not None:
                    self._recorded_reply(struct.unpack(">QII", old)[2])
            else:
                sid, ret = struct.unpack(">QI", rep)
            if old is not None:
                self.sessions[struct.unpack(">Q", old[:8])[0]] = sid
        elif m.cmd == CLOSE_TRACE_CHUNK:
            ret, plen = struct.unpack(">II", rep)
            rep += recv_exact(self.c.sock, plen) if plen else b""
            if old is not None:
                self._recorded_reply(struct.unpack(">II", old)[1])
        elif m.cmd == ADD_STREAM:
            h, ret = struct.unpack(">QI", rep)
            if old is not None:
                self.handles[struct.unpack(">Q", old[:8])[0]] = h
        elif m.cmd == DATA_PENDING and old == b"\0\0\0\0" and rep != old:
            # The recorded client saw "all received" here.  Data travels on
            # another socket, so the relay may not have read it yet: poll as
            # the real consumer would, or the commands that follow (rotation,
            # close) would race with the data.
            deadline = time.monotonic() + 5
            while rep == struct.pack(">I", 1) and time.monotonic() < deadline:
                time.sleep(0.02)
                self.c.send(m.cmd, payload)
                rep = recv_exact(self.c.sock, 4)
        self.log.append(f"{CMD_NAMES.get(m.cmd, m.cmd)} -> {rep[:16].hex()}")
        return rep

    def data(self, m: DataMsg) -> None:
        self.d.send_packet(self._h(m.stream_id), m.net_seq, m.data, m.padding)
        self.log.append(f"DATA stream {m.stream_id} seq {m.net_seq} ({len(m.data)} B)")


def replay(ctrl_port: int, data_port: int, ctrl_c2s: bytes, ctrl_s2c: bytes,
           data_c2s: bytes, order: list[tuple[str, int]] | None = None,
           times: list[float] | None = None, max_gap: float = 0.25) -> Replayer:
    """Replay a recorded client.  order lists ("c", i) / ("d", j) in the order
    to send; by default each data packet goes out as soon as its stream is
    known (right after the ADD_STREAM reply that created it).  With times
    (capture time of each order entry), pauses of the original client are
    reproduced, capped at max_gap: the relay reads control and data sockets
    independently, and the real peers relied on those pauses (e.g. a second
    rotation only starts after the data of the first one was received)."""
    cmsgs, dmsgs = split_control(ctrl_c2s), split_data(data_c2s)
    r = Replayer(ctrl_port, data_port)
    r.recorded_replies = ctrl_s2c
    try:
        if order is None:
            di = 0
            for m in cmsgs:
                r.control(m)
                while di < len(dmsgs) and dmsgs[di].stream_id in r.handles:
                    r.data(dmsgs[di])
                    di += 1
            for m in dmsgs[di:]:
                r.data(m)
        else:
            data_since_pause = False
            for k, (kind, i) in enumerate(order):
                # Only a control message sent after a pause, with data sent
                # since the previous pause, can depend on the relay having
                # read that data: reproduce those pauses only.
                if times and k > 0 and kind == "c" and data_since_pause:
                    gap = times[k] - times[k - 1]
                    if gap > 0.005:
                        time.sleep(min(gap, max_gap))
                        data_since_pause = False
                if kind == "d":
                    data_since_pause = True
                if kind == "c":
                    r.control(cmsgs[i])
                else:
                    r.data(dmsgs[i])
    except Exception as e:
        r.close()
        raise RuntimeError(f"replay failed: {e}; last exchanges: {r.log[-6:]}") from e
    return r


# --------------------------------------------------------------------------
# TCP proxy forcing the negotiated minor


class MinorProxy:
    """Listens on two 127.0.0.1 ports (control, data) and forwards to a
    relay.  On each control connection the first message must be VERSION:
    its minor, and the minor of the relay's reply, are replaced by
    `minor`; everything else is forwarded unchanged."""

    def __init__(self, relay_ctrl: int, relay_data: int, minor: int):
        self.minor = minor
        self.targets = {"ctrl": relay_ctrl, "data": relay_data}
        self.listeners = {}
        self.ports = {}
        self.threads: list[threading.Thread] = []
        self.socks: list[socket.socket] = []
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.versions_seen: list[tuple[int, int]] = []
        for role in ("ctrl", "data"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            s.settimeout(0.2)
            self.listeners[role] = s
            self.ports[role] = s.getsockname()[1]

    @property
    def url(self) -> str:
        return f"net://127.0.0.1:{self.ports['ctrl']}:{self.ports['data']}"

    def start(self) -> "MinorProxy":
        for role in self.listeners:
            t = threading.Thread(target=self._accept, args=(role,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every forwarded connection was closed by its peers."""
        deadline = time.monotonic() + timeout
        for t in list(self.threads):
            if t.name.startswith("pump"):
                t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads if t.name.startswith("pump"))

    def stop(self) -> None:
        self.stopping.set()
        for s in list(self.listeners.values()) + self.socks:
            # shutdown() first: close() alone neither wakes a thread blocked
            # in recv() on the socket nor sends FIN while that recv holds it,
            # so the relay would never see the connection end.
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(2)

    def _accept(self, role: str) -> None:
        lst = self.listeners[role]
        while not self.stopping.is_set():
            try:
                cli, _ = lst.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.targets[role]), timeout=10)
            except OSError as e:
                self.errors.append(f"{role}: connect to relay: {e}")
                cli.close()
                continue
            cli.settimeout(None)
            up.settimeout(None)
            self.socks += [cli, up]
            t = threading.Thread(target=self._serve, args=(role, cli, up), daemon=True,
                                 name=f"pump-{role}-c2s")
            t.start()
            self.threads.append(t)

    def _serve(self, role: str, cli: socket.socket, up: socket.socket) -> None:
        try:
            if role == "ctrl":
                hdr = recv_exact(cli, 24)
                _c, size, cmd, _v = CTRL_HDR.unpack(hdr)
                payload = recv_exact(cli, size)
                if cmd == VERSION and size >= 8:
                    major, minor = struct.unpack(">II", payload[:8])
                    self.versions_seen.append((major, minor))
                    payload = struct.pack(">II", major, self.minor) + payload[8:]
                    up.sendall(hdr + payload)
                    rep = recv_exact(up, 8)
                    rmajor, _rminor = struct.unpack(">II", rep)
                    cli.sendall(struct.pack(">II", rmajor, self.minor))
                else:
                    self.errors.append(f"first control message is {cmd}, not VERSION")
                    up.sendall(hdr + payload)
        except ConnectionClosed:
            cli.close()
            up.close()
            return
        t = threading.Thread(target=self._pump, args=(up, cli), daemon=True,
                             name=f"pump-{role}-s2c")
        t.start()
        self.threads.append(t)
        self._pump(cli, up)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


# --------------------------------------------------------------------------
# Reading pcaps (through tshark)


@dataclass
class Capture:
    """Client->relay bytes of one control/data connection pair, the relay's
    control replies, and the order in which the client sent each message."""
    ctrl_c2s: bytes = b""
    ctrl_s2c: bytes = b""
    data_c2s: bytes = b""
    order: list[tuple[str, int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)   # capture time of each order entry


def load_pcap(path, ctrl_port: int, data_port: int, ctrl_stream: int, data_stream: int,
              tshark: str = "tshark", timeout: float = 60) -> Capture:
    import subprocess

    r = subprocess.run([tshark, "-r", str(path), "-Y", "tcp.len>0", "-T", "fields",
                        "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
                        "-e", "tcp.payload", "-e", "frame.time_relative"], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"tshark failed: {r.stderr}")
    cap = Capture()
    seg_order: list[tuple[str, int]] = []
    cbuf, sbuf, dbuf = bytearray(), bytearray(), bytearray()
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) < 5 or not parts[3]:
            continue
        stream, sport, dport = int(parts[0]), int(parts[1]), int(parts[2])
        payload = bytes.fromhex(parts[3].replace(":", ""))
        t = float(parts[4])
        if stream == ctrl_stream and dport == ctrl_port:
            cbuf += payload
            seg_order.append(("c", len(cbuf), t))
        elif stream == ctrl_stream and sport == ctrl_port:
            sbuf += payload
        elif stream == data_stream and dport == data_port:
            dbuf += payload
            seg_order.append(("d", len(dbuf), t))
    cap.ctrl_c2s, cap.ctrl_s2c, cap.data_c2s = bytes(cbuf), bytes(sbuf), bytes(dbuf)
    cmsgs, dmsgs = split_control(cap.ctrl_c2s), split_data(cap.data_c2s)
    # A message is "sent" when the segment carrying its last byte is.
    ci = di = 0
    for kind, end, t in seg_order:
        if kind == "c":
            while ci < len(cmsgs) and cmsgs[ci].end <= end:
                cap.order.append(("c", ci))
                cap.times.append(t)
                ci += 1
        else:
            while di < len(dmsgs) and dmsgs[di].end <= end:
                cap.order.append(("d", di))
                cap.times.append(t)
                di += 1
    return cap
