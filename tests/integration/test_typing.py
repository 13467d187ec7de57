# SPDX-License-Identifier: MIT
"""confab.v1 typing indicators (docs/protocol.md "typing"): a member says it is typing or that it
stopped, and the room's other users see it, on every node, with the time to show it for. Nothing
is stored; a token bucket per session and one per address bound what a client can make the
server send; seed dialects show nothing.

Where a test must show that something was NOT delivered, it uses a barrier instead of a wait:
typing events go through the bus in order with the messages their session sends after them, so a
message sent after the typing event reaches every session after any typing frame it would get."""
import asyncio
import json

import pytest

from confabtest import (VALGRIND, Client, T, assert_bystander_unaffected, assert_error,
                        close_all, poll_until, uniq)
from test_cluster import start_nodes, wait_healthy
from test_dialect_000 import D0, ORIGIN
from test_dialect_002 import D2, create, joined


def typing_evs(c, room=None):
    return c.evs("typing", room)


def user(c):
    return {"id": c.id, "name": c.name}


async def barrier(sender, room, *readers):
    """sender says something in room; each reader (a member of room) has it when this returns:
    everything queued to them before it has arrived."""
    r = await sender.send(room, "barrier")
    for c in readers:
        await c.wait_msg(room, r["seq"])


async def typing_ok(c, room, **fields):
    reply = await c.ok("typing", room=room, **fields)
    assert reply == {"op": "typing", "id": reply["id"], "room": room}, reply
    return reply


# ---- standalone ------------------------------------------------------------------------------

@pytest.mark.conf({("rooms", "typing_ttl"): 2500})
async def test_typing_reaches_the_other_members_only(server):
    room, other = uniq("typ"), uniq("typother")
    alice = await Client.connect(server, uniq("alice"))
    alice2 = await Client.connect(server, alice.name)  # the same guest: alice's other tab
    bob = await Client.connect(server, uniq("bob"))
    carol = await Client.connect(server, uniq("carol"))
    assert alice2.id == alice.id
    assert alice.hello_reply["limits"]["typing_ttl"] == 2500
    for c in (alice, alice2, bob):
        await c.join(room)
    for c in (alice, carol):
        await c.join(other)

    # typing defaults to true; the others hear it with the configured ttl.
    await typing_ok(alice, room)
    ev = await bob.wait_event(lambda e: e.get("ev") == "typing")
    assert ev == {"ev": "typing", "room": room, "user": user(alice), "typing": True,
                  "ttl": 2500}, ev
    # Not alice's own sessions, not a member of another room of hers.
    await barrier(alice, room, alice, alice2)
    await barrier(alice, other, carol)
    assert typing_evs(alice) == typing_evs(alice2) == typing_evs(carol) == []

    # Stopped: no ttl.
    await typing_ok(alice2, room, typing=False)
    ev = await bob.wait_event(lambda e: e.get("ev") == "typing" and not e["typing"])
    assert ev == {"ev": "typing", "room": room, "user": user(alice), "typing": False}, ev
    # Bob's typing reaches both of alice's sessions, and nobody else.
    await typing_ok(bob, room, typing=True)
    for c in (alice, alice2):
        ev = await c.wait_event(lambda e: e.get("ev") == "typing")
        assert ev == {"ev": "typing", "room": room, "user": user(bob), "typing": True,
                      "ttl": 2500}, ev
    await barrier(bob, room, bob)
    assert len(typing_evs(bob)) == 2 and typing_evs(carol) == []

    # Sent right after a message, typing comes after it (the client that sends and types on
    # is shown typing, not hidden by its own message).
    f1 = await alice.start_cmd("send", room=room, text="sent")
    f2 = await alice.start_cmd("typing", room=room)
    await asyncio.wait_for(asyncio.gather(f1, f2), T(10))
    await bob.wait_until(lambda: len(typing_evs(bob)) == 3, what="the third typing event")
    seen = [o.get("text") or o["ev"] for o in bob.events if o.get("room") == room]
    assert seen[-2:] == ["sent", "typing"], seen

    # Nothing is kept: a member joining later hears of no earlier typing, the history holds
    # messages only.
    dave = await Client.connect(server, uniq("dave"))
    j = await dave.join(room)
    assert [m["text"] for m in j["history"]] == ["barrier", "barrier", "sent"], j
    await barrier(bob, room, dave)
    assert typing_evs(dave) == []
    m = server.metrics()
    assert m["confab_typing_total"] == 4 and m["confab_typing_limited_total"] == 0, m
    await close_all([alice, alice2, bob, carol, dave])


