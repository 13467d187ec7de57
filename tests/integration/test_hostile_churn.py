# SPDX-License-Identifier: MIT
"""Hostile clients, churn (issue 12, items 4 to 6): join/leave churn in every dialect that joins
rooms, the rooms one address creates, seed 002's POST /chat, presence amplification. In each
test the attacker gets a defined answer (an error code, a close code, an HTTP status) while
another client's chat and /healthz carry on.

The attacker connects from 127.0.0.2, a second loopback address, so that it is another client
address than the bystanders' 127.0.0.1 without a proxy in between."""
import asyncio
import http.client
import json
import urllib.parse

import pytest
import websockets

from confabtest import Client, FrameClient, T, close_all, poll_until, uniq
from test_cluster import start_nodes
from test_dialect_001 import C1, name as name_001, start_001

ATTACKER = "127.0.0.2"
BYSTANDER = "127.0.0.1"
ORIGIN = "http://test.local"

# Rates so high that they never refuse: for the tests of other limits.
NO_JOIN_LIMIT = {("rooms", "join_rate"): 1000000, ("rooms", "join_burst"): 1000000,
                 ("rooms", "join_rate_per_ip"): 1000000, ("rooms", "join_burst_per_ip"): 1000000}


async def native(server, name, src=BYSTANDER):
    """A confab.v1 client from address src, after its hello."""
    url = server if isinstance(server, str) else server.ws_url
    ws = await websockets.connect(url, subprotocols=["confab.v1"], max_size=None,
                                  compression=None, ping_interval=None, open_timeout=T(10),
                                  close_timeout=T(5), max_queue=None, local_addr=(src, 0))
    c = Client(ws, name)
    c.hello_reply = await c.ok("hello", name=name)
    return c


async def frames(server, path, src=BYSTANDER, origin=None, cls=FrameClient, name=None):
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}{path}", origin=origin,
                                  compression=None, ping_interval=None, max_size=None,
                                  open_timeout=T(10), close_timeout=T(5), local_addr=(src, 0))
    return cls(ws, name)


def healthz(server):
    return server.get("/healthz").status_code


async def bystanders_chat(server, a, b, room, text):
    """a's message reaches b, and /healthz answers 200."""
    r = await a.send(room, text)
    await b.wait_msg(room, r["seq"])
    assert healthz(server) == 200


async def pairs(client, rooms):
    """Sends join and leave of each room without waiting, in batches (the replies must not
    outgrow the session's queue); returns the join replies and the leave replies."""
    joins, leaves = [], []
    for i in range(0, len(rooms), 100):
        futs = []
        for r in rooms[i:i + 100]:
            futs.append(await client.start_cmd("join", room=r))
            futs.append(await client.start_cmd("leave", room=r))
        got = await asyncio.wait_for(asyncio.gather(*futs), T(30))
        joins += got[0::2]
        leaves += got[1::2]
    return joins, leaves


def code_of(reply):
    return reply["error"]["code"] if "error" in reply else reply.get("op")


# --------------------------------------------------------------------------------------------
# item 4: join/leave churn

@pytest.mark.conf({("rooms", "join_rate"): 5, ("rooms", "join_burst"): 32,
                   ("rooms", "join_rate_per_ip"): 1000000,
                   ("rooms", "join_burst_per_ip"): 1000000})
