# SPDX-License-Identifier: MIT
"""A small CTF 2 trace writer for the tests (CTF2-SPEC-2.0, CTF2-FS-1.0).

It writes a trace directory with a JSON text sequence `metadata` file and
one data stream file, from field classes given as Python dicts (the JSON of
the specification) and event values given as Python values:

  fixed-length integers, bit arrays, bit maps    int (as stored)
  booleans                                       bool or int
  floating point numbers                         float
  LEB128 integers                                int
  strings                                        str (encoded as the class says)
                                                 or bytes (written as is)
  BLOBs                                          bytes
  structures                                     dict (member name -> value)
  arrays                                         list
  optionals                                      None (absent) or the value
  variants                                       (option index, value)

The data stream class has a packet context with the packet's total and
content lengths (the data stream file is one packet), and an event record header holding an 8-bit event record class
id when the trace has more than one event record class: traces stay small and
every byte of them is the field classes under test.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

RS = b"\x1e"


class Stream:
    """The bytes of a data stream: a list of bits, each with the byte order
    of the field that wrote it (bit i of a byte is its LSB-first index for
    little-endian fields, MSB-first for big-endian ones)."""

    def __init__(self):
        self.bits: list[tuple[int, str]] = []

    def pos(self) -> int:
        return len(self.bits)

    def align(self, n: int) -> None:
        while len(self.bits) % n:
            self.bits.append((0, "little-endian"))

    def put(self, value: int, length: int, bo: str) -> None:
        value &= (1 << length) - 1
        if bo == "big-endian":
            for i in range(length):
                self.bits.append(((value >> (length - 1 - i)) & 1, bo))
        else:
            for i in range(length):
                self.bits.append(((value >> i) & 1, bo))

    def put_bytes(self, data: bytes) -> None:
        assert len(self.bits) % 8 == 0, "bytes not at a byte boundary"
        for b in data:
            self.put(b, 8, "little-endian")

    def tobytes(self) -> bytes:
        self.align(8)
        out = bytearray()
        for k in range(0, len(self.bits), 8):
            byte = 0
            for i in range(8):
                bit, bo = self.bits[k + i]
                if bit:
                    byte |= (0x80 >> i) if bo == "big-endian" else (1 << i)
            out.append(byte)
        return bytes(out)


def reverse_bits(v: int, n: int) -> int:
    return int(format(v & ((1 << n) - 1), f"0{n}b")[::-1], 2)


def uleb128(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sleb128(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if (v == 0 and not b & 0x40) or (v == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def encode_str(s: str, encoding: str | None) -> bytes:
    enc = {None: "utf-8", "utf-8": "utf-8", "utf-16be": "utf-16-be", "utf-16le": "utf-16-le",
           "utf-32be": "utf-32-be", "utf-32le": "utf-32-le"}[encoding]
    return s.encode(enc)


def unit_size(encoding: str | None) -> int:
    return 4 if encoding and "32" in encoding else 2 if encoding and "16" in encoding else 1


class Trace:
    def __init__(self, aliases: dict | None = None):
        self.aliases = dict(aliases or {})
        self.events: list[tuple[str, dict]] = []  # name, payload field class
        self.records: list[tuple[int, dict]] = []  # event index, payload value
        self.extra_fragments: list[dict] = []
        self.preamble_extra: dict = {}
        # wrap the metadata stream in metadata packets of at most this many
        # content bytes (CTF2-PMETA-1.0 / CTF 1.8 header, version 1.8)
        self.packetize: int = 0

    def event_class(self, name: str, payload_members: list[tuple[str, object]]) -> int:
        fc = {"type": "structure",
              "member-classes": [{"name": n, "field-class": f} for n, f in payload_members]}
        self.events.append((name, fc))
        return len(self.events) - 1

    def record(self, ev: int, values: dict) -> None:
        self.records.append((ev, values))

    # -- field classes ----------------------------------------------------
    def resolve(self, fc):
        while isinstance(fc, str):
            fc = self.aliases[fc]
        return fc

    def alignment(self, fc) -> int:
        fc = self.resolve(fc)
        t = fc["type"]
        if t.startswith("fixed-length-"):
            return fc.get("alignment", 1)
        if t.startswith("variable-length-") or "string" in t or "blob" in t:
            return 8
        if t == "structure":
            a = fc.get("minimum-alignment", 1)
            for m in fc.get("member-classes", []):
                a = max(a, self.alignment(m["field-class"]))
            return a
        if t.endswith("-array"):
            return max(fc.get("minimum-alignment", 1), self.alignment(fc["element-field-class"]))
        return 1  # optional, variant

    def encode(self, fc, v, s: Stream) -> None:
        fc = self.resolve(fc)
        t = fc["type"]
        s.align(self.alignment(fc))
        if t.startswith("fixed-length-"):
            n = fc["length"]
            bo = fc["byte-order"]
            if t == "fixed-length-floating-point-number":
                fmt = {16: "e", 32: "f", 64: "d"}[n]
                raw = int.from_bytes(struct.pack("<" + fmt, v), "little")
            else:
                raw = int(v)
            dflt = "first-to-last" if bo == "big-endian" else "last-to-first"
            if fc.get("bit-order", dflt) != dflt:
                raw = reverse_bits(raw, n)
            s.put(raw, n, bo)
        elif t == "variable-length-unsigned-integer":
            s.put_bytes(uleb128(v))
        elif t == "variable-length-signed-integer":
            s.put_bytes(sleb128(v))
        elif t == "null-terminated-string":
            raw = v if isinstance(v, bytes) else encode_str(v, fc.get("encoding"))
            s.put_bytes(raw + b"\0" * unit_size(fc.get("encoding")))
        elif t == "static-length-string":
            raw = v if isinstance(v, bytes) else encode_str(v, fc.get("encoding"))
            assert len(raw) <= fc["length"]
            s.put_bytes(raw + b"\0" * (fc["length"] - len(raw)))
        elif t == "dynamic-length-string":
            s.put_bytes(v if isinstance(v, bytes) else encode_str(v, fc.get("encoding")))
        elif t == "static-length-blob":
            assert len(v) == fc["length"]
            s.put_bytes(v)
        elif t == "dynamic-length-blob":
            s.put_bytes(v)
        elif t == "structure":
            for m in fc.get("member-classes", []):
                self.encode(m["field-class"], v[m["name"]], s)
        elif t.endswith("-array"):
            if t == "static-length-array":
                assert len(v) == fc["length"]
            for e in v:
                self.encode(fc["element-field-class"], e, s)
        elif t == "optional":
            if v is not None:
                self.encode(fc["field-class"], v, s)
        elif t == "variant":
            idx, val = v
            self.encode(fc["options"][idx]["field-class"], val, s)
        else:
            raise ValueError(t)

    # -- output -------------------------------------------------------------
    def metadata(self) -> bytes:
        frags = [dict({"type": "preamble", "version": 2}, **self.preamble_extra),
                 {"type": "trace-class"}]
        frags += [{"type": "field-class-alias", "name": k, "field-class": v}
                  for k, v in self.aliases.items()]
        frags += self.extra_fragments
        u32 = {"type": "fixed-length-unsigned-integer", "length": 32,
               "byte-order": "little-endian", "alignment": 8}
        dsc = {"type": "data-stream-class", "packet-context-field-class": {
            "type": "structure", "member-classes": [
                {"name": "packet_size", "field-class": dict(u32, roles=["packet-total-length"])},
                {"name": "content_size",
                 "field-class": dict(u32, roles=["packet-content-length"])}]}}
        if len(self.events) > 1:
            dsc["event-record-header-field-class"] = {
                "type": "structure",
                "member-classes": [{"name": "id", "field-class": {
                    "type": "fixed-length-unsigned-integer", "length": 8,
                    "byte-order": "little-endian", "alignment": 8,
                    "roles": ["event-record-class-id"]}}]}
        frags.append(dsc)
        for i, (name, fc) in enumerate(self.events):
            frags.append({"type": "event-record-class", "id": i, "name": name,
                          "payload-field-class": fc})
        text = b"".join(RS + json.dumps(f, indent=1).encode() + b"\n" for f in frags)
        if not self.packetize:
            return text
        out = b""
        for k in range(0, len(text), self.packetize):
            chunk = text[k:k + self.packetize]
            content = 37 + len(chunk)
            total = (content + 7) // 8 * 8 + 8  # some padding
            out += struct.pack("<I16sIIIBBBBB", 0x75D11D57, bytes(range(16)), 0, content * 8,
                               total * 8, 0, 0, 0, 1, 8) + chunk + bytes(total - content)
        return out

    def stream(self) -> bytes:
        s = Stream()
        s.put(0, 64, "little-endian")  # packet context, below
        for ev, values in self.records:
            if len(self.events) > 1:
                s.align(8)
                s.put(ev, 8, "little-endian")
            self.encode(self.events[ev][1], values, s)
        content = s.pos()
        data = bytearray(s.tobytes())
        data[0:4] = (len(data) * 8).to_bytes(4, "little")
        data[4:8] = content.to_bytes(4, "little")
        return bytes(data)

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "metadata").write_bytes(self.metadata())
        (directory / "stream").write_bytes(self.stream())
        return directory
