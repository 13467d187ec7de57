# SPDX-License-Identifier: MIT
"""confab.v1 protocol (docs/protocol.md): hello, join, send, msg order, presence, history,
resume with since, gap, epochs, nonce deduplication."""
import asyncio
import re
import time

import pytest

from confabtest import (Client, T, assert_consecutive, assert_error, assert_msg, close_all,
                        uniq)


def ids(members):
    return sorted(m["id"] for m in members)


async def barrier(sender, receivers, room):
    """Sends a marker message and waits until every receiver got it. Events caused by commands
    answered before this call are queued before the marker."""
    text = uniq("marker")
    r = await sender.send(room, text)
    for c in receivers:
        await c.wait_msg(room, r["seq"])
    return r["seq"]


# --------------------------------------------------------------------------------------------
# hello, ping, framing basics

async def test_two_clients_chat(server):
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    h = a.hello_reply
    assert h["user"] == {"id": "guest:alice", "name": "alice"}
    assert isinstance(h["session"], str) and h["session"]
    assert h["session"] != b.hello_reply["session"]
    assert h["node"] == "itest-node"
    want_limits = {"max_frame": 65536, "max_text": 4096, "max_rooms": 32, "rate": 1000,
                   "burst": 1000, "history": 100}
    for k, v in want_limits.items():
        assert h["limits"].get(k) == v, (k, h["limits"])

    ja = await a.join("lobby")
    assert ja["room"] == "lobby"
    assert ja["seq"] == 0
    assert ja["history"] == []
    assert ja["gap"] is False
    assert isinstance(ja["epoch"], int)
    assert ja["members"] == [{"id": "guest:alice", "name": "alice"}]
    jb = await b.join("lobby")
    assert jb["epoch"] == ja["epoch"]
    assert ids(jb["members"]) == ["guest:alice", "guest:bob"]
    ev = await a.wait_event(lambda e: e.get("ev") == "join")
    assert ev == {"ev": "join", "room": "lobby", "user": {"id": "guest:bob", "name": "bob"}}

    r = await a.send("lobby", "hi bob")
    assert r["room"] == "lobby" and r["seq"] == 1
    assert not r.get("dup", False)
    ea = await a.wait_msg("lobby", 1)
    eb = await b.wait_msg("lobby", 1)
    assert_msg(ea, "lobby", 1, "hi bob", "alice")
    assert ea == eb
    assert abs(ea["ts"] - time.time() * 1000) < 86400 * 1000  # sanity: ms since the epoch

    # A text with a newline, quotes and non-ASCII must survive the newline-separated framing.
    text = 'line one\nline "two" \u00e9\u00e8 \u2713 \U0001F389 \\ end'
    r2 = await b.send("lobby", text)
    assert r2["seq"] == 2
    for c in (a, b):
        e = await c.wait_msg("lobby", 2)
        assert_msg(e, "lobby", 2, text, "bob")
    # The joiner does not get its own join event.
    assert not [e for e in b.evs("join") if e["user"]["id"] == "guest:bob"]
    await close_all([a, b])


async def test_hello_without_name_gets_guest(server):
    c = await Client.connect(server, hello=False)
    h = await c.ok("hello")
    assert re.fullmatch(r"guest-[A-Za-z0-9]{6}", h["user"]["name"]), h
    assert h["user"]["id"] == "guest:" + h["user"]["name"]
    await close_all([c])


@pytest.mark.conf({("limits", "max_name"): 8})
async def test_made_guest_name_under_a_small_max_name(server):
    """The made name guest-XXXXXX (12 bytes) is given even when limits.max_name is smaller."""
    c = await Client.connect(server, hello=False)
    h = await c.ok("hello")
    assert h["user"]["id"] == "guest:" + h["user"]["name"] and len(h["user"]["name"]) == 12, h
    await close_all([c])


async def test_no_hello_at_all_gets_guest_at_first_command(server):
    a = await Client.connect(server, "alice")
    await a.join("g")
    c = await Client.connect(server, hello=False)
    j = await c.join("g")
    guest = [m for m in j["members"] if m["id"] != "guest:alice"]
    assert len(guest) == 1 and re.fullmatch(r"guest-[A-Za-z0-9]{6}", guest[0]["name"]), j
    ev = await a.wait_event(lambda e: e.get("ev") == "join")
    assert ev["user"] == guest[0]
    r = await c.send("g", "hello from a guest")
    e = await a.wait_msg("g", r["seq"])
    assert e["from"] == guest[0]
    # hello after a join is a bad_state error, and changes nothing.
    await c.err("hello", "bad_state", name="late")
    r = await c.send("g", "still a guest")
    assert (await a.wait_msg("g", r["seq"]))["from"] == guest[0]
    await close_all([a, c])