async def test_native_join_churn_is_rate_limited(server):
    alice, bob = await native(server, "alice"), await native(server, "bob")
    lobby = uniq("lobby")
    await alice.join(lobby)
    await bob.join(lobby)
    rooms_before = server.metric("confab_rooms")
    mallory = await native(server, "mallory", ATTACKER)
    attack = asyncio.ensure_future(pairs(mallory, [uniq("churn") for _ in range(1000)]))
    await bystanders_chat(server, alice, bob, lobby, "during the churn")
    joins, leaves = await attack
    codes = [code_of(r) for r in joins]
    assert set(codes) <= {"join", "rate_limited"}, set(codes)
    limited = codes.count("rate_limited")
    assert limited >= 900, f"{limited} of 1000 joins refused"
    for r in joins:
        if "error" in r:
            assert "joins per second" in r["error"]["message"], r
    # Each refused join's leave finds nothing to leave; the others leave.
    assert [code_of(r) for r in leaves].count("leave") == 1000 - limited
    assert server.metric("confab_join_limited_total") >= limited
    # Every churned room was empty and never spoken in: none is held.
    await poll_until(lambda: server.metric("confab_rooms") == rooms_before, T(10),
                     what="the churned rooms to be freed")
    await bystanders_chat(server, bob, alice, lobby, "after the churn")
    # The attacker's session is still served (refusals do not close it).
    await mallory.ok("ping")
    await close_all([alice, bob, mallory])


@pytest.mark.conf({("rooms", "max_rooms"): 50, ("rooms", "max_rooms_per_ip"): 20,
                   **NO_JOIN_LIMIT})
async def test_native_churn_cannot_fill_max_rooms(server):
    alice, bob = await native(server, "alice"), await native(server, "bob")
    lobby = uniq("lobby")
    await alice.join(lobby)
    await bob.join(lobby)
    mallory = await native(server, "mallory", ATTACKER)
    # Join/leave of 200 rooms nobody speaks in: each goes as it empties.
    joins, _ = await pairs(mallory, [uniq("churn") for _ in range(200)])
    assert all("error" not in r for r in joins), [r for r in joins if "error" in r][:3]
    await bystanders_chat(server, alice, bob, lobby, "after empty churn")
    # Rooms it speaks in are held for history_ttl: its address holds at most 20 of them.
    refused = []
    for i in range(40):
        room = uniq("held")
        r = await mallory.send_cmd("join", room=room)
        if "error" in r:
            assert r["error"]["code"] == "room_limit", r
            assert "your address" in r["error"]["message"], r
            refused.append(room)
            continue
        await mallory.send(room, "pinned")
        await mallory.ok("leave", room=room)
    assert len(refused) == 20, refused
    assert server.metric("confab_room_quota_total") == 20
    # Another address still creates rooms (30 of max_rooms are left) and chats in them.
    fresh = uniq("fresh")
    await alice.join(fresh)
    await bob.join(fresh)
    await bystanders_chat(server, alice, bob, fresh, "a new room")
    # Joining a room that exists is not creating one: the attacker may join the lobby.
    await mallory.join(lobby)
    await close_all([alice, bob, mallory])


def ws_000(name, room):
    return "/ws?" + urllib.parse.urlencode({"name": name, "room": room})


async def d0_open(server, name, room, src):
    """A seed 000 client; returns it once the welcome or an error arrived."""
    c = await frames(server, ws_000(name, room), src, ORIGIN, name=name)
    await c.wait(lambda f: f.get("type") in ("welcome", "error"), "welcome or error")
    return c


async def d0_chat(server, a, b, text):
    await a.ws.send(json.dumps({"text": text}))
    await b.wait(lambda f: f.get("type") == "chat" and f["data"]["text"] == text, "chat")
    assert healthz(server) == 200


@pytest.mark.conf({("dialects", "disposable_origin"): ORIGIN, ("rooms", "max_rooms"): 20,
                   ("rooms", "max_rooms_per_ip"): 10, **NO_JOIN_LIMIT})
