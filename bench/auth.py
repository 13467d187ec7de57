#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""auth.py - what accounts cost: registers N accounts, then logs each in once, C at a time, over
confab.v1 against a running standalone confabd, and prints logins per second and the server's
CPU per login (from /proc/PID/stat), and whether the event loop stayed responsive meanwhile (the
worst `ping` round trip of a session pinging while the hashing thread works).

Usage: python3 bench/auth.py PORT PID [N=64] [C=16], against a confabd started with
CONFAB_AUTH_ATTEMPTS_PER_IP=100000 (the default 60 a minute would refuse most of them).
Bounded: N accounts, one pass each."""
import asyncio
import json
import os
import sys
import time

import websockets

PORT, PID = int(sys.argv[1]), int(sys.argv[2])
N = int(sys.argv[3]) if len(sys.argv) > 3 else 64
C = int(sys.argv[4]) if len(sys.argv) > 4 else 16
URL = f"ws://127.0.0.1:{PORT}/v1/ws"
PW = "correct horse battery"


def cpu_s():
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def call(ws, op, **kw):
    await ws.send(json.dumps({"op": op, "id": 1, **kw}))
    while True:
        for line in (await ws.recv()).split("\n"):
            o = json.loads(line)
            if o.get("id") == 1 and "ev" not in o:
                return o


async def worker(names, op):
    async with websockets.connect(URL, subprotocols=["confab.v1"], ping_interval=None) as ws:
        for n in names:
            r = await call(ws, op, name=n, password=PW)
            assert "error" not in r, r


async def pinger(stop, worst):
    async with websockets.connect(URL, subprotocols=["confab.v1"], ping_interval=None) as ws:
        while not stop.is_set():
            t = time.monotonic()
            await call(ws, "ping")
            worst[0] = max(worst[0], time.monotonic() - t)
            await asyncio.sleep(0.01)


async def phase(names, op):
    stop, worst = asyncio.Event(), [0.0]
    p = asyncio.ensure_future(pinger(stop, worst))
    c0, t0 = cpu_s(), time.monotonic()
    await asyncio.gather(*(worker(names[i::C], op) for i in range(C)))
    t, c = time.monotonic() - t0, cpu_s() - c0
    stop.set()
    await p
    print(f"{op}: {len(names)} in {t:.2f} s = {len(names) / t:.1f}/s, server CPU "
          f"{1000 * c / len(names):.1f} ms each, worst ping meanwhile {1000 * worst[0]:.1f} ms")


async def main():
    names = [f"bench-{os.getpid()}-{i}" for i in range(N)]
    await phase(names, "register")
    await phase(names, "login")


asyncio.run(main())