async def test_hello_twice_is_bad_state(server):
    c = await Client.connect(server, "first")
    await c.err("hello", "bad_state", name="second")
    j = await c.join("r")
    assert j["members"] == [{"id": "guest:first", "name": "first"}]
    await close_all([c])


async def test_subprotocol_negotiated_and_optional(server):
    c = await Client.connect(server, "withproto")
    assert c.ws.subprotocol == "confab.v1"
    d = await Client.connect(server, "noproto", subprotocols=None)
    assert d.ws.subprotocol is None
    await d.join("p")
    await c.join("p")
    r = await d.send("p", "speaks confab.v1 anyway")
    await c.wait_msg("p", r["seq"])
    await close_all([c, d])


async def test_ping_and_ids(server):
    c = await Client.connect(server, "pinger")
    p = await c.send_cmd("ping")
    assert p["op"] == "pong" and isinstance(p["ts"], int)
    assert abs(p["ts"] - time.time() * 1000) < 86400 * 1000
    # The largest allowed id (2^53 - 1) and 0 are echoed.
    for cid in (0, 2**53 - 1):
        r = await c.request({"op": "ping", "id": cid})
        assert r["op"] == "pong" and r["id"] == cid and isinstance(r["ts"], int), r
    # Without id: the reply carries none.
    await c.send_json({"op": "ping"})
    r = await c.next_noid_reply()
    assert r["op"] == "pong" and "id" not in r
    # Unknown fields are ignored.
    r = await c.request({"op": "ping", "id": 77, "whatever": {"x": [1, 2]}, "zz": None})
    assert r["op"] == "pong" and r["id"] == 77
    await close_all([c])


# --------------------------------------------------------------------------------------------
# ordering

@pytest.mark.deadline(60)
async def test_many_clients_identical_order(server):
    room = "crowded"
    n_clients, n_senders, per_sender = 50, 5, 20
    clients = await asyncio.gather(*(Client.connect(server, f"user{i:02d}")
                                     for i in range(n_clients)))
    for c in clients:
        await c.join(room)
    senders = clients[:n_senders]

    async def flood(i, c):
        futs = [await c.start_cmd("send", room=room, text=f"s{i}-m{k}")
                for k in range(per_sender)]
        return await asyncio.gather(*futs)

    results = await asyncio.gather(*(flood(i, c) for i, c in enumerate(senders)))
    total = n_senders * per_sender
    reply_seq = {}
    for i, replies in enumerate(results):
        for k, r in enumerate(replies):
            assert "error" not in r, r
            reply_seq[f"s{i}-m{k}"] = r["seq"]
    assert sorted(reply_seq.values()) == list(range(1, total + 1))

    await asyncio.gather(*(c.wait_msgs(room, total, timeout=T(30)) for c in clients))
    reference = [(m["seq"], m["from"]["id"], m["text"]) for m in clients[0].msgs(room)]
    assert len(reference) == total
    assert_consecutive(clients[0].msgs(room), first=1)
    for c in clients:
        got = [(m["seq"], m["from"]["id"], m["text"]) for m in c.msgs(room)]
        assert got == reference, f"{c.name} saw a different order"
    for seq, sender, text in reference:
        assert reply_seq[text] == seq
        assert sender == f"guest:user{int(text[1:text.index('-')]):02d}"
    await close_all(clients)


# --------------------------------------------------------------------------------------------
# presence

async def test_presence_join_leave_events(server):
    room = "pres"
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    c = await Client.connect(server, "carol")
    await a.join(room)
    await b.join(room)
    ev = await a.wait_event(lambda e: e.get("ev") == "join" and e["user"]["id"] == "guest:bob")
    assert ev == {"ev": "join", "room": room, "user": {"id": "guest:bob", "name": "bob"}}
    for x in (a, b):
        p = await x.ok("presence", room=room)
        assert p["room"] == room
        assert ids(p["members"]) == ["guest:alice", "guest:bob"]
        assert {"id": "guest:bob", "name": "bob"} in p["members"]

    await c.join(room)
    await a.wait_event(lambda e: e.get("ev") == "join" and e["user"]["id"] == "guest:carol")
    await b.wait_event(lambda e: e.get("ev") == "join" and e["user"]["id"] == "guest:carol")

    lv = await b.ok("leave", room=room)
    assert lv["op"] == "leave" and lv["room"] == room, lv
    ev = await a.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == "guest:bob")
    assert ev == {"ev": "leave", "room": room, "user": {"id": "guest:bob", "name": "bob"}}
    assert ids((await a.ok("presence", room=room))["members"]) == ["guest:alice", "guest:carol"]
    await b.err("presence", "not_joined", room=room)

    # Closing the connection without a leave is a leave too.
    await c.close()
    await a.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == "guest:carol")
    assert ids((await a.ok("presence", room=room))["members"]) == ["guest:alice"]
    await close_all([a, b])


