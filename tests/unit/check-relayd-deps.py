#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when one of the checked relay modules is part of a call cycle.

Arguments: --check m1,m2,... then the object files of cl_relayd. A module
(one .c file) depends on another when it uses a symbol the other defines
(nm). No checked module may sit on a cycle: doc/architecture.md gives the
direction (session -> stream -> publish -> sync, ...).
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


def main(args):
    checked = set()
    if args and args[0] == "--check":
        checked = set(args[1].split(","))
        args = args[2:]
    objs = args
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
    # Tarjan's strongly connected components: a cycle is a component of
    # more than one module.
    index, low, stack, on, comps = {}, {}, [], set(), []

    def strong(m):
        index[m] = low[m] = len(index)
        stack.append(m)
        on.add(m)
        for d in deps[m]:
            if d not in index:
                strong(d)
                low[m] = min(low[m], low[d])
            elif d in on:
                low[m] = min(low[m], index[d])
        if low[m] == index[m]:
            comp = []
            while True:
                x = stack.pop()
                on.discard(x)
                comp.append(x)
                if x == m:
                    break
            comps.append(comp)

    for m in sorted(deps):
        if m not in index:
            strong(m)
    bad = False
    for comp in comps:
        if len(comp) > 1:
            hit = sorted(set(comp) & checked)
            print(f"cycle among {' '.join(sorted(comp))}" + (" (checked)" if hit else ""))
            bad |= bool(hit)
    for m in sorted(checked - set(deps)):
        print(f"checked module {m} not found")
        bad = True
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
