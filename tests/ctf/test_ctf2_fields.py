# SPDX-License-Identifier: MIT
"""Every CTF 2 field class (CTF2-SPEC-2.0) through `ctflive view`, against
babeltrace2 2.1.2 run at test time on the same traces.

The traces are built here (ctf2_writer.py): one per group of field classes,
with edge values (LEB128 of one to ten bytes, negative and extreme; UTF-16
and UTF-32 with non-ASCII and astral characters; absent and present
optionals selected by booleans and by integer ranges; bit arrays of odd
lengths and both bit orders; BLOBs with media types; relative field locations
with parent items; field locations through member names holding '.', with
parent items after names, across arrays, optionals and variants, and the
ones 2.1.2 refuses; minimum alignments; aliases; unnamed variant options;
enumerations with many labels). Each trace is printed by ctflive and by
babeltrace2 2.1.2 of the Debian sid root of the integration tests
(tests/integration/sidroot.py; the comparison is skipped, with the reason,
when that root is not there), byte for byte and with the same exit status;
a few values are also checked against what the specification says, so the
test means something without the root. JSON Lines output must be valid JSON
for each trace.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from ctf2_writer import Trace  # noqa: E402

BUILD = pathlib.Path(os.environ.get("CTFLIVE_BUILD_DIR", "build"))
CTFLIVE = (BUILD / "src" / "cli" / "ctflive").resolve()


def U(n, bo="little-endian", **k):
    return dict({"type": "fixed-length-unsigned-integer", "length": n, "byte-order": bo}, **k)


def S(n, bo="little-endian", **k):
    return dict({"type": "fixed-length-signed-integer", "length": n, "byte-order": bo}, **k)


def BOOL(n, bo="little-endian", **k):
    return dict({"type": "fixed-length-boolean", "length": n, "byte-order": bo}, **k)


def BITS(n, bo="little-endian", **k):
    return dict({"type": "fixed-length-bit-array", "length": n, "byte-order": bo}, **k)


def STR(**k):
    return dict({"type": "null-terminated-string"}, **k)


VU = {"type": "variable-length-unsigned-integer"}
VS = {"type": "variable-length-signed-integer"}


def rel(*path):
    return {"path": list(path)}


def ab(origin, *path):
    return {"origin": origin, "path": list(path)}


def utf(s, enc):
    return s.encode({"utf-16le": "utf-16-le", "utf-16be": "utf-16-be",
                     "utf-32le": "utf-32-le", "utf-32be": "utf-32-be", "utf-8": "utf-8"}[enc])


def one(name, members, records, aliases=None):
    t = Trace(aliases)
    e = t.event_class(name, members)
    for r in records:
        t.record(e, r)
    return t


def build_traces() -> dict[str, Trace]:
    T: dict[str, Trace] = {}
    T["bool"] = one("bools", [
        ("b1", BOOL(1)), ("b7", BOOL(7)),
        ("b13", BOOL(13, "big-endian", alignment=8)), ("b32", BOOL(32, alignment=32)),
        ("b64", BOOL(64, "big-endian", alignment=8))],
        [{"b1": 1, "b7": 0, "b13": 4096, "b32": 0, "b64": 1 << 63},
         {"b1": 0, "b7": 127, "b13": 0, "b32": 0xFFFFFFFF, "b64": 0}])
    T["bitarray"] = one("bits", [
        ("a1", BITS(1)), ("a5", BITS(5)), ("a3", BITS(3)),
        ("b12", BITS(12, "big-endian", alignment=8)), ("b9", BITS(9, "big-endian")),
        ("c8", BITS(8, alignment=8, **{"bit-order": "first-to-last"})),
        ("c4", BITS(4, "big-endian", alignment=8, **{"bit-order": "last-to-first"})),
        ("c6", BITS(6, "big-endian", **{"bit-order": "first-to-last"})),
        ("d33", BITS(33, alignment=8)), ("d64", BITS(64, alignment=8))],
        [{"a1": 1, "a5": 0x15, "a3": 2, "b12": 0xABC, "b9": 0x1FF, "c8": 1, "c4": 1,
          "c6": 0x21, "d33": (1 << 33) - 1, "d64": 0xFEDCBA9876543210},
         {"a1": 0, "a5": 0, "a3": 0, "b12": 0, "b9": 0, "c8": 0x80, "c4": 8, "c6": 0,
          "d33": 0, "d64": 0}])
    bm = {"type": "fixed-length-bit-map", "byte-order": "little-endian"}
    T["bitmap"] = one("maps", [
        ("m3", dict(bm, length=3, flags={"X": [[0, 2]]})),
        ("m16", dict(bm, length=16, alignment=8,
                     flags={"LOW": [[0, 0]], "HIGH": [[9, 15]], "MID": [[4, 5], [7, 7]]})),
        ("m13", dict(bm, length=13, **{"byte-order": "big-endian"},
                     flags={"zeta": [[12, 12]], "alpha": [[0, 3]], "beta": [[2, 2]]})),
        ("m64", dict(bm, length=64, alignment=8, flags={"TOP": [[63, 63]], "ALL": [[0, 63]]}))],
        [{"m3": 0, "m16": 0x8211, "m13": 0x1004, "m64": 1 << 63},
         {"m3": 5, "m16": 0, "m13": 0, "m64": 0},
         {"m3": 7, "m16": 0xFFFF, "m13": 0x1FFF, "m64": 2}])
    leb_vals_u = [0, 1, 127, 128, 300, 16383, 16384, 624485, (1 << 32) + 5, (1 << 63),
                  (1 << 64) - 1, (1 << 56), (1 << 63) - 1]
    leb_vals_s = [0, 1, -1, 63, 64, -64, -65, 8191, -8193, -123456, (1 << 62), -(1 << 63),
                  (1 << 63) - 1]
    T["leb128"] = one("leb", [
        ("u", VU), ("s", VS), ("x", dict(VU, **{"preferred-display-base": 16})),
        ("o", dict(VS, **{"preferred-display-base": 8})),
        ("bn", dict(VU, **{"preferred-display-base": 2})),
        ("m", dict(VU, mappings={"SMALL": [[0, 127]], "BYTE": [[0, 255]], "BIG": [[1000, 99999999]]})),
        ("sm", dict(VS, mappings={"NEG": [[-1000000, -1]], "ZERO": [[0, 0]], "ODD": [[1, 1], [3, 3]]})),
        ("after", U(8, alignment=8))],
        [{"u": u, "s": s, "x": u, "o": s, "bn": u & 0x3FF, "m": u, "sm": s, "after": 0xAA}
         for u, s in zip(leb_vals_u, leb_vals_s)])
    T["blob"] = one("blobs", [
        ("n", U(8, alignment=8)),
        ("s3", {"type": "static-length-blob", "length": 3}),
        ("s16", {"type": "static-length-blob", "length": 16, "media-type": "application/x-uuid"}),
        ("d", {"type": "dynamic-length-blob", "length-field-location": rel("n"),
               "media-type": "text/plain"}),
        ("ln", VU),
        ("dl", {"type": "dynamic-length-blob", "length-field-location": rel("ln")})],
        [{"n": 2, "s3": b"\x00\xab\xff", "s16": bytes(range(16)), "d": b"hi", "ln": 300,
          "dl": bytes(i & 0xFF for i in range(300))},
         {"n": 0, "s3": b"abc", "s16": b"\xff" * 16, "d": b"", "ln": 0, "dl": b""}])
    T["optional"] = one("opts", [
        ("f", BOOL(8, alignment=8)),
        ("o", {"type": "optional", "selector-field-location": rel("f"),
               "field-class": U(16, alignment=16)}),
        ("g", BOOL(1)),
        ("os", {"type": "optional", "selector-field-location": rel("g"), "field-class": STR()}),
        ("sel", U(8, alignment=8)),
        ("oi", {"type": "optional", "selector-field-location": rel("sel"),
                "selector-field-ranges": [[1, 3], [7, 7]],
                "field-class": {"type": "structure", "member-classes": [
                    {"name": "x", "field-class": S(32, alignment=8)},
                    {"name": "y", "field-class": STR()}]}}),
        ("ssel", S(8, alignment=8)),
        ("on", {"type": "optional", "selector-field-location": rel("ssel"),
                "selector-field-ranges": [[-128, -2]],
                "field-class": {"type": "static-length-array", "length": 2,
                                "element-field-class": U(8, alignment=8)}}),
        ("onest", {"type": "optional", "selector-field-location": rel("f"),
                   "field-class": {"type": "optional", "selector-field-location": rel("g"),
                                   "field-class": VS}})],
        [{"f": 1, "o": 513, "g": 1, "os": "yo", "sel": 2, "oi": {"x": -5, "y": ""},
          "ssel": -3, "on": [1, 2], "onest": -70},
         {"f": 0, "o": None, "g": 0, "os": None, "sel": 4, "oi": None, "ssel": -1, "on": None,
          "onest": None},
         {"f": 255, "o": 0, "g": 0, "os": None, "sel": 7, "oi": {"x": 7, "y": "z"},
          "ssel": -128, "on": [0, 255], "onest": None}])
    strs = ["", "a", "héllo€", "ж𝄞x\n\"q\"", "tab\there"]
    members = []
    recs = [{} for _ in strs]
    for enc in ("utf-8", "utf-16le", "utf-16be", "utf-32le", "utf-32be"):
        tag = enc.replace("-", "")
        members += [(f"nt_{tag}", STR(encoding=enc)),
                    (f"st_{tag}", {"type": "static-length-string", "length": 24, "encoding": enc}),
                    (f"len_{tag}", U(8, alignment=8)),
                    (f"dy_{tag}", {"type": "dynamic-length-string", "encoding": enc,
                                   "length-field-location": rel(f"len_{tag}")})]
        for r, s in zip(recs, strs):
            r[f"nt_{tag}"] = s
            r[f"st_{tag}"] = s if len(utf(s, enc)) <= 24 else ""
            r[f"len_{tag}"] = len(utf(s, enc))
            r[f"dy_{tag}"] = s
    T["strings"] = one("strs", members, recs)
    fl = {"type": "fixed-length-floating-point-number"}
    fvals = [0.0, -0.0, 1.5, -2.25e-300, 3.4028234663852886e38, float("inf"), float("-inf"),
             float("nan"), 1e-40, 123456.789]
    T["floats"] = one("floats", [
        ("f32", dict(fl, length=32, **{"byte-order": "little-endian"})),
        ("f64", dict(fl, length=64, **{"byte-order": "big-endian"}, alignment=8)),
        ("g32", dict(fl, length=32, **{"byte-order": "big-endian"}, alignment=32))],
        [{"f32": v if abs(v) < 3.5e38 or math.isinf(v) or math.isnan(v) else 1.0, "f64": v,
          "g32": v if abs(v) < 3.5e38 or math.isinf(v) or math.isnan(v) else 2.0}
         for v in fvals])
    nested = {"type": "structure", "member-classes": [
        {"name": "k", "field-class": VU},
        {"name": "w", "field-class": {"type": "variant", "selector-field-location": rel("k"),
                                      "options": [
                                          {"name": "a", "selector-field-ranges": [[0, 9]],
                                           "field-class": BOOL(8)},
                                          {"name": "b", "selector-field-ranges": [[10, 10]],
                                           "field-class": VS}]}}]}
    # (babeltrace2 2.1.2 throws std::out_of_range on a variant with a signed
    # selector holding another variant: two variants here)
    T["variant"] = one("vars", [
        ("s", S(8, alignment=8)),
        ("v", {"type": "variant", "selector-field-location": rel("s"), "options": [
            {"selector-field-ranges": [[-128, -1]], "field-class": U(8)},
            {"name": "x", "selector-field-ranges": [[0, 0], [5, 9]], "field-class": STR()},
            {"selector-field-ranges": [[1, 4]], "field-class": VS}]}),
        ("u", U(8, alignment=8)),
        ("n", {"type": "variant", "selector-field-location": rel("u"), "options": [
            {"selector-field-ranges": [[0, 0]], "field-class": U(8)},
            {"name": "y", "selector-field-ranges": [[1, 200]], "field-class": nested}]})],
        [{"s": -1, "v": (0, 200), "u": 0, "n": (0, 1)},
         {"s": 7, "v": (1, "seven"), "u": 1, "n": (1, {"k": 3, "w": (0, 1)})},
         {"s": 2, "v": (2, -300), "u": 200, "n": (1, {"k": 10, "w": (1, -9)})}])
    T["align"] = one("align", [
        ("a", U(3)),
        ("arr", {"type": "static-length-array", "length": 2, "minimum-alignment": 32,
                 "element-field-class": U(8, alignment=8)}),
        ("b", U(3)),
        ("n", U(5)),
        ("dyn", {"type": "dynamic-length-array", "length-field-location": rel("n"),
                 "minimum-alignment": 64, "element-field-class": U(4)}),
        ("st", {"type": "structure", "minimum-alignment": 16, "member-classes": [
            {"name": "c", "field-class": U(1)}]}),
        ("e", {"type": "static-length-array", "length": 0, "minimum-alignment": 8,
               "element-field-class": U(16)}),
        ("z", U(2))],
        [{"a": 5, "arr": [1, 2], "b": 7, "n": 3, "dyn": [1, 15, 8], "st": {"c": 1}, "e": [],
          "z": 3},
         {"a": 0, "arr": [0, 0], "b": 0, "n": 0, "dyn": [], "st": {"c": 0}, "e": [], "z": 1}])
    inner = {"type": "structure", "member-classes": [
        {"name": "cnt", "field-class": U(8, alignment=8)},
        {"name": "deep", "field-class": {"type": "structure", "member-classes": [
            {"name": "items", "field-class": {
                "type": "dynamic-length-array", "length-field-location": rel(None, "cnt"),
                "element-field-class": U(8, alignment=8)}},
            {"name": "far", "field-class": {
                "type": "dynamic-length-string",
                "length-field-location": rel(None, "cnt")}}]}}]}
    T["locations"] = Trace({"u8": U(8, alignment=8),
                            "optu16": {"type": "optional",
                                       "selector-field-location": rel(None, "top"),
                                       "selector-field-ranges": [[1, 255]],
                                       "field-class": U(16, alignment=8)}})
    T["locations"].events.append(("locs", {"type": "structure", "member-classes": [
        {"name": "top", "field-class": "u8"},
        {"name": "s", "field-class": inner},
        {"name": "absd", "field-class": {
            "type": "dynamic-length-blob",
            "length-field-location": ab("event-record-payload", "s", "cnt")}},
        {"name": "h", "field-class": {"type": "structure", "member-classes": [
            {"name": "aliased", "field-class": "optu16"}]}}]}))
    T["locations"].records = [
        (0, {"top": 3, "s": {"cnt": 2, "deep": {"items": [7, 8], "far": "ab"}},
             "absd": b"\x01\x02", "h": {"aliased": 0xBEEF}}),
        (0, {"top": 0, "s": {"cnt": 0, "deep": {"items": [], "far": ""}}, "absd": b"",
             "h": {"aliased": None}})]
    T["loc_dots"], T["loc_parents"], T["loc_compound"] = location_traces()
    labels = ["M", "B", "Q", "A", "X", "C", "RED", "GREEN", "blue", "a1", "a2", "Zz_9", "_x"]
    T["enums"] = one("enums", [
        ("e", U(8, alignment=8, mappings={lab: [[1, 1]] for lab in labels})),
        ("few", U(8, alignment=8, mappings={"RED": [[0, 2]], "WARM": [[1, 5]], "Z": [[1, 1]]})),
        ("se", S(16, alignment=8, mappings={"NEG": [[-300, -1]], "MINUS_ONE": [[-1, -1]],
                                            "POS": [[1, 300]], "ONE": [[1, 1]]}))],
        [{"e": 1, "few": 1, "se": -1}, {"e": 0, "few": 4, "se": 1}, {"e": 2, "few": 9, "se": 0}])
    multi = Trace()
    e0 = multi.event_class("first", [("a", U(8, alignment=8)), ("b", VS)])
    e1 = multi.event_class("second", [("c", BOOL(8)), ("d", STR(encoding="utf-16le"))])
    for k in range(3):
        multi.record(e0, {"a": k, "b": -k * 1000})
        multi.record(e1, {"c": k & 1, "d": f"ü{k}"})
    T["multi"] = multi
    # invalid code units after the first zero one are not looked at
    T["utf_after_nul"] = one("ev", [
        ("a", {"type": "static-length-string", "length": 6, "encoding": "utf-16le"}),
        ("b", {"type": "static-length-string", "length": 5, "encoding": "utf-16le"}),
        ("c", {"type": "static-length-string", "length": 8, "encoding": "utf-32be"})],
        [{"a": b"a\x00\x00\x00\x00\xd8", "b": b"a\x00\x00\x00b",
          "c": b"\x00\x00\x00z\x00\x00\x00\x00"}])
    return T


def location_traces() -> tuple[Trace, Trace, Trace]:
    """Field locations through member names holding '.' (and the empty
    name), with parent items after names, and across arrays, optionals and
    variants: the lengths of dynamic arrays, strings and BLOBs and the
    selectors of optionals and variants found through each."""
    u8, u16 = U(8, alignment=8), U(16, alignment=8)
    P = "event-record-payload"

    def st(*members):
        return {"type": "structure",
                "member-classes": [{"name": n, "field-class": f} for n, f in members]}

    def dblob(loc):
        return {"type": "dynamic-length-blob", "length-field-location": loc}

    def dstr(loc):
        return {"type": "dynamic-length-string", "length-field-location": loc}

    def darr(loc, elem):
        return {"type": "dynamic-length-array", "length-field-location": loc,
                "element-field-class": elem}

    def opt(loc, fc, ranges=None):
        o = {"type": "optional", "selector-field-location": loc, "field-class": fc}
        if ranges:
            o["selector-field-ranges"] = ranges
        return o

    def var(loc, *opts):
        return {"type": "variant", "selector-field-location": loc,
                "options": [{"name": n, "selector-field-ranges": r, "field-class": f}
                            for n, r, f in opts]}

    dots = one("dots", [
        ("a.b", u8),
        ("s.t", st(("n.m", u8), ("", u8), (".", BOOL(8)))),
        ("d1", dblob(rel("a.b"))),
        ("d2", dstr(ab(P, "s.t", "n.m"))),
        ("d3", darr(rel("s.t", ""), U(8, alignment=8))),
        ("o", opt(ab(P, "s.t", "."), STR())),
        ("v", var(rel("s.t", "n.m"), ("x.y", [[0, 1]], u8), ("", [[2, 255]], STR()))),
        ("in.ner", st(("k", u8), ("d4", dblob(rel(None, "a.b")))))],
        [{"a.b": 2, "s.t": {"n.m": 3, "": 1, ".": 1}, "d1": b"\x01\x02", "d2": "xyz",
          "d3": [9], "o": "set", "v": (1, "three"), "in.ner": {"k": 0, "d4": b"ab"}},
         {"a.b": 0, "s.t": {"n.m": 1, "": 0, ".": 0}, "d1": b"", "d2": "q", "d3": [],
          "o": None, "v": (0, 7), "in.ner": {"k": 1, "d4": b""}}])
    # parent items after names: ["a", null, "n"] is ["n"]; [null, "s", null,
    # "n"] is [null, "n"]; ["s", null, null, "n"] too
    parents = one("parents", [
        ("n", u8),
        ("a", st(("n", u16), ("k", u8))),
        ("d1", dblob(rel("a", None, "n"))),
        ("d2", dstr(rel("a", "k", None, "n"))),
        ("s", st(("n", u8), ("sel", u8),
                 ("d3", dblob(rel(None, "s", None, "n"))),
                 ("d4", darr(rel("s", None, None, "n"), u8)),
                 # (a boolean selector right before its optional: 2.1.2
                 # crashes on one with another field in between)
                 ("f", BOOL(8)),
                 ("o", opt(rel("d3", None, "f"), VU)),
                 ("oi", opt(rel(None, "a", None, "s", "sel"), u8, [[1, 1]])),
                 ("v", var(rel("f", None, "sel"), ("p", [[0, 0]], u8), ("q", [[1, 9]], VS)))))],
        [{"n": 2, "a": {"n": 3, "k": 0}, "d1": b"\xaa\xbb", "d2": "abc",
          "s": {"n": 1, "f": 1, "sel": 1, "d3": b"\xcc\xdd", "d4": [5, 6], "o": 300,
                "oi": 9, "v": (1, -4)}},
         {"n": 0, "a": {"n": 0, "k": 0}, "d1": b"", "d2": "",
          "s": {"n": 0, "f": 0, "sel": 0, "d3": b"", "d4": [], "o": None, "oi": None,
                "v": (0, 8)}}])
    # across compound fields: the current array element, optional field or
    # variant option holding the requesting field; all the options of a
    # variant that does not hold it
    compound = one("compound", [
        ("c", u8),
        ("arr", darr(rel("c"), st(("n", u8), ("d", dstr(ab(P, "arr", "n")))))),
        ("f", BOOL(8)),
        ("o", opt(rel("f"), st(("n", u8), ("d", dblob(ab(P, "o", "n")))))),
        ("s", u8),
        ("v", var(rel("s"), ("a", [[0, 0]], st(("n", u8), ("d", darr(ab(P, "v", "n"), u8)))),
                  ("b", [[1, 1]], st(("z", u8), ("n", u16))))),
        ("dv", dblob(rel("v", "n"))),
        ("w", var(rel("v", "n"), ("lo", [[0, 2]], u8), ("hi", [[3, 65535]], STR()))),
        ("ov", opt(ab(P, "v", "n"), u8, [[2, 2], [300, 300]])),
        # each option's "n" located from inside its option, then both from after
        ("s2", u8),
        ("v2", var(rel("s2"), ("a", [[0, 0]], st(("n", u8), ("d", dblob(rel("n"))))),
                   ("b", [[1, 1]], st(("n", u8), ("d", dstr(rel("n"))))))),
        ("d2", darr(rel("v2", "n"), u8))],
        [{"c": 2, "arr": [{"n": 1, "d": "a"}, {"n": 2, "d": "bc"}], "f": 1,
          "o": {"n": 3, "d": b"xyz"}, "s": 0, "v": (0, {"n": 2, "d": [4, 5]}), "dv": b"hi",
          "w": (0, 1), "ov": 77,
          "s2": 0, "v2": (0, {"n": 1, "d": b"\x01"}), "d2": [3]},
         {"c": 0, "arr": [], "f": 0, "o": None, "s": 1, "v": (1, {"z": 9, "n": 300}),
          "dv": b"\x00" * 300, "w": (1, "far"), "ov": 1,
          "s2": 1, "v2": (1, {"n": 2, "d": "ab"}), "d2": [4, 5]},
         {"c": 1, "arr": [{"n": 0, "d": ""}], "f": 1, "o": {"n": 0, "d": b""}, "s": 1,
          "v": (1, {"z": 0, "n": 3}), "dv": b"abc", "w": (1, ""), "ov": None,
          "s2": 1, "v2": (1, {"n": 0, "d": ""}), "d2": []}])
    return dots, parents, compound


# traces babeltrace2 2.1.2 refuses (ctflive must refuse them too)
def refused_traces() -> dict[str, Trace]:
    T: dict[str, Trace] = {}
    t = one("ev", [("a", U(8))], [{"a": 1}])
    t.preamble_extra = {"extensions": {"my.org": {"feature": {}}}}
    T["ext_preamble"] = t
    T["ext_fc"] = one("ev", [("a", dict(U(8), extensions={"my.org": {"x": 1}}))], [{"a": 1}])
    T["float128"] = one("ev", [("a", {"type": "fixed-length-floating-point-number",
                                      "length": 128, "byte-order": "little-endian"})], [])
    # UTF-16/32 that iconv refuses before the first zero code unit: an error
    # at that event for babeltrace2 2.1.2, for ctflive too
    for name, enc, raw in (("utf16_partial", "utf-16le", b"a\x00b"),
                           ("utf16_lone_low", "utf-16be", b"\xdc\x00\x00a"),
                           ("utf32_too_big", "utf-32le", b"\x00\x00\x11\x00"),
                           ("utf32_surrogate", "utf-32le", b"\x00\xd8\x00\x00")):
        fc = ({"type": "static-length-string", "length": 3, "encoding": enc} if
              name == "utf16_partial" else STR(encoding=enc))
        T[name] = one("ev", [("x", U(8)), ("c", fc)], [{"x": 1, "c": raw}])
    # field locations babeltrace2 2.1.2 refuses
    u8 = U(8, alignment=8)
    st = {"type": "structure", "member-classes": [{"name": "n", "field-class": u8}]}
    blob = {"type": "dynamic-length-blob"}
    T["loc_into_array"] = one("ev", [
        ("a", {"type": "static-length-array", "length": 1, "element-field-class": st}),
        ("d", dict(blob, **{"length-field-location": rel("a", "n")}))], [])
    T["loc_into_optional"] = one("ev", [
        ("f", BOOL(8)), ("o", {"type": "optional", "selector-field-location": rel("f"),
                               "field-class": st}),
        ("d", dict(blob, **{"length-field-location": rel("o", "n")}))], [])
    T["loc_structure"] = one("ev", [
        ("s", st), ("d", dict(blob, **{"length-field-location": rel("s")}))], [])
    T["loc_past_integer"] = one("ev", [
        ("n", u8), ("d", dict(blob, **{"length-field-location": rel("n", "x")}))], [])
    T["loc_missing_in_option"] = one("ev", [
        ("s", u8), ("v", {"type": "variant", "selector-field-location": rel("s"), "options": [
            {"selector-field-ranges": [[0, 0]], "field-class": st},
            {"selector-field-ranges": [[1, 1]], "field-class": u8}]}),
        ("d", dict(blob, **{"length-field-location": rel("v", "n")}))], [])
    T["loc_signed_length"] = one("ev", [
        ("n", S(8)), ("d", dict(blob, **{"length-field-location": rel("n")}))], [])
    T["loc_later"] = one("ev", [
        ("d", dict(blob, **{"length-field-location": rel("n")})), ("n", u8)], [])
    T["loc_above_scope"] = one("ev", [
        ("n", u8), ("d", dict(blob, **{"length-field-location": rel(None, "n")}))], [])
    # CTF 2 metadata in metadata packets: 2.1.2 reads the packets as TSDL
    t = one("ev", [("a", U(8))], [{"a": 1}])
    t.packetize = 100
    T["packetized_metadata"] = t
    T["bitarray65"] = one("ev", [("a", BITS(65))], [])
    T["bitmap65"] = one("ev", [("a", {"type": "fixed-length-bit-map", "length": 65,
                                      "byte-order": "little-endian",
                                      "flags": {"A": [[0, 0]]}})], [])
    return T


# accepted by both (empty extensions, attributes anywhere)
def accepted_traces() -> dict[str, Trace]:
    t = one("ev", [("a", dict(U(8), extensions={}, attributes={"my.org": {"k": [1, {}]}}))],
            [{"a": 7}])
    t.preamble_extra = {"extensions": {}, "attributes": {"x.org": {"y": None}}}
    return {"ext_empty": t}


def _ctflive(path, *opts):
    env = dict(os.environ, TZ="UTC")
    env.pop("BABELTRACE_TERM_COLOR", None)
    return subprocess.run([str(CTFLIVE), "view", *opts, str(path)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def _sid_root():
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "integration"))
    try:
        import sidroot
    finally:
        sys.path.pop(0)
    return sidroot.ready_root(namespace=False)


def _babeltrace212(root, traces: dict[str, pathlib.Path], opts=()):
    """{name: (stdout, exit status)} of babeltrace2 2.1.2 on copies of the
    traces in the sid root's /tmp."""
    tmp = root / "tmp" / f"ctflive-ctf2fc-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name, path in traces.items():
            shutil.copytree(path, tmp / name)
        inner = "; ".join(
            f"echo '#@{n}'; babeltrace2 {' '.join(map(shlex.quote, opts))} "
            f"/tmp/{tmp.name}/{n} 2>/dev/null; echo \"#@rc $?\"" for n in traces)
        p = subprocess.run([shutil.which("chroot") or "/usr/sbin/chroot", str(root), "sh", "-c",
                            inner], env={"TZ": "UTC",
                           "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, tuple[bytes, int]] = {}
    name, buf = None, b""
    for line in p.stdout.splitlines(keepends=True):
        if line.startswith(b"#@rc "):
            out[name] = (buf, int(line[5:]))
        elif line.startswith(b"#@"):
            name, buf = line[2:].strip().decode(), b""
        else:
            buf += line
    return out


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    if not CTFLIVE.exists():
        pytest.skip(f"{CTFLIVE} not built")
    d = tmp_path_factory.mktemp("ctf2fc")
    out = {}
    for group in (build_traces(), refused_traces(), accepted_traces()):
        for name, t in group.items():
            out[name] = t.write(d / name)
    return out


@pytest.fixture(scope="module")
def bt212(traces):
    root, why = _sid_root()
    if root is None:
        return None, why
    return {opts: _babeltrace212(root, traces, opts) for opts in OPTS}, None


ACCEPTED = sorted(list(build_traces()) + list(accepted_traces()))
OPTS = [(), ("-n", "all", "--no-delta"), ("-f", "all")]
REFUSED = sorted(refused_traces())


@pytest.mark.parametrize("opts", OPTS, ids=["default", "names", "fields"])
@pytest.mark.parametrize("name", ACCEPTED + REFUSED)
def test_vs_babeltrace212(traces, bt212, name, opts):
    res, why = bt212
    if res is None:
        pytest.skip(why)
    exp, rc = res[opts][name]
    assert rc == (1 if name in REFUSED else 0), f"babeltrace2 2.1.2 exit status {rc}"
    p = _ctflive(traces[name], *opts)
    assert p.returncode == rc, p.stderr.decode(errors="replace")
    if p.stdout != exp:
        got, want = p.stdout.decode(errors="replace").splitlines(), exp.decode(
            errors="replace").splitlines()
        for i, (a, b) in enumerate(zip(got, want)):
            assert a == b, f"line {i + 1}"
        assert len(got) == len(want)


@pytest.mark.parametrize("name", ACCEPTED)
def test_json_lines(traces, name):
    p = _ctflive(traces[name], "--json")
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    lines = p.stdout.decode().splitlines()
    assert lines
    for line in lines:
        assert json.loads(line)["type"] == "event"


@pytest.mark.parametrize("name", REFUSED)
def test_refused_clearly(traces, name):
    p = _ctflive(traces[name])
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 1 and "error:" in err and p.stdout == b"", err


def _payloads(path):
    p = _ctflive(path, "--json")
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return [json.loads(line)["payload"] for line in p.stdout.decode().splitlines()]


def test_values_by_the_specification(traces):
    """What the specification defines, whatever babeltrace2 does."""
    pl = _payloads(traces["leb128"])
    assert [r["u"] for r in pl] == [0, 1, 127, 128, 300, 16383, 16384, 624485, (1 << 32) + 5,
                                    1 << 63, (1 << 64) - 1, 1 << 56, (1 << 63) - 1]
    assert [r["s"] for r in pl] == [0, 1, -1, 63, 64, -64, -65, 8191, -8193, -123456, 1 << 62,
                                    -(1 << 63), (1 << 63) - 1]
    assert all(r["after"] == 0xAA for r in pl)
    assert pl[0]["m"]["labels"] == ["SMALL", "BYTE"] and pl[1]["sm"]["labels"] == ["ODD"]
    pl = _payloads(traces["strings"])
    for enc in ("utf8", "utf16le", "utf16be", "utf32le", "utf32be"):
        assert [r[f"nt_{enc}"] for r in pl] == ["", "a", "héllo€", "ж𝄞x\n\"q\"", "tab\there"]
        assert [r[f"dy_{enc}"] for r in pl] == [r[f"nt_{enc}"] for r in pl]
        assert pl[2][f"st_{enc}"] == "héllo€" if enc != "utf32le" and enc != "utf32be" else True
    pl = _payloads(traces["optional"])
    assert [r["o"] for r in pl] == [513, None, 0]
    assert [r["oi"] for r in pl] == [{"x": -5, "y": ""}, None, {"x": 7, "y": "z"}]
    assert [r["on"] for r in pl] == [[1, 2], None, [0, 255]]
    assert [r["onest"] for r in pl] == [-70, None, None]
    pl = _payloads(traces["blob"])
    assert pl[0]["d"] == {"media_type": "text/plain", "hex": "6869"}
    assert pl[0]["dl"]["hex"] == bytes(i & 0xFF for i in range(300)).hex()
    assert pl[1]["s3"]["hex"] == "616263" and pl[1]["dl"]["hex"] == ""
    pl = _payloads(traces["bitmap"])
    assert pl[0]["m16"] == {"value": 0x8211, "flags": ["HIGH", "LOW", "MID"]}
    assert pl[1]["m3"] == {"value": 5, "flags": ["X"]} and pl[1]["m16"]["flags"] == []
    pl = _payloads(traces["bool"])
    assert pl[0] == {"b1": True, "b7": False, "b13": True, "b32": False, "b64": True}
    pl = _payloads(traces["locations"])
    assert pl[0]["s"]["deep"] == {"items": [7, 8], "far": "ab"} and pl[0]["h"] == {
        "aliased": 0xBEEF}
    assert pl[1]["h"] == {"aliased": None}
    pl = _payloads(traces["loc_dots"])
    assert [(r["d1"]["hex"], r["d2"], r["d3"], r["o"]) for r in pl] == [
        ("0102", "xyz", [9], "set"), ("", "q", [], None)]
    assert pl[0]["in.ner"]["d4"]["hex"] == "6162" and pl[0]["v"]["option"] == ""
    pl = _payloads(traces["loc_parents"])
    assert pl[0]["d1"]["hex"] == "aabb" and pl[0]["d2"] == "abc"
    assert pl[0]["s"]["d3"]["hex"] == "ccdd" and pl[0]["s"]["d4"] == [5, 6]
    assert [r["s"]["o"] for r in pl] == [300, None] and [r["s"]["oi"] for r in pl] == [9, None]
    assert [r["s"]["v"]["option"] for r in pl] == ["q", "p"]
    pl = _payloads(traces["loc_compound"])
    assert [len(r["dv"]["hex"]) // 2 for r in pl] == [2, 300, 3]
    assert [r["w"]["option"] for r in pl] == ["lo", "hi", "hi"]
    assert [r["ov"] for r in pl] == [77, 1, None]
    assert [r["d2"] for r in pl] == [[3], [4, 5], []]
    assert pl[0]["arr"] == [{"n": 1, "d": "a"}, {"n": 2, "d": "bc"}]
    pl = _payloads(traces["variant"])
    assert pl[0]["v"] == {"option": 0, "value": 200}
    assert pl[2]["v"] == {"option": 2, "value": -300}
    assert pl[2]["n"]["value"]["w"] == {"option": "b", "value": -9}
    text = _ctflive(traces["blob"]).stdout.decode()
    assert "s3 = { 00 ab ff }" in text and "d = { }" in text
    text = _ctflive(traces["optional"]).stdout.decode()
    assert "o = { 513 }" in text and "o = <none>" in text


def test_parent_items_by_the_specification(tmp_path):
    """Relative field locations: each parent (null) item goes one structure
    up from the one holding the requesting field (CTF2-SPEC-2.0). babeltrace2
    2.1.2 agrees for one parent item (test_vs_babeltrace212) but resolves
    two consecutive ones as none (observed: [null, null, "x"] finds the
    same field as ["x"]), so several are checked here only."""
    u8 = U(8, alignment=8)
    for k, want in ((0, 4), (1, 3), (2, 2), (3, 1)):
        blob = {"type": "dynamic-length-blob", "length-field-location": rel(*[None] * k, "x")}
        c = {"type": "structure", "member-classes": [{"name": "x", "field-class": u8},
                                                     {"name": "r", "field-class": blob}]}
        b = {"type": "structure", "member-classes": [{"name": "x", "field-class": u8},
                                                     {"name": "c", "field-class": c}]}
        a = {"type": "structure", "member-classes": [{"name": "x", "field-class": u8},
                                                     {"name": "b", "field-class": b}]}
        t = one("ev", [("x", u8), ("a", a)],
                [{"x": 1, "a": {"x": 2, "b": {"x": 3, "c": {"x": 4, "r": b"\xaa" * want}}}}])
        pl = _payloads(t.write(tmp_path / f"p{k}"))
        assert pl[0]["a"]["b"]["c"]["r"]["hex"] == "aa" * want, k


def test_half_precision_float(tmp_path):
    """16-bit floating point numbers (CTF2-SPEC-2.0 allows them; babeltrace2
    2.1.2 aborts on them): IEEE 754 binary16."""
    fl = {"type": "fixed-length-floating-point-number", "length": 16,
          "byte-order": "little-endian", "alignment": 8}
    t = one("ev", [("h", fl)], [{"h": v} for v in (1.5, -0.0, 65504.0, 6.103515625e-05,
                                                  5.960464477539063e-08, float("inf"))])
    p = _ctflive(t.write(tmp_path / "f16"))
    assert p.returncode == 0, p.stderr
    assert [line.split("h = ")[1].rstrip(" }") for line in p.stdout.decode().splitlines()] == [
        "1.5", "-0", "65504", "6.10352e-05", "5.96046e-08", "inf"]


def test_length_decoded_after_refused(tmp_path):
    """A length located after the requesting field is refused; babeltrace2
    2.1.2 accepts it when the requesting field is nested deeper than the
    length (observed: it then decodes with the value of the previous event
    record, or none), ctflive refuses that too."""
    u8 = U(8, alignment=8)
    blob = {"type": "dynamic-length-blob",
            "length-field-location": ab("event-record-payload", "n")}
    t = one("ev", [("s", {"type": "structure", "member-classes": [
        {"name": "d", "field-class": blob}]}), ("n", u8)], [{"s": {"d": b""}, "n": 0}])
    p = _ctflive(t.write(tmp_path / "later"))
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 1 and "after the requesting one" in err, err