async def test_presence_counts_users_not_sessions(server):
    room = "multi"
    a = await Client.connect(server, "alice")
    b1 = await Client.connect(server, "bob")
    b2 = await Client.connect(server, "bob")
    await a.join(room)
    await b1.join(room)
    await a.wait_event(lambda e: e.get("ev") == "join" and e["user"]["id"] == "guest:bob")
    j2 = await b2.join(room)
    assert ids(j2["members"]) == ["guest:alice", "guest:bob"]
    await barrier(a, [a, b1, b2], room)
    assert len([e for e in a.evs("join") if e["user"]["id"] == "guest:bob"]) == 1, a.evs("join")
    assert ids((await a.ok("presence", room=room))["members"]) == ["guest:alice", "guest:bob"]
    # Both bob sessions receive messages.
    r = await a.send(room, "to both bobs")
    await b1.wait_msg(room, r["seq"])
    await b2.wait_msg(room, r["seq"])

    await b1.ok("leave", room=room)
    await barrier(a, [a, b2], room)
    assert not a.evs("leave"), "leave event while another session of bob is still in the room"
    assert ids((await a.ok("presence", room=room))["members"]) == ["guest:alice", "guest:bob"]
    await b2.ok("leave", room=room)
    await a.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == "guest:bob")
    await close_all([a, b1, b2])


# --------------------------------------------------------------------------------------------
# history

async def test_join_history_and_history_command(server):
    room = "hist"
    a = await Client.connect(server, "writer")
    await a.join(room)
    futs = [await a.start_cmd("send", room=room, text=f"m{i}") for i in range(1, 31)]
    seqs = [r["seq"] for r in await asyncio.gather(*futs)]
    assert seqs == list(range(1, 31))

    b = await Client.connect(server, "reader")
    j = await b.join(room)
    assert j["seq"] == 30 and j["gap"] is False
    # rooms.join_history = 20: the last 20, oldest first.
    assert [m["seq"] for m in j["history"]] == list(range(11, 31))
    for m in j["history"]:
        assert_msg(m, room, m["seq"], f"m{m['seq']}", "writer")
    assert j["history"][-1] == (await a.wait_msg(room, 30))

    h = await b.ok("history", room=room)
    assert h["room"] == room
    assert [m["seq"] for m in h["messages"]] == list(range(1, 31))  # default limit 50
    h = await b.ok("history", room=room, before=25, limit=5)
    assert [m["seq"] for m in h["messages"]] == [20, 21, 22, 23, 24]
    h = await b.ok("history", room=room, limit=3)
    assert [m["seq"] for m in h["messages"]] == [28, 29, 30]
    h = await b.ok("history", room=room, before=4)
    assert [m["seq"] for m in h["messages"]] == [1, 2, 3]
    h = await b.ok("history", room=room, before=1)
    assert h["messages"] == []
    await b.err("history", "not_joined", room="elsewhere")
    await close_all([a, b])


@pytest.mark.conf({("rooms", "join_history"): 3})
async def test_join_history_setting(server):
    a = await Client.connect(server, "w")
    await a.join("jh")
    for i in range(5):
        await a.send("jh", f"t{i}")
    b = await Client.connect(server, "r")
    j = await b.join("jh")
    assert [m["text"] for m in j["history"]] == ["t2", "t3", "t4"]
    await close_all([a, b])


# --------------------------------------------------------------------------------------------
# resume, gap, epoch

