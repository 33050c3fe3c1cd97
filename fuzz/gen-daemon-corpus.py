#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seeds of fuzz/corpus/daemon (fuzz-daemon.c's record format):
whole sessions as a consumer and a live viewer send them, built with the
integration tests' own encoders (tests/integration/relayd_client.py,
live_client.py). A fresh relay serves each input, so stream handles (1, 2,
...) and session ids (1, 2, ...) are known in advance.

Run from the repository root: python3 fuzz/gen-daemon-corpus.py
"""
import pathlib
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

import live_client as lc  # noqa: E402
import relayd_client as rc  # noqa: E402

OUT = HERE / "corpus" / "daemon"
CONTROL, DATA, LIVE = 0, 1, 2
SECOND, CLOSE = 4, 8


class Seed:
    def __init__(self, sync: bool):
        self.b = bytearray([1 if sync else 0])

    def put(self, what: int, data: bytes) -> "Seed":
        for i in range(0, max(len(data), 1), 65535):
            part = data[i:i + 65535]
            self.b += struct.pack("<BH", what, len(part)) + part
        return self

    def ctrl(self, cmd: int, payload: bytes = b"", what: int = CONTROL) -> "Seed":
        return self.put(what, rc.ctrl_header(cmd, len(payload)) + payload)

    def metadata(self, stream: int, text: bytes, what: int = CONTROL) -> "Seed":
        return self.put(what, rc.ctrl_header(rc.SEND_METADATA, 12 + len(text)) +
                        struct.pack(">QI", stream, 0) + text)

    def live(self, cmd: int, payload: bytes = b"") -> "Seed":
        return self.put(LIVE, lc.request(cmd, payload))


def session(seed: Seed, name: str, live_timer: int, packets: int, viewer: bool,
            rotate: bool = False, close: bool = True, data_only_first: int = 0) -> Seed:
    data_h, meta_h = 1, 2
    seed.ctrl(rc.VERSION, rc.enc_version(2, 13))
    seed.ctrl(rc.CREATE_SESSION, rc.enc_create_session_2_11(
        name, "fuzzhost", live_timer=live_timer, sessiond_uuid=bytes(16)))
    seed.ctrl(rc.CREATE_TRACE_CHUNK, rc.enc_create_trace_chunk(0, 1764413419))
    seed.ctrl(rc.ADD_STREAM, rc.enc_add_stream_2_11("chan_0", "ust/uid/1000/64-bit"))
    seed.ctrl(rc.ADD_STREAM, rc.enc_add_stream_2_11("metadata", "ust/uid/1000/64-bit"))
    seed.ctrl(rc.STREAMS_SENT)
    seed.metadata(meta_h, rc.make_metadata("fuzzhost"))
    if viewer:
        seed.live(lc.CONNECT, lc.enc_connect(2, 4))
        seed.live(lc.CREATE_SESSION)
        seed.live(lc.LIST_SESSIONS)
        seed.live(lc.ATTACH_SESSION, lc.enc_attach(1, lc.SEEK_BEGINNING))
        seed.live(lc.GET_METADATA, lc.enc_u64(meta_h))
    for seq in range(packets):
        pk = rc.make_packet(seq * 10, 10, seq)
        seed.put(DATA, rc.data_header(data_h, seq, len(pk.data), pk.padding) + pk.data)
        if seq >= data_only_first:
            seed.ctrl(rc.SEND_INDEX, rc.enc_send_index(data_h, seq, pk.index))
        if viewer:
            seed.live(lc.GET_NEXT_INDEX, lc.enc_u64(data_h))
            seed.live(lc.GET_PACKET, lc.enc_get_packet(data_h, 0, 4096))
    if rotate:
        seed.ctrl(rc.CREATE_TRACE_CHUNK, rc.enc_create_trace_chunk(1, 1764413420))
        seed.ctrl(rc.ROTATE_STREAMS, rc.enc_rotate_streams([(data_h, packets)], 1))
        seed.ctrl(rc.ROTATE_STREAMS, rc.enc_rotate_streams([(meta_h, 0)], 1))
        seed.ctrl(rc.CLOSE_TRACE_CHUNK, rc.enc_close_trace_chunk(0, 1764413421))
        seed.metadata(meta_h, rc.make_metadata("fuzzhost"))
        pk = rc.make_packet(packets * 10, 10, packets)
        seed.put(DATA, rc.data_header(data_h, packets, len(pk.data), pk.padding) + pk.data)
        seed.ctrl(rc.SEND_INDEX, rc.enc_send_index(data_h, packets, pk.index))
        packets += 1
    if close:
        seed.ctrl(rc.BEGIN_DATA_PENDING, struct.pack(">Q", 1))
        seed.ctrl(rc.DATA_PENDING, struct.pack(">QQ", data_h, packets - 1))
        seed.ctrl(rc.QUIESCENT_CONTROL, struct.pack(">Q", meta_h))
        seed.ctrl(rc.END_DATA_PENDING, struct.pack(">Q", 1))
        seed.ctrl(rc.CLOSE_STREAM, struct.pack(">QQ", meta_h, rc.U64_MAX))
        seed.ctrl(rc.CLOSE_STREAM, struct.pack(">QQ", data_h, packets - 1))
    if viewer:
        seed.live(lc.GET_NEXT_INDEX, lc.enc_u64(data_h))
        seed.live(lc.GET_NEW_STREAMS, lc.enc_u64(1))
        seed.live(lc.DETACH_SESSION, lc.enc_u64(1))
    seed.put(CONTROL | CLOSE, b"")
    seed.put(DATA | CLOSE, b"")
    return seed


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {
        "live-sync-data": session(Seed(True), "s", 100000, 4, True),
        "live-sync-none": session(Seed(False), "s", 100000, 4, True),
        "rotation": session(Seed(True), "r", 0, 3, False, rotate=True),
        "vanished": session(Seed(True), "v", 100000, 3, True, close=False),
        "data-without-index": session(Seed(True), "d", 100000, 3, True, close=False,
                                      data_only_first=2),
        "pre-2.11": Seed(False)
        .ctrl(rc.VERSION, rc.enc_version(2, 4))
        .ctrl(rc.CREATE_SESSION, rc.enc_create_session_2_4(b"old", b"oldhost"))
        .ctrl(rc.ADD_STREAM, rc.enc_add_stream_2_2(b"chan_0",
                                                   b"oldhost/old-20251129-105018/ust"))
        .put(CONTROL | CLOSE, b""),
        "truncated": Seed(True).put(CONTROL, rc.ctrl_header(rc.VERSION, 8) + b"\0\0")
        .put(DATA, b"\0" * 20).put(LIVE, b"\0" * 5),
    }
    for name, seed in seeds.items():
        (OUT / name).write_bytes(bytes(seed.b))
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
