#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when the relay's modules call each other in a cycle.

Arguments: the object files of cl_relayd. A module (one .c file) depends on
another when it uses a symbol the other defines (nm). The graph must be
acyclic: doc/architecture.md gives the direction (conn -> session -> stream
-> publish -> sync, ...).
"""
import os
import subprocess
import sys


def symbols(obj, defined):
    args = ["nm", "--defined-only" if defined else "--undefined-only", obj]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if defined and len(parts) == 3 and parts[1] in "TDBR":
            names.add(parts[2])
        elif not defined and len(parts) == 2:
            names.add(parts[1])
    return names


def module(obj):
    return os.path.basename(obj).split(".")[0]


def main(objs):
    owner = {}
    for o in objs:
        for s in symbols(o, True):
            owner[s] = module(o)
    deps = {module(o): set() for o in objs}
    for o in objs:
        for s in symbols(o, False):
            if s in owner and owner[s] != module(o):
                deps[module(o)].add(owner[s])
    for m in sorted(deps):
        print(f"{m} -> {' '.join(sorted(deps[m])) or '-'}")
    state = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(deps[m]):
            if state.get(d) == 1:
                cycle = path[path.index(d):] + [d]
                sys.exit("call cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(deps):
        if m not in state:
            visit(m, [m])
    print("no cycle")


if __name__ == "__main__":
    main(sys.argv[1:])
