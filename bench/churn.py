#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Measures what one hostile client gets out of room churn (issue 12, items 4 to 6), with the
default limits, against CONFABD (default build/confabd). Not a test: it prints numbers for
docs/security.md ("Rooms, joins and presence"). Loopback only; every loop is bounded.

  /usr/bin/python3 bench/churn.py
"""
import asyncio
import http.client
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from confabtest import Client, Server  # noqa: E402

# The test suite raises these for its own clients; here the defaults apply.
DEFAULTS = {("limits", "rate"): None, ("limits", "burst"): None,
            ("rooms", "join_rate"): None, ("rooms", "join_burst"): None,
            ("rooms", "join_rate_per_ip"): None, ("rooms", "join_burst_per_ip"): None,
            ("rooms", "max_rooms_per_ip"): None, ("rooms", "create_rate_per_ip"): None}


async def pairs(c, rooms):
    joined = 0
    for i in range(0, len(rooms), 100):
        futs = []
        for r in rooms[i:i + 100]:
            futs.append(await c.start_cmd("join", room=r))
            futs.append(await c.start_cmd("leave", room=r))
        got = await asyncio.gather(*futs)
        joined += sum(1 for r in got[0::2] if "error" not in r)
    return joined


async def churn(server):
    c = await Client.connect(server, "mallory")
    t0 = time.monotonic()
    joined = await pairs(c, [f"churn{i}" for i in range(3000)])
    dt = time.monotonic() - t0
    rooms = server.metric("confab_rooms")
    print(f"item 4: 3,000 join/leave pairs of new rooms on one connection in {dt:.2f} s: "
          f"{joined} joins accepted, {3000 - joined} refused; rooms held afterwards: "
          f"{rooms:.0f}")
    await c.close()


def post(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def create_flood(server):
    rss0 = server.rss_kb()
    statuses = {}
    t0 = time.monotonic()
    for _ in range(2000):
        s = post(server, "/chat?name=" + "%ff" * 1000)
        statuses[s] = statuses.get(s, 0) + 1
    for _ in range(2000):
        s = post(server, "/chat?name=" + "%ff" * 21)
        statuses[s] = statuses.get(s, 0) + 1
    dt = time.monotonic() - t0
    print(f"item 5: 2,000 POST /chat with a 1,000-byte %ff name and 2,000 with a 21-byte one "
          f"in {dt:.2f} s: statuses {dict(sorted(statuses.items()))}; RSS {rss0} -> "
          f"{server.rss_kb()} KiB")


async def amplification(server, members=20, frames=1000):
    room = "stage"
    obs = [await Client.connect(server, f"obs{i}") for i in range(members)]
    for o in obs:
        await o.join(room)
    m = await Client.connect(server, "mallory")
    t0 = time.monotonic()
    joined = await pairs(m, [room] * (frames // 2))
    dt = time.monotonic() - t0
    marker = await Client.connect(server, "marker")
    await marker.join(room)
    for o in obs:
        await o.wait_event(lambda e: e.get("ev") == "join" and e["user"]["name"] == "marker",
                           timeout=30, what="marker")
    got = [len([e for e in o.events if e.get("user", {}).get("name") == "mallory"])
           for o in obs]
    print(f"item 6: {frames} frames ({frames // 2} join/leave pairs of one room) in {dt:.2f} s: "
          f"{joined} joins accepted; presence events about the attacker per member: "
          f"min {min(got)}, max {max(got)} ({sum(got)} in all over {members} members)")
    for c in obs + [m, marker]:
        await c.close()


async def main():
    for name, fn in (("churn", churn), ("amplification", amplification)):
        s = Server(DEFAULTS)
        s.start()
        try:
            await fn(s)
        finally:
            s.stop()
            s.cleanup()
    s = Server(DEFAULTS)
    s.start()
    try:
        create_flood(s)
    finally:
        s.stop()
        s.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