async def test_typing_errors_change_nothing(server):
    room = uniq("typerr")
    alice = await Client.connect(server, uniq("alice"))
    bob = await Client.connect(server, uniq("bob"))
    for c in (alice, bob):
        await c.join(room)
    await alice.err("typing", "not_joined", room=uniq("nowhere"))
    for bad in ("yes", 1, 0, None, [], {}):
        r = await alice.err("typing", "bad_request", room=room, typing=bad)
        assert "typing" in r["error"]["message"], r
    await alice.err("typing", "bad_request")
    await alice.err("typing", "bad_request", room=7)
    await alice.err("typing", "room_name_invalid", room="")
    await alice.err("typing", "room_name_invalid", room="a\u202eb")
    # Without an id: the reply has none, as for every command.
    await alice.send_json({"op": "typing", "room": room, "typing": "no"})
    r = await alice.next_noid_reply()
    assert_error(r, "bad_request")
    assert "id" not in r
    await alice.send_json({"op": "typing", "room": room, "typing": False})
    assert await alice.next_noid_reply() == {"op": "typing", "room": room}
    await barrier(alice, room, bob)
    # Only the last one was an event.
    assert [e["typing"] for e in typing_evs(bob)] == [False]
    await close_all([alice, bob])


@pytest.mark.conf({("rooms", "typing_rate"): 1, ("rooms", "typing_burst"): 3})
async def test_typing_is_rate_limited_per_session(server):
    """The session's bucket covers all its rooms and both true and false: refused events answer
    rate_limited and reach nobody; another session has its own bucket."""
    rooms = [uniq("typrate") for _ in range(3)]
    alice = await Client.connect(server, uniq("alice"))
    bob = await Client.connect(server, uniq("bob"))
    for r in rooms:
        await alice.join(r)
        await bob.join(r)
    n = 40
    futs = [await alice.start_cmd("typing", room=rooms[i % 3], typing=i % 2 == 0)
            for i in range(n)]
    replies = [await asyncio.wait_for(f, T(10)) for f in futs]
    accepted = [r for r in replies if "error" not in r]
    refused = [r for r in replies if "error" in r]
    for r in refused:
        assert_error(r, "rate_limited")
    # The burst of 3, and what 1/s refills while 40 commands are read.
    assert 3 <= len(accepted) <= 10, replies
    for r in rooms:
        await barrier(alice, r, bob)
    assert len(typing_evs(bob)) == len(accepted)
    assert server.metric("confab_typing_limited_total") == len(refused)
    # Bob's bucket is his own.
    await typing_ok(bob, rooms[0])
    await alice.wait_event(lambda e: e.get("ev") == "typing")
    await close_all([alice, bob])


@pytest.mark.conf({("rooms", "typing_rate_per_ip"): 1, ("rooms", "typing_burst_per_ip"): 5})
async def test_typing_is_rate_limited_per_address(server):
    """All sessions of one address share a bucket: five sessions, each with a full bucket of
    its own (10), get 5 events through together, not 50."""
    room = uniq("typip")
    clients = [await Client.connect(server, uniq("c")) for _ in range(5)]
    for c in clients:
        await c.join(room)
    accepted = 0
    for c in clients:
        for _ in range(10):
            r = await c.send_cmd("typing", room=room)
            if "error" in r:
                assert_error(r, "rate_limited")
            else:
                accepted += 1
    assert 5 <= accepted <= 15, accepted
    await assert_bystander_unaffected(server)
    await close_all(clients)