async def test_000_reconnect_churn(server):
    room = f"lobby{uniq('').replace('-', '')}"[:30]
    a = await d0_open(server, "alice", room, BYSTANDER)
    b = await d0_open(server, "bobby", room, BYSTANDER)
    rooms_before = server.metric("confab_rooms")
    # Connect to 40 rooms, say nothing, go: no room is kept.
    for i in range(40):
        c = await d0_open(server, "mallory", f"churn{i}x", ATTACKER)
        assert c.frames[0]["type"] == "welcome", c.frames
        await c.close()
    await poll_until(lambda: server.metric("confab_rooms") == rooms_before, T(10),
                     what="the churned rooms to be freed")
    await d0_chat(server, a, b, "after the churn")
    # Rooms it speaks in are kept: at most 10 for its address, then an error and 1013.
    codes = []
    for i in range(15):
        c = await d0_open(server, "mallory", f"held{i}x", ATTACKER)
        if c.frames[0]["type"] == "error":
            assert "your address" in c.frames[0]["data"]["text"], c.frames
            codes.append(await c.closed_code())
            continue
        await c.ws.send(json.dumps({"text": "pinned"}))
        await c.wait(lambda f: f.get("type") == "chat", "own chat")
        await c.close()
    assert codes == [1013] * 5, codes
    # Another address still makes rooms.
    c2 = await d0_open(server, "carol", "freshroom", BYSTANDER)
    d2 = await d0_open(server, "dave", "freshroom", BYSTANDER)
    assert c2.frames[0]["type"] == "welcome" and d2.frames[0]["type"] == "welcome"
    await d0_chat(server, c2, d2, "fresh room")
    for c in (a, b, c2, d2):
        await c.close()


async def test_001_channel_join_churn_is_rate_limited(start_server, tmp_path):
    bundle = tmp_path / "www"
    bundle.mkdir()
    (bundle / "index.html").write_text("<html></html>")
    server, port = start_001(start_server, str(bundle),
                             {("rooms", "join_rate"): 1, ("rooms", "join_burst"): 10})
    alice, bob = await C1.connect(port, "alice"), await C1.connect(port, "bob")
    await alice.sign(name_001("alice"))
    await bob.sign(name_001("bob"))
    await alice.join()
    await bob.join()
    mallory = await C1.connect(port, "mallory")
    await mallory.sign(name_001("mallory"))
    # Between the public channel and a private one with alice, each answered before the next.
    refused = 0
    for i in range(60):
        n = len(mallory.frames)
        await mallory.send({"type": "channelJoin", "userUUID": mallory.uuid,
                            "accessKey": mallory.key,
                            "channelJoin": {"recipientUUID": alice.uuid if i % 2 else ""}})
        f = await mallory.wait(lambda f: f in mallory.frames[n:] and
                               f["type"] in ("channelJoin", "error"), "channelJoin or error")
        if f["type"] == "error":
            assert f["error"]["code"] == 101, f
            assert f["error"]["error"] == "too many channel joins, slow down", f
            refused += 1
    assert refused >= 30, refused
    await alice.say("still chatting")
    await bob.got("still chatting")
    assert healthz(server) == 200
    for c in (alice, bob, mallory):
        await c.close()


