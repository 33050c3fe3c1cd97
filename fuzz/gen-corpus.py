#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of fuzz/corpus/{tsdl,packet,index,relayd-rx,ctf2,ctf2-packet}
(own inputs only).

Run from the repository root: python3 fuzz/gen-corpus.py

With --ctf2-packet HEADER STREAM (the build runs it, fuzz/CMakeLists.txt), writes
only the fixed CTF 2 metadata of fuzz-ctf2-packet.c as a C header and the data
stream holding every event record of it: both come from the traces of
tests/ctf/test_ctf2_fields.py (the tests' CTF 2 writer), so the corpus of
fuzz/corpus/ctf2-packet must be written again (this script, no argument) when
those traces change.
"""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"

UST = """/* CTF 1.8 */
typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
typealias integer { size = 64; align = 8; signed = false; } := uint64_t;
typealias integer { size = 5; align = 1; signed = false; } := uint5_t;
typealias integer { size = 27; align = 1; signed = false; } := uint27_t;
trace {
\tmajor = 1; minor = 8; uuid = "11111111-2222-3333-4444-555555555555"; byte_order = le;
\tpacket.header := struct { uint32_t magic; uint8_t uuid[16]; uint32_t stream_id; };
};
env { hostname = "box"; domain = "ust"; tracer_name = "lttng-ust"; vpid = 42; };
clock { name = monotonic; freq = 1000000000; offset = 1700000000000000000; };
typealias integer { size = 27; align = 1; signed = false; map = clock.monotonic.value; } := t27;
typealias integer { size = 64; align = 8; signed = false; map = clock.monotonic.value; } := t64;
struct event_header_compact {
\tenum : uint5_t { compact = 0 ... 30, extended = 31 } id;
\tvariant <id> { struct { t27 timestamp; } compact; struct { uint32_t id; t64 timestamp; } extended; } v;
} align(8);
stream { id = 0; event.header := struct event_header_compact;
\tpacket.context := struct { t64 timestamp_begin; t64 timestamp_end; uint64_t content_size;
\t\tuint64_t packet_size; uint64_t packet_seq_num; uint64_t events_discarded; uint32_t cpu_id; }; };
event { name = "a:b"; id = 0; stream_id = 0; loglevel = 13; model.emf.uri = "x";
\tfields := struct { integer { size = 32; align = 8; signed = 1; base = 16; } _x; string _s; }; };
"""

TYPES = """/* CTF 1.8 */
typealias integer { size = 32; align = 32; signed = true; } := int;
typedef integer { size = 8; align = 8; signed = false; encoding = ASCII; } chr;
trace { major = 1; minor = 8; byte_order = be; };
enum color { RED, GREEN = 4, "BLUE" = 5 ... 9, RED = 20 };
variant v <tag> { string RED; int GREEN; struct { chr c[3]; } BLUE; };
struct s { enum color tag; variant v x; chr name[8]; chr n; int arr[n]; } align(16);
event { name = ev; fields := struct { struct s a; floating_point { exp_dig = 8; mant_dig = 24; } f;
\tinteger { size = 1; align = 1; } bits[7]; string { encoding = UTF8; } z; }; };
callsite { name = "x"; func = "f"; file = "g"; line = 1; ip = 0; };
"""

ODD = [
    "/* CTF 1.8 */ trace { major = 1; minor = 8; byte_order = le; }; // end\n",
    "trace { major = 0x1U; minor = 010; byte_order = network; test = \"\\x41\\101\\n\"; c = '\\''; };",
    "typealias integer { size = 64; } := unsigned long long *;\n"
    "trace { major = 1; minor = 8; byte_order = le; };\n"
    "event { name = string; fields := struct { unsigned long long *p; }; };",
    "trace { major = 1; minor = 8; byte_order = le; packet.header := struct { }; };\n"
    "stream { event.context := struct { integer { size = 3; map = clock.none.value; } x; }; };",
    "env { a = -5; b = \"\"; c = x.y.z; };\n/* unterminated",
]


def packetize(text, le=True):
    """Metadata packets of 4096 bytes as LTTng writes them (§2.1)."""
    out = b""
    data = text.encode()
    chunk = 4096 - 37
    fmt = "<" if le else ">"
    for i in range(0, len(data), chunk):
        payload = data[i:i + chunk]
        content = (37 + len(payload)) * 8
        hdr = struct.pack(fmt + "I16sIIIBBBBB", 0x75D11D57, b"\x11" * 16, 0, content,
                          4096 * 8, 0, 0, 0, 1, 8)
        out += hdr + payload + b"\0" * (4096 - 37 - len(payload))
    return out


def write(kind, name, blob):
    d = ROOT / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(blob)


def ust_packet(events, seq=0, disc=0):
    """One packet for metadata 0 of fuzz-packet.c (LTTng UST large header)."""
    body = b""
    for ts, eid, payload in events:
        if eid is None:  # extended header
            body += struct.pack("<HIQ", 0xFFFF, 0, ts)
        else:
            body += struct.pack("<HI", eid, ts & 0xFFFFFFFF)
        body += struct.pack("<i", 7)  # vtid context
        body += payload
    hdr_len = 4 + 16 + 4 + 8 + 8 * 6 + 4
    size = (hdr_len + len(body)) * 8
    psize = ((hdr_len + len(body) + 63) // 64) * 64 * 8
    hdr = struct.pack("<I16sIQ", 0xC1FC1FC1, bytes(16), 0, 0)
    ctx = struct.pack("<QQQQQQI", events[0][0], events[-1][0], size, psize, seq, disc, 1)
    pkt = hdr + ctx + body
    return pkt + b"\0" * (psize // 8 - len(pkt))


def ctf_index(minor, entries, esize=None):
    """A CTF index file (doc/file-formats.md §2): header, then entries."""
    size = esize or (72 if minor >= 1 else 56)
    out = struct.pack(">IIII", 0xC1F1DCC1, 1, minor, size)
    for e in entries:
        raw = struct.pack(f">{len(e)}Q", *e)
        out += raw[:size] + bytes(max(0, size - len(raw)))
    return out


def index_seeds():
    lost = 2**64 - 1
    e = [(0, 4096 * 8, 4000 * 8, 100, 200, 0, 0, 3, 0),
         (lost, 4096 * 8, 4096 * 8, 200, 300, 0, 0, 3, 1),
         (4096, 8192 * 8, 8000 * 8, 300, 400, 2, 0, 3, 2)]
    write("index", "seed-v1.1", ctf_index(1, e))
    write("index", "seed-v1.0", ctf_index(0, [x[:7] for x in e[:2]]))
    write("index", "seed-v1.1-torn", ctf_index(1, e)[:16 + 72 + 30])
    write("index", "seed-wide-entries", ctf_index(1, e, esize=96))
    write("index", "seed-entry-size-64", ctf_index(1, e, esize=64))
    write("index", "seed-bad-magic", b"\xc1\xf1\xdc\xc2" + ctf_index(1, e[:1])[4:])
    write("index", "seed-major-2", ctf_index(1, e[:1])[:4] + struct.pack(">I", 2) +
          ctf_index(1, e[:1])[8:])
    write("index", "seed-header-only", ctf_index(1, []))
    write("index", "seed-short", ctf_index(1, [])[:10])


def ctf2_seeds():
    """CTF 2 metadata streams (RFC 7464: 0x1E before each JSON fragment)."""
    import json

    def seq(*frags):
        return b"".join(b"\x1e" + json.dumps(f, indent=1).encode() + b"\n" for f in frags)

    def u(n, **kw):
        return dict(type="fixed-length-unsigned-integer", length=n, alignment=8,
                    **{"byte-order": "little-endian"}, **kw)

    def struct_(*members):
        return {"type": "structure",
                "member-classes": [{"name": n, "field-class": fc} for n, fc in members]}

    pre = {"type": "preamble", "version": 2}
    tc = {"type": "trace-class", "uid": "u", "environment": {"hostname": "h", "vpid": 3},
          "packet-header-field-class": struct_(("magic", u(32, roles=["packet-magic-number"])),
                                               ("stream_id", u(8, roles=["data-stream-class-id"])))}
    clk = {"type": "clock-class", "id": "c", "frequency": 1000000000, "origin": "unix-epoch",
           "offset-from-origin": {"seconds": 10, "cycles": 3}}
    hdr = struct_(("id", dict(u(5, roles=["event-record-class-id"]), alignment=1,
                              mappings={"compact": [[0, 30]], "extended": [[31, 31]]})),
                  ("v", {"type": "variant",
                         "selector-field-location": {"origin": "event-record-header",
                                                     "path": ["id"]},
                         "options": [{"name": "compact", "selector-field-ranges": [[0, 30]],
                                      "field-class": struct_(("timestamp", dict(
                                          u(27, roles=["default-clock-timestamp"]),
                                          alignment=1)))},
                                     {"name": "extended", "selector-field-ranges": [[31, 31]],
                                      "field-class": struct_(
                                          ("id", u(32, roles=["event-record-class-id"])),
                                          ("timestamp", u(64, roles=["default-clock-timestamp"])))}]}))
    dsc = {"type": "data-stream-class", "id": 0, "default-clock-class-id": "c",
           "packet-context-field-class": struct_(
               ("timestamp_begin", u(64, roles=["default-clock-timestamp"])),
               ("timestamp_end", u(64, roles=["packet-end-default-clock-timestamp"])),
               ("content_size", u(64, roles=["packet-content-length"])),
               ("packet_size", u(64, roles=["packet-total-length"])),
               ("events_discarded", u(64, roles=["discarded-event-record-counter-snapshot"])),
               ("packet_seq_num", u(64, roles=["packet-sequence-number"]))),
           "event-record-header-field-class": hdr}
    alias = {"type": "field-class-alias", "name": "u8", "field-class": u(8)}
    erc = {"type": "event-record-class", "id": 0, "name": "a:b",
           "payload-field-class": struct_(
               ("n", "u8"),
               ("a", {"type": "dynamic-length-array", "element-field-class": "u8",
                      "length-field-location": {"path": ["n"]}}),
               ("s", {"type": "null-terminated-string"}),
               ("t", {"type": "static-length-string", "length": 4}),
               ("f", {"type": "fixed-length-floating-point-number", "length": 64,
                      "byte-order": "big-endian"}),
               ("e", dict(u(8), mappings={"X": [[0, 1]], "Y": [[2, 2], [9, 9]]})))}
    full = seq(pre, tc, clk, dsc, alias, erc)
    write("ctf2", "seed-full", b"\x40" + full)
    write("ctf2", "seed-full-cut-early", b"\x03" + full)
    write("ctf2", "seed-minimal", b"\x80" + seq(pre, {"type": "data-stream-class"},
                                                {"type": "event-record-class"}))
    write("ctf2", "seed-unknown-fragment", b"\x10" + seq(pre, {"type": "nope"}))
    write("ctf2", "seed-alias-self", b"\x10" + seq(pre, {"type": "field-class-alias",
                                                        "name": "x", "field-class": "x"}))
    write("ctf2", "seed-huge-number", b"\x20" + seq(pre) +
          b'\x1e{"type":"data-stream-class","id":123456789012345678901234567890}\n')
    write("ctf2", "seed-wrong-types", b"\x20" + seq(pre, {"type": "data-stream-class",
                                                        "id": "0", "packet-context-field-class": 3}))
    write("ctf2", "seed-deep", b"\x20" + seq(pre) + b"\x1e" + b"[" * 5000 + b"\n")
    write("ctf2", "seed-not-json", b"\x20\x1e{\"type\":\"preamble\",\n\x1e}")


def ctf2_packet_trace():
    """The trace of fuzz-ctf2-packet.c: every CTF 2 field class (the traces
    of tests/ctf/test_ctf2_fields.py merged into one, one event record class
    each); returns it with those traces."""
    import importlib.util
    import sys
    tests = pathlib.Path(__file__).resolve().parent.parent / "tests" / "ctf"
    sys.path.insert(0, str(tests))
    from ctf2_writer import Trace
    # the test module only decorates with pytest: a stand-in is enough here
    fake = type(sys)("pytest")
    fake.fixture = lambda *a, **k: (lambda f: f)
    fake.mark = type("mark", (), {"parametrize": staticmethod(lambda *a, **k: (lambda f: f))})
    sys.modules.setdefault("pytest", fake)
    spec = importlib.util.spec_from_file_location("fields", tests / "test_ctf2_fields.py")
    fields = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fields)
    traces = sorted(fields.build_traces().items())
    merged = Trace()
    for name, t in traces:
        merged.aliases.update(t.aliases)
        base = len(merged.events)
        merged.events += [(f"{name}:{n}", fc) for n, fc in t.events]
        merged.records += [(base + ev, v) for ev, v in t.records]
    return merged, traces


def ctf2_packet_header(meta: str) -> str:
    """The metadata as a C array of its lines (fed line by line, as a live
    metadata stream may come)."""
    lines = []
    for line in meta.split("\n")[:-1]:
        c = line.replace("\\", "\\\\").replace('"', '\\"').replace("\x1e", '\\x1e""')
        lines.append(f'\t"{c}\\n",')
    return ("/* SPDX-License-Identifier: MIT */\n"
            "/* Generated by fuzz/gen-corpus.py at build time: the CTF 2 metadata of "
            "fuzz-ctf2-packet.c, one line each */\n"
            "/* clang-format off */\n"
            "static const char *const ctf2_packet_metadata[] = {\n" + "\n".join(lines) +
            "\n\tNULL,\n};\n/* clang-format on */\n")


def ctf2_packet_seeds():
    """fuzz-ctf2-packet.c: seeds of packets for its metadata."""
    merged, traces = ctf2_packet_trace()
    from ctf2_writer import Trace  # (on the path once ctf2_packet_trace() ran)
    meta = merged.metadata().decode()
    write("ctf2", "seed-every-field-class", b"\x40" + meta.encode())
    data = merged.stream()
    write("ctf2-packet", "seed-all", data)
    write("ctf2-packet", "seed-truncated", data[:len(data) // 2])
    names = [n for n, _ in merged.events]
    for name, t in traces:
        one = Trace(merged.aliases)
        one.events = merged.events
        base = names.index(f"{name}:{t.events[0][0]}")
        one.records = [(base + ev, v) for ev, v in t.records]
        write("ctf2-packet", f"seed-{name}", one.stream())


def ctf2_packet_build(header: str, stream: str) -> None:
    """The build's outputs (--ctf2-packet)."""
    merged, _ = ctf2_packet_trace()
    pathlib.Path(header).write_text(ctf2_packet_header(merged.metadata().decode()))
    pathlib.Path(stream).write_bytes(merged.stream())


def main():
    ctf2_seeds()
    ctf2_packet_seeds()
    for i, t in enumerate([UST, TYPES] + ODD):
        write("tsdl", f"seed-{i}.tsdl", b"\x80" + t.encode())
    write("tsdl", "seed-packetized-le", b"\x10" + packetize(UST))
    write("tsdl", "seed-packetized-be", b"\xf0" + packetize(TYPES, le=False))

    msg = lambda s: struct.pack("<I", len(s)) + s
    types = (struct.pack("<d", -1.5) + b"hi\0" + bytes([4]) + struct.pack("<3H", 1, 2, 3) +
             struct.pack(">i", -2) + bytes(5))
    p1 = ust_packet([(1000, None, msg(b"hello 0")), (2000, 0, msg(b"hello 1")),
                     (3000, 1, types)])
    p2 = ust_packet([(5000, 0, msg(b"a\0b")), (2**33, None, msg(b""))], seq=3, disc=5)
    write("packet", "seed-ust", b"\x00" + p1 + p2)
    write("packet", "seed-ust-truncated", b"\x00" + p1[:100])
    # metadata 1: BE, bit-packed, 3-bit clock
    ev = bytes([0 << 3 | 5])  # id 0, ts 5 (BE: id in the top 5 bits)
    ev += bytes([0b10100000, 0x12, 0x34])  # o3 + b13 (+ padding to the byte)
    ev += bytes([6, 2, 7, 9])  # sel = Z, n = 2, s = [7, 9]
    ev += bytes([3, 0b10100000])  # len = 3 bits
    ev1 = bytes([1 << 3 | 1])
    body = ev + ev1
    size = (9 + len(body)) * 8
    pkt = struct.pack(">IIB", size, size, 0) + body
    write("packet", "seed-bits", b"\x01" + pkt + pkt)
    index_seeds()

    relayd_rx()


def ctrl(cmd, payload, size=None):
    """A control message (relayd-protocol.md §2.1): header, then payload."""
    return struct.pack(">QQII", 0, len(payload) if size is None else size, cmd, 0) + payload


def data_msg(stream, seq, body, padding=0):
    """A data socket message (§2.3): header, then the packet bytes."""
    return struct.pack(">QQQII", 0, stream, seq, len(body), padding) + body


def relayd_rx():
    """Byte streams of the control and data sockets for fuzz-relayd-rx.c; the
    first byte is the socket (bit 0: data) and the feed size (bits 1-7)."""
    index = struct.pack(">10Q", 1, 0, 4096 * 8, 4000 * 8, 10, 20, 0, 0, 0, 0)
    session = ctrl(5, struct.pack(">II", 2, 13)) + ctrl(16, b"") + ctrl(13, index)
    meta = struct.pack(">QI", 42, 8) + b"/* CTF 1.8 */ trace { };"
    session += ctrl(6, meta) + ctrl(6, struct.pack(">QI", 43, 0))
    for step in (0, 1, 7, 64):
        write("relayd-rx", f"seed-control-{step}", bytes([step << 1]) + session)
    write("relayd-rx", "seed-control-oversized", b"\x00" + ctrl(2, b"x" * 16, size=2**61))
    write("relayd-rx", "seed-control-short-metadata", b"\x00" + ctrl(6, b"\0" * 11))
    write("relayd-rx", "seed-control-truncated", b"\x00" + session[:-5])
    packets = (data_msg(1, 0, bytes(range(256)) * 4, 3) + data_msg(1, 1, b"") +
               data_msg(2, 0, b"\xc1\x1f\xfc\xc1" + bytes(60)))
    for step in (0, 1, 13):
        write("relayd-rx", f"seed-data-{step}", bytes([step << 1 | 1]) + packets)
    write("relayd-rx", "seed-data-truncated", b"\x01" + packets[:40])


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "--ctf2-packet":
        ctf2_packet_build(sys.argv[2], sys.argv[3])
    else:
        main()
