# SPDX-License-Identifier: MIT
"""Test-side client of the LTTng live viewer protocol (relay live port, 2.13
wire format: big-endian, packed, fixed-size NUL-padded strings), written from
the project's live protocol notes (§1).

Two levels:
* encoders/decoders for every request and reply, and raw access (`send_raw`,
  `recv_exact`) for hostile inputs;
* `LiveViewer`, a polite viewer that connects, attaches and pulls indexes,
  packets and metadata (no CTF decoding: it hands back raw bytes).
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

# Commands (enum lttng_viewer_command)
CONNECT = 1
LIST_SESSIONS = 2
ATTACH_SESSION = 3
GET_NEXT_INDEX = 4
GET_PACKET = 5
GET_METADATA = 6
GET_NEW_STREAMS = 7
CREATE_SESSION = 8
DETACH_SESSION = 9

CLIENT_COMMAND = 1
CLIENT_NOTIFICATION = 2

SEEK_BEGINNING = 1
SEEK_LAST = 2

# Reply status values
ATTACH_OK, ATTACH_ALREADY, ATTACH_UNK, ATTACH_NOT_LIVE, ATTACH_SEEK_ERR, ATTACH_NO_SESSION = \
    1, 2, 3, 4, 5, 6
INDEX_OK, INDEX_RETRY, INDEX_HUP, INDEX_ERR, INDEX_INACTIVE, INDEX_EOF = 1, 2, 3, 4, 5, 6
PACKET_OK, PACKET_RETRY, PACKET_ERR, PACKET_EOF = 1, 2, 3, 4
METADATA_OK, METADATA_NO_NEW, METADATA_ERR = 1, 2, 3
NEW_STREAMS_OK, NEW_STREAMS_NO_NEW, NEW_STREAMS_ERR, NEW_STREAMS_HUP = 1, 2, 3, 4
CREATE_SESSION_OK, CREATE_SESSION_ERR = 1, 2
DETACH_OK, DETACH_UNK, DETACH_ERR = 1, 2, 3

FLAG_NEW_METADATA = 1
FLAG_NEW_STREAM = 2

LTTNG_ERR_UNK = 11
U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1

HDR = struct.Struct(">QII")                  # data_size, cmd, cmd_version
CONNECT_S = struct.Struct(">QIII")            # viewer_session_id, major, minor, type
SESSION_S = struct.Struct(">QII I64s255s")    # id, live_timer, clients, streams, host, name
ATTACH_REQ = struct.Struct(">QQI")            # session_id, offset, seek
STREAMS_REP = struct.Struct(">II")            # status, streams_count
STREAM_S = struct.Struct(">QQI4096s255s")     # id, ctf_trace_id, metadata_flag, path, channel
INDEX_S = struct.Struct(">QQQQQQQII")         # offset .. stream_id, status, flags
GET_PACKET_S = struct.Struct(">QQI")          # stream_id, offset, len
PACKET_REP = struct.Struct(">III")            # status, len, flags
METADATA_REP = struct.Struct(">QI")           # len, status
PAYLOAD_SIZE = {CONNECT: 20, LIST_SESSIONS: 0, ATTACH_SESSION: 20, GET_NEXT_INDEX: 8,
                GET_PACKET: 20, GET_METADATA: 8, GET_NEW_STREAMS: 8, CREATE_SESSION: 0,
                DETACH_SESSION: 8}

assert SESSION_S.size == 339 and STREAM_S.size == 4371 and INDEX_S.size == 64


class ConnectionClosed(Exception):
    """The relay closed the connection (or reset it)."""


def header(cmd: int, size: int | None = None, version: int = 0) -> bytes:
    return HDR.pack(PAYLOAD_SIZE.get(cmd, 0) if size is None else size, cmd, version)


def request(cmd: int, payload: bytes = b"") -> bytes:
    """Header and payload, to be written with one send (§1.1)."""
    return header(cmd, len(payload)) + payload


def enc_connect(major: int = 2, minor: int = 4, type_: int = CLIENT_COMMAND,
                session_id: int = U64_MAX) -> bytes:
    return CONNECT_S.pack(session_id, major, minor, type_)


def enc_attach(session_id: int, seek: int = SEEK_LAST, offset: int = 0) -> bytes:
    return ATTACH_REQ.pack(session_id, offset, seek)


def enc_u64(v: int) -> bytes:
    return struct.pack(">Q", v)


def enc_get_packet(stream_id: int, offset: int, length: int) -> bytes:
    return GET_PACKET_S.pack(stream_id, offset, length)


def _str(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


@dataclass
class Session:
    id: int
    live_timer: int
    clients: int
    streams: int
    hostname: str
    name: str


@dataclass
class Stream:
    id: int
    ctf_trace_id: int
    metadata: bool
    path: str
    channel: str


@dataclass
class Index:
    offset: int
    packet_size: int   # bits
    content_size: int  # bits
    ts_begin: int
    ts_end: int
    events_discarded: int
    stream_id: int
    status: int
    flags: int


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosed(str(e)) from e
        if not chunk:
            raise ConnectionClosed(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def is_closed(sock: socket.socket, timeout: float = 3.0) -> bool:
    """True if the peer closed the connection within timeout (anything
    pending is read and discarded)."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        sock.settimeout(10.0)