def http_post(server, path, src):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=T(10),
                                      source_address=(src, 0))
    try:
        conn.request("POST", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


async def chatty_pair(server, room_id, src=BYSTANDER):
    """Two chatty participants of room_id; each has seen its own participant_joined."""
    out = []
    for who in ("john", "jane"):
        c = await frames(server, f"/chat/join?name={who}&room={room_id}", src, name=who)
        await c.wait(lambda f, who=who: f.get("event_type") == "participant_joined" and
                     f.get("participant") == who, "own participant_joined")
        out.append(c)
    return out


async def chatty_chat(server, a, b, text):
    await a.ws.send(text)
    await b.wait(lambda f: f.get("text") == text, f"message {text!r}")
    assert healthz(server) == 200


@pytest.mark.conf({("rooms", "max_rooms"): 50, ("rooms", "max_rooms_per_ip"): 10,
                   **NO_JOIN_LIMIT})
async def test_002_join_churn_frees_rooms(server):
    status, body = http_post(server, "/chat?name=lobby", BYSTANDER)
    assert status == 201, body
    john, jane = await chatty_pair(server, json.loads(body)["id"])
    # The attacker joins and leaves rooms it created (at its POST rate).
    ids = []
    for i in range(20):
        status, body = http_post(server, f"/chat?name=c{i}", ATTACKER)
        assert status == 201, body
        ids.append(json.loads(body)["id"])
    rooms_before = server.metric("confab_rooms")
    for rid in ids:
        c = await frames(server, f"/chat/join?name=m&room={rid}", ATTACKER)
        await c.wait(lambda f: f.get("event_type") == "participant_joined", "joined")
        await c.close()
    await poll_until(lambda: server.metric("confab_rooms") == rooms_before, T(10),
                     what="the churned rooms to be freed")
    # Speaking pins a room: 10 for its address, then the join closes with 1013.
    codes = []
    for rid in ids[:15]:
        c = await frames(server, f"/chat/join?name=m&room={rid}", ATTACKER)
        try:
            await c.wait(lambda f: f.get("event_type") == "participant_joined", "joined")
        except AssertionError:
            assert c.closed and not c.frames, c.frames
            codes.append(await c.closed_code())
            continue
        await c.ws.send("pinned")
        await c.wait(lambda f: f.get("text") == "pinned", "own message")
        await c.close()
    assert codes == [1013] * 5, codes
    await chatty_chat(server, john, jane, "unaffected")
    for c in (john, jane):
        await c.close()


# --------------------------------------------------------------------------------------------
# item 5: POST /chat

@pytest.mark.conf({("rooms", "create_rate_per_ip"): 20})
async def test_002_post_chat_flood_is_rate_limited(server):
    status, body = http_post(server, "/chat?name=lobby", BYSTANDER)
    assert status == 201, body
    john, jane = await chatty_pair(server, json.loads(body)["id"])
    statuses = [http_post(server, f"/chat?name=flood{i}", ATTACKER) for i in range(200)]
    created = [s for s, _ in statuses if s == 201]
    limited = [b for s, b in statuses if s == 429]
    assert len(created) == 20 and len(limited) == 180, {s for s, _ in statuses}
    assert limited[0] == "Too Many Requests\n"
    assert server.metric("confab_room_create_limited_total") == 180
    await chatty_chat(server, john, jane, "during the flood")
    # Another address creates rooms as before, and chats in them.
    status, body = http_post(server, "/chat?name=mine", BYSTANDER)
    assert status == 201, body
    a, b = await chatty_pair(server, json.loads(body)["id"])
    await chatty_chat(server, a, b, "new room")
    for c in (john, jane, a, b):
        await c.close()


async def test_002_post_chat_name_is_capped(server):
    big = "x" * 1024
    assert http_post(server, f"/chat?name={big}", ATTACKER)[0] == 400
    # %ff is repaired to U+FFFD (3 bytes): 21 fit in the 64 bytes of a room name, 22 do not.
    assert http_post(server, "/chat?name=" + "%ff" * 22, ATTACKER)[0] == 400
    assert http_post(server, "/chat?name=%01bell", ATTACKER)[0] == 400
    status, body = http_post(server, "/chat?name=" + "%ff" * 21, ATTACKER)
    assert status == 201, body
    assert json.loads(body)["name"] == "\ufffd" * 21
    status, body = http_post(server, "/chat?name=" + "r" * 64, BYSTANDER)
    assert status == 201, body
    john, jane = await chatty_pair(server, json.loads(body)["id"])
    await chatty_chat(server, john, jane, "long name")
    for c in (john, jane):
        await c.close()


@pytest.mark.deadline(60)
@pytest.mark.conf({("rooms", "max_rooms"): 5, ("rooms", "history_ttl"): 0,
                   ("rooms", "create_rate_per_ip"): 1000})
async def test_002_unjoined_ids_expire(server):
    # Five ids nobody joins fill max_rooms: the next POST is refused ...
    for i in range(5):
        assert http_post(server, f"/chat?name=idle{i}", ATTACKER)[0] == 201
    status, body = http_post(server, "/chat?name=more", BYSTANDER)
    assert status == 503, body
    assert healthz(server) == 200
    # ... until they expire (history_ttl, at least 10 s), not until a restart.
    def created():
        status, body = http_post(server, "/chat?name=later", BYSTANDER)
        return body if status == 201 else None
    body = await poll_until(created, T(30), interval=0.5, what="a POST /chat to succeed again")
    john, jane = await chatty_pair(server, json.loads(body)["id"])
    await chatty_chat(server, john, jane, "after expiry")
    for c in (john, jane):
        await c.close()


# --------------------------------------------------------------------------------------------
# item 6: presence amplification

async def amplification(attacker_node, observer_node):
    """Five observers in a room; the attacker sends 500 join/leave pairs of it. Returns
    (accepted joins, join events of the attacker at one observer, leave events)."""
    room = uniq("stage")
    observers = [await native(observer_node, f"obs{i}") for i in range(5)]
    for o in observers:
        await o.join(room)
    # A member on the attacker's node keeps the room followed there (cluster mode), so that
    # joins are answered at once, not after a catch-up.
    anchor = await native(attacker_node, "anchor")
    await anchor.join(room)
    mallory = await native(attacker_node, "mallory", ATTACKER)
    joins, _ = await pairs(mallory, [room] * 500)
    accepted = sum(1 for r in joins if "error" not in r)
    for r in joins:
        assert "error" not in r or r["error"]["code"] == "rate_limited", r
    # A marker joins after the attack: once every observer has its join, it has had all of
    # the attacker's events that the server sent.
    marker = await native(attacker_node, "marker")
    await marker.join(room)
    for o in observers:
        await o.wait_event(lambda e: e.get("ev") == "join" and
                           e["user"]["name"] == "marker", what="the marker's join")
    o = observers[0]
    ev_join = [e for e in o.evs("join", room) if e["user"]["name"] == "mallory"]
    ev_leave = [e for e in o.evs("leave", room) if e["user"]["name"] == "mallory"]
    r = await observers[1].send(room, "heard")
    await observers[2].wait_msg(room, r["seq"])
    await close_all(observers + [anchor, mallory, marker])
    return accepted, len(ev_join), len(ev_leave)


@pytest.mark.conf({("rooms", "join_rate"): 1, ("rooms", "join_burst"): 10,
                   ("rooms", "join_rate_per_ip"): 1000000,
                   ("rooms", "join_burst_per_ip"): 1000000})
async def test_presence_amplification_is_bounded(server):
    accepted, joins, leaves = await amplification(server, server)
    # 500 pairs sent; each accepted join costs every member two events, nothing else does.
    assert accepted <= 60, accepted
    assert joins == accepted and leaves == accepted, (accepted, joins, leaves)
    assert healthz(server) == 200


@pytest.mark.conf({("dialects", "disposable_origin"): ORIGIN, ("rooms", "join_rate_per_ip"): 1,
                   ("rooms", "join_burst_per_ip"): 5})
async def test_presence_amplification_by_reconnects_is_bounded(server):
    room = f"stage{uniq('').replace('-', '')}"[:30]
    a = await d0_open(server, "alice", room, BYSTANDER)
    b = await d0_open(server, "bobby", room, BYSTANDER)
    accepted = 0
    for i in range(60):
        c = await d0_open(server, "mallory", room, ATTACKER)
        if c.frames[0]["type"] == "welcome":
            accepted += 1
            await c.close()
            continue
        assert c.frames[0]["data"]["text"] == "too many joins, slow down", c.frames
        assert await c.closed_code() == 1013
    assert accepted <= 30, accepted
    await d0_chat(server, a, b, "after the reconnects")
    heard = [f for f in a.frames if f.get("type") == "info" and
             f["data"]["action"] == "registered" and f["data"]["client"]["name"] == "mallory"]
    assert len(heard) == accepted
    for c in (a, b):
        await c.close()


@pytest.mark.deadline(60)
async def test_presence_amplification_across_nodes(start_server, redis):
    nodes = await start_nodes(start_server, redis, 2,
                              {("rooms", "join_rate"): 1, ("rooms", "join_burst"): 10})
    accepted, joins, leaves = await amplification(nodes[0], nodes[1])
    assert accepted <= 60, accepted
    # Presence crosses nodes at most once per change; a quick join/leave may be folded.
    assert joins <= accepted and leaves <= accepted, (accepted, joins, leaves)
    for n in nodes:
        assert healthz(n) == 200
