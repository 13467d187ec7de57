# SPDX-License-Identifier: MIT
"""A direct message to an account that its sender saw acknowledged is never lost (issue 12, item
19: the soak lost 2 of 6,922). The acknowledgement means the recipient's sessions have the
message queued; until one of them has written it to its connection, the inbox holds it, and a
connection that closes first, or a node that dies first, leaves it for the account's next
session, which gets it as a kept message with the same `mid` (docs/protocol.md `dm`).

To hold a message in a session's queue, the recipient reads nothing while a room it is in gets
more bytes than the kernel's socket buffers take: the DM queues behind them, unwritten."""
import json
import os
import socket
import struct

import pytest

from confabtest import T, Client, RawWS, close_all, poll_until, redis_call, uniq
from test_accounts import hello_token
from test_cluster import start_nodes
from test_inbox import account, assert_kept_dm, settle, wait_dms

TEXT = 200000


def flood_count():
    """Messages of TEXT bytes that exceed what the kernel can hold for one connection: the
    sender's largest send buffer (tcp_wmem's max) plus a margin for the reader's window."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem_max = int(f.read().split()[2])
    return (wmem_max + 2 * 1024 * 1024) // TEXT + 1


def conf(extra=None):
    n = flood_count()
    c = {
        ("limits", "max_text"): TEXT, ("limits", "max_frame"): TEXT + 1024,
        ("limits", "rate"): 1000000, ("limits", "burst"): 1000000,
        # Room for the whole flood: the recipient is held, not closed as a slow consumer.
        ("session", "queue_frames"): 4 * n, ("session", "queue_bytes"): 4 * n * TEXT,
        ("rooms", "history"): 4, ("rooms", "join_history"): 0,
        ("server", "ping_interval"): 600,
    }
    c.update(extra or {})
    return c


def stuck_session(server, token, room):
    """A raw session of the account with token, in room, that will read nothing more: a small
    receive buffer shuts its window after a few KiB."""
    ws = RawWS(server.port, rcvbuf=4096, timeout=T(20))
    assert ws.handshake().status == 101
    r, _ = ws.request({"op": "hello", "id": 1, "token": token})
    assert "error" not in r, r
    r, _ = ws.request({"op": "join", "id": 2, "room": room})
    assert "error" not in r, r
    return ws


def reset(ws):
    """Closes with a TCP reset: the server's session ends with its queue unwritten."""
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.close()


async def flood(server, room):
    """Sends the flood into room through server, each message acknowledged (ordered and queued
    to the room's sessions on every node that has some)."""
    c = await Client.connect(server, uniq("flood"))
    await c.join(room)
    for i in range(flood_count()):
        await c.ok("send", room=room, text=f"{i:06d}" + "x" * (TEXT - 6), timeout=T(20))
    await c.close()


# Several MB pushed through a stuck session: under ASan on a busy machine, more than 30 s.
@pytest.mark.deadline(90)
async def test_dm_outlives_a_connection_that_never_wrote_it(start_server):
    s = start_server(conf())
    bob, room = uniq("bob"), uniq("r")
    token = await account(s, bob)
    alice = await Client.connect(s, uniq("alice"))
    stuck = stuck_session(s, token, room)
    await flood(s, room)
    # Bob has a session: the message is delivered live, acknowledged as such...
    r = await alice.ok("dm", to=bob, text="held")
    assert r["to"] == bob and "queued" not in r, r
    # ...and held in the inbox, since nothing wrote it yet.
    assert s.metric("confab_inbox_messages") == 1
    reset(stuck)
    await poll_until(lambda: s.metric("confab_connections") == 1, T(20),
                     what="the stuck session closed")
    assert s.metric("confab_inbox_messages") == 1
    c, h = await hello_token(s, token)
    assert h["user"]["id"] == bob, h
    assert await wait_dms(c, 1) == ["held"]
    assert_kept_dm(c.evs("dm")[0], alice, bob, "held")
    # Written now: no longer kept, and not delivered again.
    await poll_until(lambda: s.metric("confab_inbox_messages") == 0, T(10),
                     what="the written message dropped from the inbox")
    c2, _ = await hello_token(s, token)
    await settle(s)
    await c2.ok("ping")
    assert c2.evs("dm") == [] and len(c.evs("dm")) == 1
    await close_all([alice, c, c2])


async def test_live_dm_to_an_account_carries_its_mid(start_server):
    """A live DM to an account says its mid, so that a client recognises it should it come again
    from the inbox; it is dropped from the inbox once written."""
    s = start_server()
    bob = uniq("bob")
    token = await account(s, bob)
    c, _ = await hello_token(s, token)
    alice = await Client.connect(s, uniq("alice"))
    r = await alice.ok("dm", to=bob, text="live")
    assert "queued" not in r, r
    await wait_dms(c, 1)
    ev = c.evs("dm")[0]
    assert "queued" not in ev and isinstance(ev["mid"], str) and len(ev["mid"]) == 36, ev
    await poll_until(lambda: s.metric("confab_inbox_messages") == 0, T(10),
                     what="the written message dropped from the inbox")
    assert s.metric("confab_inbox_queued_total") == 0
    await close_all([alice, c])


def inbox_entries(redis, bob):
    return [json.loads(e) for e in redis.call("LRANGE", "confab:inbox:" + bob, 0, -1)]


def held_age_ms(redis, bob):
    """How long ago Redis published bob's one held message (its "p"), by Redis's clock."""
    sec, usec = redis.call("TIME")
    (e,) = inbox_entries(redis, bob)
    return int(sec) * 1000 + int(usec) // 1000 - int(e["p"])


# Several MB pushed through a stuck session: under ASan on a busy machine, more than 30 s.
@pytest.mark.deadline(90)
async def test_cluster_dm_outlives_the_recipient_node_killed(start_server, redis):
    """The soak's loss: bob's node dies with the DM queued. Bob, back on the other node, gets it
    from the inbox once its drain's grace (2 s, bus_redis.c) has passed."""
    a, b = await start_nodes(start_server, redis, 2, conf())
    bob, room = uniq("bob"), uniq("r")
    token = await account(a, bob)
    alice = await Client.connect(a, uniq("alice"))
    stuck = stuck_session(b, token, room)
    await poll_until(lambda: redis_call(redis.port, "PUBSUB", "NUMSUB", "confab:user:" + bob)[1]
                     == 1, T(10), what="b follows bob")
    await flood(a, room)
    await settle(a, b)
    r = await alice.ok("dm", to=bob, text="in flight")
    assert r["to"] == bob and "queued" not in r, r
    (e,) = inbox_entries(redis, bob)
    assert e["x"] == "in flight" and "w" not in e, e
    b.crash()
    reset(stuck)
    await poll_until(lambda: held_age_ms(redis, bob) >= 2000, T(10), what="the grace passed")
    c, h = await hello_token(a, token)
    assert h["user"]["id"] == bob, h
    assert await wait_dms(c, 1) == ["in flight"]
    assert_kept_dm(c.evs("dm")[0], alice, bob, "in flight")
    assert c.evs("dm")[0]["mid"] == e["i"]
    await poll_until(lambda: redis.call("EXISTS", "confab:inbox:" + bob) == 0, T(10),
                     what="the written message dropped from the inbox")
    await close_all([alice, c])