@pytest.mark.conf({("rooms", "presence_events_max"): 2})
async def test_typing_in_a_large_room_is_accepted_and_sent_nowhere(server):
    room = uniq("typbig")
    cs = [await Client.connect(server, uniq("m")) for _ in range(3)]
    for c in cs:
        await c.join(room)
    await typing_ok(cs[0], room)
    await barrier(cs[0], room, *cs)
    assert all(typing_evs(c) == [] for c in cs)
    # At the limit again (2 users): events.
    await cs[2].ok("leave", room=room)
    await typing_ok(cs[0], room)
    await cs[1].wait_event(lambda e: e.get("ev") == "typing")
    await close_all(cs)


@pytest.mark.deadline(60)
@pytest.mark.conf({("rooms", "typing_rate_per_ip"): 1, ("rooms", "typing_burst_per_ip"): 20})
async def test_hostile_typing_flood_in_many_rooms_is_bounded(server):
    """One address, eight sessions in 32 rooms each, flooding typing true/false as fast as the
    socket takes it: the attackers get rate_limited, a member of every room hears no more than
    the address's bucket allows (one event per accepted command; the sessions' own buckets
    would let 80 through at once), and meanwhile another client's chat and /healthz work."""
    rooms = [uniq("flood") for _ in range(32)]
    victim = await Client.connect(server, uniq("victim"))
    for r in rooms:
        await victim.join(r)
    attackers = [await Client.connect(server, uniq("mallory")) for _ in range(8)]
    for a in attackers:
        for r in rooms:
            await a.join(r)
    per = 50 if VALGRIND else 250
    futs = []
    for a in attackers:
        for i in range(per):
            futs.append(await a.start_cmd("typing", room=rooms[i % 32], typing=i % 3 != 0))
    # While the flood is being read and answered.
    await assert_bystander_unaffected(server)
    replies = [await asyncio.wait_for(f, T(30)) for f in futs]
    accepted = sum(1 for r in replies if "error" not in r)
    for r in replies:
        if "error" in r:
            assert_error(r, "rate_limited")
    # The address's 20, and 1/s while the commands are read (a generous bound: slow builds
    # take longer to read them).
    assert 20 <= accepted <= 60, accepted
    # Every accepted event was queued on the bus before its reply: one barrier covers them.
    await barrier(attackers[0], rooms[0], victim)
    assert len(typing_evs(victim)) == accepted
    assert server.metric("confab_typing_limited_total") == len(replies) - accepted
    await assert_bystander_unaffected(server)
    await close_all([victim] + attackers)


async def test_seed_clients_in_the_room_get_nothing(start_server):
    """Seeds 000 and 002 have no typing event: their clients in the room get not one frame more
    (the next frame after the typing is the message sent after it)."""
    s = start_server({("dialects", "disposable_origin"): ORIGIN})
    room = create(s, "typing")["id"]
    dora = await D0.connect(s, "dora", room)
    chaz = await D2.connect(s, "chaz", room)
    alice = await Client.connect(s, uniq("alice"))
    bob = await Client.connect(s, uniq("bob"))
    for c in (alice, bob):
        await c.join(room)
        await dora.wait_info("registered", c.id)
        await chaz.wait(lambda f, c=c: f == joined(c.name), f"{c.name} joined")
    d0, d2 = len(dora.frames), len(chaz.frames)
    await typing_ok(alice, room)
    await typing_ok(alice, room, typing=False)
    await bob.wait_event(lambda e: e.get("ev") == "typing" and not e["typing"])
    await alice.send(room, "after typing")
    await dora.wait_chat("after typing")
    await chaz.wait_msg("after typing", alice.name)
    assert [f["type"] for f in dora.frames[d0:]] == ["chat"], dora.frames[d0:]
    assert chaz.frames[d2:] == [{"text": "after typing", "participant": alice.name}]
    await close_all([alice, bob])
    await dora.close()
    await chaz.close()


# ---- cluster ---------------------------------------------------------------------------------

def redis_keys(redis):
    return set(redis.call("KEYS", "*"))


