#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""layers.py - checks that confab's includes point down (DESIGN.md principle 8).

Reads the includes of confab's headers (`#include "confab/<name>.h"`) and of private ones
(`#include "<name>.h"`: src/*.h, such as bus_redis_int.h, which the files of one concept share)
in src/*.c, src/*.h and include/confab/*.h, maps each file to its layer with LAYERS below (the
one place where the layers are written; docs/architecture.md draws the same picture), and
reports:
- an include of a higher layer's header from a lower layer;
- a cycle between layers (a strongly connected component of the include graph, a .c and its
  .h counting as one module, that spans two layers or more; modules of one layer may include
  each other);
- a file that no layer names.
Exit 0 when there is none of them, 1 otherwise. Usage: scripts/layers.py [--quiet]

scripts/lint.sh runs it, so .ci/run fails on a violation. A new module goes into LAYERS (and
docs/architecture.md "Layers") in the commit that adds it.
"""
import os
import re
import sys

# From the bottom. A module may include its own layer's headers and any lower layer's.
LAYERS = [
    ("helpers", "text clock ratelimit log metrics ident xff state redis_url"),
    ("config", "config config_int config_alias config_doc"),
    ("core", "frame ring pack msg dialect env sess req room inbox"),
    ("bus", "bus store"),
    ("bus-impl", "bus_local bus_redis bus_redis_int bus_redis_order bus_redis_presence "
                 "bus_redis_dm bus_redis_created bus_redis_store redis redis_lws"),
    ("auth", "auth auth_file auth_limits pwhash token"),
    ("dialects", "dialects dialect_native dialect_native_int dialect_native_render "
                 "dialect_native_accounts dialect_native_rooms dialect_redis_chat dialect_redis_chat_int "
                 "dialect_redis_chat_render dialect_redis_chat_accounts dialect_redis_chat_channels "
                 "dialect_chatty dialect_texto dialect_ttu dialect_disposable"),
    ("transport", "server http http_int http_api http_static session listen mount tls sd"),
    ("main", "main"),
]

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:confab/)?([a-z0-9_]+)\.h"', re.M)


def layer_of():
    out = {}
    for rank, (name, mods) in enumerate(LAYERS):
        for m in mods.split():
            out[m] = (rank, name)
    return out


def modules():
    """{module: set of modules its .c and .h include}."""
    deps = {}
    for d, ext in (("src", ".c"), ("src", ".h"), (os.path.join("include", "confab"), ".h")):
        path = os.path.join(ROOT, d)
        for f in sorted(os.listdir(path)):
            if not f.endswith(ext):
                continue
            mod = f[:-len(ext)]
            with open(os.path.join(path, f), encoding="utf-8") as fh:
                inc = set(INCLUDE.findall(fh.read()))
            deps.setdefault(mod, set()).update(inc - {mod})
    return deps


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


def main():
    quiet = "--quiet" in sys.argv
    layers, deps = layer_of(), modules()
    problems = []
    for m in sorted(deps):
        if m not in layers:
            problems.append(f"{m}: in no layer (add it to LAYERS in scripts/layers.py)")
            continue
        for d in sorted(deps[m]):
            if d in layers and layers[d][0] > layers[m][0]:
                problems.append(f"{m} ({layers[m][1]}) includes {d}.h ({layers[d][1]}): "
                                "a lower layer may not include a higher one")
    for comp in cycles(deps):
        spans = sorted({layers[m][1] for m in comp if m in layers})
        if len(spans) > 1:
            problems.append(f"cycle of {len(comp)} modules across {', '.join(spans)}: "
                            f"{' '.join(comp)}")
    if not quiet or problems:
        for p in problems:
            print(f"layers: {p}")
        print(f"layers: {len(deps)} modules, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