async def test_resume_with_since_loses_nothing(server):
    room = "resume"
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    ja = await a.join(room)
    await b.join(room)
    for i in range(3):
        await b.send(room, f"before {i}")
    await a.wait_msgs(room, 3)
    last_seen = a.msgs(room)[-1]["seq"]
    assert last_seen == 3
    await a.close()

    for i in range(5):
        await b.send(room, f"while away {i}")
    a2 = await Client.connect(server, "alice")
    j = await a2.join(room, since=last_seen, epoch=ja["epoch"])
    assert j["gap"] is False
    assert j["seq"] == 8 and j["epoch"] == ja["epoch"]
    assert [m["seq"] for m in j["history"]] == [4, 5, 6, 7, 8]
    assert [m["text"] for m in j["history"]] == [f"while away {i}" for i in range(5)]
    # Live messages continue right after the history.
    r = await b.send(room, "live again")
    assert r["seq"] == 9
    assert (await a2.wait_msg(room, 9))["text"] == "live again"
    assert [m["seq"] for m in a2.msgs(room)] == [9]

    # since == the room's seq: nothing missed.
    c = await Client.connect(server, "carol")
    j = await c.join(room, since=9, epoch=ja["epoch"])
    assert j["history"] == [] and j["gap"] is False
    await close_all([a2, b, c])


async def test_resume_after_everyone_left(server):
    room = "empty-then-back"
    a = await Client.connect(server, "alice")
    ja = await a.join(room)
    for i in range(4):
        await a.send(room, f"x{i}")
    await a.ok("leave", room=room)
    await a.close()
    # rooms.history_ttl = 3600: the history outlives the last member.
    b = await Client.connect(server, "alice")
    j = await b.join(room, since=2, epoch=ja["epoch"])
    assert j["epoch"] == ja["epoch"] and j["seq"] == 4 and j["gap"] is False
    assert [m["text"] for m in j["history"]] == ["x2", "x3"]
    r = await b.send(room, "x4")
    assert r["seq"] == 5
    await close_all([b])


@pytest.mark.conf({("rooms", "history"): 5, ("rooms", "join_history"): 5})
async def test_gap_when_since_older_than_history(server):
    room = "short"
    a = await Client.connect(server, "alice")
    ja = await a.join(room)
    for i in range(1, 11):
        await a.send(room, f"n{i}")
    b = await Client.connect(server, "bob")
    cases = [(5, False, [6, 7, 8, 9, 10]), (4, True, [6, 7, 8, 9, 10]),
             (0, True, [6, 7, 8, 9, 10]), (8, False, [9, 10]), (10, False, [])]
    for since, gap, seqs in cases:
        j = await b.join(room, since=since, epoch=ja["epoch"])
        assert j["gap"] is gap, (since, j)
        assert [m["seq"] for m in j["history"]] == seqs, (since, j)
        await b.ok("leave", room=room)
    # Without epoch, since alone decides too.
    j = await b.join(room, since=3)
    assert j["gap"] is True and [m["seq"] for m in j["history"]] == [6, 7, 8, 9, 10]
    await b.ok("leave", room=room)
    # The history command is bounded by rooms.history as well.
    h = await a.ok("history", room=room)
    assert [m["seq"] for m in h["messages"]] == [6, 7, 8, 9, 10]
    h = await a.ok("history", room=room, limit=5)
    assert [m["seq"] for m in h["messages"]] == [6, 7, 8, 9, 10]
    # A limit above rooms.history is either clamped or refused as out of range (bad_request).
    h = await a.send_cmd("history", room=room, limit=50)
    if "error" in h:
        assert_error(h, "bad_request", h["id"])
    else:
        assert [m["seq"] for m in h["messages"]] == [6, 7, 8, 9, 10]
    await close_all([a, b])


async def test_gap_when_epoch_differs(server):
    room = "epochs"
    a = await Client.connect(server, "alice")
    ja = await a.join(room)
    for i in range(3):
        await a.send(room, f"e{i}")
    b = await Client.connect(server, "bob")
    other = ja["epoch"] + 1
    j = await b.join(room, since=2, epoch=other)
    assert j["gap"] is True
    assert j["epoch"] == ja["epoch"]
    # Everything the room keeps.
    assert [m["seq"] for m in j["history"]] == [1, 2, 3]
    await b.ok("leave", room=room)
    j = await b.join(room, since=2, epoch=ja["epoch"])
    assert j["gap"] is False and [m["seq"] for m in j["history"]] == [3]
    await close_all([a, b])