@pytest.mark.deadline(60)
async def test_cluster_typing_across_nodes(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room, other = uniq("typc"), uniq("typcother")
    alice = await Client.connect(a, uniq("alice"))
    alice2 = await Client.connect(b, alice.name)
    bob = await Client.connect(b, uniq("bob"))
    carol = await Client.connect(b, uniq("carol"))
    for c in (alice, alice2, bob):
        await c.join(room)
    for c in (alice, carol):
        await c.join(other)
    # Everyone knows everyone before the typing starts (presence crossed the nodes).
    await alice.wait_until(lambda: any(e.get("ev") == "join" and e["user"]["id"] == bob.id
                                       for e in alice.events), what="bob's join on node a")
    keys = redis_keys(redis)

    await typing_ok(alice, room)
    ev = await bob.wait_event(lambda e: e.get("ev") == "typing")
    assert ev == {"ev": "typing", "room": room, "user": user(alice), "typing": True,
                  "ttl": 6000}, ev
    # Nothing stored: no key appeared or went.
    assert redis_keys(redis) == keys
    await barrier(alice, room, alice, alice2)
    await barrier(alice, other, carol)
    assert typing_evs(alice) == typing_evs(alice2) == typing_evs(carol) == []

    # The other way, and a stop.
    await typing_ok(bob, room)
    await typing_ok(bob, room, typing=False)
    for c in (alice, alice2):
        await c.wait_event(lambda e: e.get("ev") == "typing" and not e["typing"])
        assert [(e["user"], e["typing"]) for e in typing_evs(c)] == [
            (user(bob), True), (user(bob), False)]

    # A typing event sent right after a message comes after it on the other node too.
    f1 = await alice.start_cmd("send", room=room, text="sent")
    f2 = await alice.start_cmd("typing", room=room)
    await asyncio.wait_for(asyncio.gather(f1, f2), T(10))
    await bob.wait_until(lambda: len(typing_evs(bob)) == 2, what="the second typing event")
    seen = [o.get("text") or o["ev"] for o in bob.events if o.get("room") == room]
    assert seen[-2:] == ["sent", "typing"], seen

    # Redis gone: refused with unavailable, nothing queued.
    redis.stop()
    await wait_healthy(a, ok=False)
    await alice.err("typing", "unavailable", room=room)
    await close_all([alice, alice2, bob, carol])


@pytest.mark.deadline(60)
async def test_cluster_typing_payloads_from_redis_are_checked(start_server, redis):
    """Whoever can PUBLISH on a room channel can send typing events; what is not one a node
    would send is dropped (and logged), and a user who is not in the room is never shown."""
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq("typforge")
    alice = await Client.connect(a, uniq("alice"))
    bob = await Client.connect(b, uniq("bob"))
    await alice.join(room)
    # Node b read alice's presence before answering.
    assert user(alice) in (await bob.join(room))["members"]
    ch = f"confab:room:{room}"
    bad = [
        {"y": "true", "r": room, "u": alice.id},
        {"y": 1, "r": room, "u": alice.id},
        {"y": True, "r": room},
        {"y": True, "u": alice.id},
        {"y": True, "r": room, "u": ["x"]},
        {"y": True, "r": room, "u": "x" * 1000},
        {"y": True, "r": "a\u202eb", "u": alice.id},
        {"y": True, "r": room, "u": "guest:nobody"},  # well-formed, not in the room
    ]
    for p in bad:
        assert redis.call("PUBLISH", ch, json.dumps(p)) == 2
    assert redis.call("PUBLISH", ch, b"{\"y\":true,\"r\":\"" + room.encode() + b"\xff\"}") == 2
    await barrier(alice, room, bob, alice)
    assert typing_evs(bob) == [] and typing_evs(alice) == []
    # A well-formed one for a user in the room is shown (Redis is trusted that far).
    assert redis.call("PUBLISH", ch, json.dumps({"y": True, "r": room, "u": alice.id})) == 2
    ev = await bob.wait_event(lambda e: e.get("ev") == "typing")
    assert ev["user"] == user(alice), ev
    await barrier(bob, room, alice)
    assert typing_evs(alice) == []  # her own typing, as any other
    for n in (a, b):
        await poll_until(lambda n=n: "malformed typing event" in n.log_text(), T(5),
                         what="the warning")
        assert n.get("/healthz").status_code == 200
    await close_all([alice, bob])
