#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""layers.py - checks that confab's includes point down (DESIGN.md principle 8).

A file's layer is its folder under src/ (sources and private *_int.h headers) or include/ (the
headers modules offer each other), the same folders in both: LAYERS below is the one place where
the folders are ranked (docs/architecture.md "The source tree" draws the same picture). Every
include is written from those roots (`#include "core/room.h"`), so each line names the layer it
reaches into. The script reads the includes of every .c, .h and .def under src/ and include/, a
.c and its .h counting as one module, and reports:
- an include of a higher layer's file from a lower layer;
- a cycle between layers (a strongly connected component of the include graph that spans two
  layers or more; modules of one layer may include each other);
- an include written relative to the including file instead of from src/ or include/;
- an include of a private header (*_int.h) from outside its folder, or one under include/;
- a file in a folder that no layer names.
Exit 0 when there is none of them, 1 otherwise.
Usage: scripts/layers.py [--quiet] [--graph]   (--graph prints the edges between layers)

scripts/lint.sh runs it, so .ci/run fails on a violation. A new folder goes into LAYERS (and
docs/architecture.md "Layers") in the commit that adds it.
"""
import os
import re
import sys

# From the bottom: (layer, its folders under src/; "" is src/ itself). A module may include
# its own layer's files and any lower layer's.
LAYERS = [
    ("base", "base"),            # text, clock, log, metrics, rate buckets, parsers: no state of ours
    ("config", "config"),        # the option table and what reads it
    ("core", "core"),            # rooms, members, messages, frames, sessions' state, inboxes
    ("bus", "bus"),              # the bus and account-store interfaces
    ("bus-impl", "bus/local bus/redis"),  # in-process bus; Redis bus, store and connection
    ("auth", "auth"),            # tokens, password hashing, accounts, attempt limits
    ("dialects", "dialects"),    # one codec per wire protocol
    ("net", "net"),              # lws: listeners, HTTP, WebSocket sessions, the server
    ("main", ""),                # main.c
]

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SRC = os.path.join(ROOT, "src")
INC = os.path.join(ROOT, "include")
ROOTS = (SRC, INC)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def rank_of_folder():
    out = {}
    for rank, (name, folders) in enumerate(LAYERS):
        for f in folders.split() or [""]:
            out[f] = (rank, name)
    return out


def files():
    """(root, path relative to it) of every source and header."""
    for root in ROOTS:
        for d, _, names in os.walk(root):
            for n in sorted(names):
                if n.endswith((".c", ".h", ".def")):
                    yield root, os.path.relpath(os.path.join(d, n), root)


def found(inc):
    return any(os.path.isfile(os.path.join(root, inc)) for root in ROOTS)


def main():
    quiet, graph = "--quiet" in sys.argv, "--graph" in sys.argv
    folders = rank_of_folder()
    layer, deps, problems = {}, {}, []
    for root, f in sorted(files()):
        mod = os.path.splitext(f)[0]
        folder = os.path.dirname(f)
        where = os.path.relpath(root, ROOT)
        if folder not in folders:
            problems.append(f"{where}/{f}: folder {folder or '.'} is in no layer (LAYERS in "
                            "scripts/layers.py)")
            continue
        if root == INC and f.endswith("_int.h"):
            problems.append(f"{where}/{f}: a private header belongs in src/{folder}/")
        layer[mod] = folders[folder]
        with open(os.path.join(root, f), encoding="utf-8") as fh:
            incs = INCLUDE.findall(fh.read())
        for inc in incs:
            if found(inc):
                dep = os.path.splitext(os.path.normpath(inc))[0]
                if inc.endswith("_int.h") and os.path.dirname(inc) != folder:
                    problems.append(f"{where}/{f}: {inc} is private to src/{os.path.dirname(inc)}/")
                if dep != mod:
                    deps.setdefault(mod, set()).add(dep)
            elif folder and found(os.path.join(folder, inc)):
                problems.append(f"{where}/{f}: write the include of {inc} from the root: "
                                f'"{os.path.join(folder, inc)}"')
        deps.setdefault(mod, set())
    edges = set()
    for m in sorted(deps):
        for d in sorted(deps[m]):
            if m not in layer or d not in layer:
                continue
            edges.add((layer[m][1], layer[d][1]))
            if layer[d][0] > layer[m][0]:
                problems.append(f"{m} ({layer[m][1]}) includes {d} ({layer[d][1]}): "
                                "a lower layer may not include a higher one")
    for comp in cycles(deps):
        spans = sorted({layer[m][1] for m in comp if m in layer})
        if len(spans) > 1:
            problems.append(f"cycle of {len(comp)} modules across {', '.join(spans)}: "
                            f"{' '.join(comp)}")
    if graph:
        for a, b in sorted(edges, key=lambda e: (-folders_rank(e[0]), -folders_rank(e[1]))):
            if a != b:
                print(f"{a} -> {b}")
    if not quiet or problems:
        for p in problems:
            print(f"layers: {p}")
        print(f"layers: {len(deps)} modules in {len(LAYERS)} layers, {len(problems)} problem(s)")
    return 1 if problems else 0


def folders_rank(name):
    return [n for n, _ in LAYERS].index(name)


def cycles(deps):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps.get(v, ())):
            if w not in deps:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