@pytest.mark.conf({("rooms", "history_ttl"): 0})
@pytest.mark.deadline(40)
async def test_forgotten_room_restarts_with_new_epoch(server):
    room = "ephemeral"
    a = await Client.connect(server, "alice")
    ja = await a.join(room)
    await a.send(room, "one")
    await a.send(room, "two")
    await a.ok("leave", room=room)
    await a.close()

    b = await Client.connect(server, "bob")
    deadline = time.monotonic() + T(15)
    while True:  # bounded: the room is forgotten once its (zero) TTL has been noticed
        j = await b.join(room)
        if j["epoch"] != ja["epoch"] or time.monotonic() > deadline:
            break
        assert j["seq"] == 2, j
        await b.ok("leave", room=room)
        await asyncio.sleep(0.2)
    assert j["epoch"] != ja["epoch"], "room with history_ttl=0 was never forgotten"
    assert j["seq"] == 0 and j["history"] == [], j
    r = await b.send(room, "first of the new life")
    assert r["seq"] == 1
    c = await Client.connect(server, "carol")
    jc = await c.join(room, since=2, epoch=ja["epoch"])
    assert jc["gap"] is True
    assert [m["text"] for m in jc["history"]] == ["first of the new life"]
    await close_all([b, c])


# --------------------------------------------------------------------------------------------
# nonce

async def test_nonce_dedupe(server):
    room = "nonce"
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    await a.join(room)
    await b.join(room)
    r1 = await a.send(room, "only once", nonce="c1-17")
    assert not r1.get("dup", False)
    r2 = await a.send(room, "only once", nonce="c1-17")
    assert r2["op"] == "send" and r2["room"] == room, r2
    assert r2["seq"] == r1["seq"] and r2.get("dup") is True, r2
    # A second session of the same user is the same user for deduplication.
    a2 = await Client.connect(server, "alice")
    await a2.join(room)
    r3 = await a2.send(room, "only once", nonce="c1-17")
    assert r3["seq"] == r1["seq"] and r3.get("dup") is True
    # Another user with the same nonce is a different message.
    r4 = await b.send(room, "bob's own", nonce="c1-17")
    assert r4["seq"] == r1["seq"] + 1 and not r4.get("dup", False)
    # A 64-byte nonce is allowed.
    r5 = await a.send(room, "long nonce", nonce="n" * 64)
    assert r5["seq"] == r4["seq"] + 1
    await barrier(b, [a, b, a2], room)
    for c in (a, b):
        assert [m["text"] for m in c.msgs(room)].count("only once") == 1, c.msgs(room)
        assert_consecutive(c.msgs(room))
    await close_all([a, b, a2])


@pytest.mark.conf({("rooms", "history"): 5, ("rooms", "join_history"): 5})
async def test_nonce_forgotten_once_out_of_history(server):
    room = "nonce-evict"
    a = await Client.connect(server, "alice")
    await a.join(room)
    r1 = await a.send(room, "first", nonce="k")
    for i in range(5):
        await a.send(room, f"filler {i}")
    r2 = await a.send(room, "first again", nonce="k")
    assert not r2.get("dup", False) and r2["seq"] == r1["seq"] + 6
    await a.wait_msg(room, r2["seq"])
    await close_all([a])


async def test_direct_messages(server):
    alice = await Client.connect(server, "alice")
    bob1 = await Client.connect(server, "bob")
    bob2 = await Client.connect(server, "bob")
    reply = await alice.ok("dm", to="guest:bob", text="psst")
    assert reply["to"] == "guest:bob"
    for b in (bob1, bob2):
        ev = await b.wait_event(lambda e: e.get("ev") == "dm")
        assert ev["from"] == {"id": "guest:alice", "name": "alice"}
        assert ev["to"] == "guest:bob" and ev["text"] == "psst" and isinstance(ev["ts"], int)
    assert not alice.evs("dm")
    assert_error(await alice.send_cmd("dm", to="guest:nobody", text="hello?"), "offline")
    # A bare name is an account's: bob the guest is not the account bob (none here).
    assert_error(await alice.send_cmd("dm", to="bob", text="hello?"), "offline")
    assert_error(await alice.send_cmd("dm", to="guest: bob", text="x"), "user_name_invalid")
    assert_error(await alice.send_cmd("dm", to="guest:bob"), "bad_request")
    assert_error(await alice.send_cmd("dm", to="guest:bob", text=""), "text_too_long")
    # Once bob's sessions are gone, so is he.
    await close_all([bob1, bob2])
    # The server notices the closes in its own time: ask until it has.
    reply = await alice.send_cmd("dm", to="guest:bob", text="still there?")
    for _ in range(100):
        if "error" in reply:
            break
        await asyncio.sleep(0.05)
        reply = await alice.send_cmd("dm", to="guest:bob", text="still there?")
    assert_error(reply, "offline")
    await alice.close()