class LiveConn:
    """One viewer connection; every method is one request and its reply."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # raw ----------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosed(str(e)) from e

    def recv(self, n: int) -> bytes:
        return recv_exact(self.sock, n)

    def send(self, cmd: int, payload: bytes = b"") -> None:
        self.send_raw(request(cmd, payload))

    def closed(self, timeout: float = 3.0) -> bool:
        return is_closed(self.sock, timeout)

    # commands -------------------------------------------------------------

    def connect(self, major: int = 2, minor: int = 4, type_: int = CLIENT_COMMAND
                ) -> tuple[int, int, int, int]:
        self.send(CONNECT, enc_connect(major, minor, type_))
        return CONNECT_S.unpack(self.recv(CONNECT_S.size))

    def create_session(self) -> int:
        self.send(CREATE_SESSION)
        return struct.unpack(">I", self.recv(4))[0]

    def list_sessions(self) -> list[Session]:
        self.send(LIST_SESSIONS)
        (count,) = struct.unpack(">I", self.recv(4))
        out = []
        for _ in range(count):
            sid, timer, clients, streams, host, name = SESSION_S.unpack(self.recv(SESSION_S.size))
            out.append(Session(sid, timer, clients, streams, _str(host), _str(name)))
        return out

    def list_sessions_2_15(self) -> list[tuple[Session, int]]:
        """LIST_SESSIONS on a connection that negotiated minor >= 15: the 2.15
        records (lengths, no NUL), each with its live trace format (0 = CTF
        1.8, 1 = CTF 2)."""
        self.send(LIST_SESSIONS)
        (count,) = struct.unpack(">I", self.recv(4))
        out = []
        for _ in range(count):
            sid, timer, clients, streams, hl, nl, fmt = struct.unpack(">QIIIIII",
                                                                      self.recv(32))
            host, name = self.recv(hl), self.recv(nl)
            out.append((Session(sid, timer, clients, streams, host.decode(), name.decode()),
                        fmt))
        return out

    def _streams(self) -> tuple[int, list[Stream]]:
        status, count = STREAMS_REP.unpack(self.recv(STREAMS_REP.size))
        streams = []
        for _ in range(count):
            sid, tid, meta, path, chan = STREAM_S.unpack(self.recv(STREAM_S.size))
            streams.append(Stream(sid, tid, meta != 0, _str(path), _str(chan)))
        return status, streams

    def attach(self, session_id: int, seek: int = SEEK_LAST) -> tuple[int, list[Stream]]:
        self.send(ATTACH_SESSION, enc_attach(session_id, seek))
        return self._streams()

    def get_new_streams(self, session_id: int) -> tuple[int, list[Stream]]:
        self.send(GET_NEW_STREAMS, enc_u64(session_id))
        return self._streams()

    def get_next_index(self, stream_id: int) -> Index:
        self.send(GET_NEXT_INDEX, enc_u64(stream_id))
        return Index(*INDEX_S.unpack(self.recv(INDEX_S.size)))

    def get_packet(self, stream_id: int, offset: int, length: int) -> tuple[int, int, bytes]:
        """(status, flags, data); data only on OK."""
        self.send(GET_PACKET, enc_get_packet(stream_id, offset, length))
        status, n, flags = PACKET_REP.unpack(self.recv(PACKET_REP.size))
        data = self.recv(n) if status == PACKET_OK else b""
        return status, flags, data

    def get_metadata(self, stream_id: int) -> tuple[int, bytes]:
        self.send(GET_METADATA, enc_u64(stream_id))
        n, status = METADATA_REP.unpack(self.recv(METADATA_REP.size))
        data = self.recv(n) if n else b""
        return status, data

    def detach(self, session_id: int) -> int:
        self.send(DETACH_SESSION, enc_u64(session_id))
        return struct.unpack(">I", self.recv(4))[0]


def find_session(conn: LiveConn, name: str, timeout: float = 10.0) -> Session:
    deadline = time.monotonic() + timeout
    while True:
        for s in conn.list_sessions():
            if s.name == name:
                return s
        if time.monotonic() > deadline:
            raise TimeoutError(f"session {name} not listed by the relay")
        time.sleep(0.05)


@dataclass
class PulledPacket:
    stream: Stream
    index: Index
    data: bytes


@dataclass
class LiveViewer:
    """A polite viewer of one relay session that keeps every packet it
    pulled (raw bytes) and all metadata bytes, per stream."""

    port: int
    session_name: str
    seek: int = SEEK_BEGINNING
    conn: LiveConn | None = None
    session: Session | None = None
    streams: dict[int, Stream] = field(default_factory=dict)
    live: set[int] = field(default_factory=set)
    packets: list[PulledPacket] = field(default_factory=list)
    metadata: dict[int, bytes] = field(default_factory=dict)
    first_index: dict[int, Index] = field(default_factory=dict)
    hup: bool = False

    def open(self) -> "LiveViewer":
        self.conn = LiveConn(self.port)
        self.conn.connect()
        assert self.conn.create_session() == CREATE_SESSION_OK
        self.session = find_session(self.conn, self.session_name)
        status, streams = self.conn.attach(self.session.id, self.seek)
        if status != ATTACH_OK:
            raise RuntimeError(f"attach failed with status {status}")
        self._add(streams)
        return self

    def close(self) -> None:
        if self.conn:
            self.conn.close()

    def _add(self, streams: list[Stream]) -> None:
        for s in streams:
            self.streams[s.id] = s
            if s.metadata:
                self.metadata.setdefault(s.id, b"")
            else:
                self.live.add(s.id)

    def new_streams(self) -> None:
        status, streams = self.conn.get_new_streams(self.session.id)
        if status == NEW_STREAMS_HUP:
            self.hup = True
        elif status == NEW_STREAMS_OK:
            self._add(streams)
        elif status != NEW_STREAMS_NO_NEW:
            raise RuntimeError(f"GET_NEW_STREAMS status {status}")

    def fetch_metadata(self) -> None:
        for sid in list(self.metadata):
            while True:
                status, data = self.conn.get_metadata(sid)
                if status != METADATA_OK:
                    break
                self.metadata[sid] += data

    def poll_once(self) -> bool:
        """One GET_NEXT_INDEX (+ GET_PACKET) per live stream; True if any OK."""
        got = False
        for sid in sorted(self.live):
            ix = self.conn.get_next_index(sid)
            if ix.flags & FLAG_NEW_STREAM:
                self.new_streams()
            if ix.flags & FLAG_NEW_METADATA:
                self.fetch_metadata()
            if ix.status == INDEX_OK:
                self.first_index.setdefault(sid, ix)
                status, _flags, data = self.conn.get_packet(sid, ix.offset, ix.packet_size // 8)
                if status != PACKET_OK:
                    raise RuntimeError(f"GET_PACKET status {status} for {ix}")
                self.packets.append(PulledPacket(self.streams[sid], ix, data))
                got = True
            elif ix.status == INDEX_HUP:
                self.live.discard(sid)
            elif ix.status not in (INDEX_RETRY, INDEX_INACTIVE):
                raise RuntimeError(f"GET_NEXT_INDEX status {ix.status} on stream {sid}")
        return got

    def run_until_hup(self, timeout: float = 30.0, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not self.hup:
            if time.monotonic() > deadline:
                raise TimeoutError("viewer did not see the session end")
            if not self.live:
                self.new_streams()
                self.fetch_metadata()
                if not self.hup:
                    time.sleep(interval)
                continue
            if not self.poll_once():
                time.sleep(interval)
