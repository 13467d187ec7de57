# SPDX-License-Identifier: MIT
"""Read markers (docs/protocol.md "read"): raised, never lowered, kept across a restart and on
every node, told to the account's other sessions, the unread counts they give, the bound per
account, and refusals."""
from confabtest import T, Client, assert_bystander_unaffected, assert_error, close_all, uniq
from test_rules import account, err, ok, wait_ev


async def login(server, name):
    c = await Client.connect(server, hello=False)
    r = await c.send_cmd("login", name=name, password="password123", timeout=T(20))
    assert r["op"] == "login", r
    await ok(c, "hello", token=r["token"])
    c.uid = name
    return c


def read_evs(c, room):
    return [e for e in c.events if e.get("ev") == "read" and e.get("room") == room]


async def test_marker_rises_syncs_and_counts_unread(server):
    alice = await account(server)
    alice2 = await login(server, alice.uid)
    bob = await Client.connect(server, uniq("bob"))
    room = uniq("r")
    for c in (alice, alice2, bob):
        await c.join(room)
    for i in range(3):
        last = await bob.send(room, f"m{i}")
    await alice.wait_msg(room, last["seq"])
    r = await ok(alice, "read", room=room, seq=last["seq"] - 1)
    assert r["seq"] == last["seq"] - 1, r
    ev = await wait_ev(alice2, lambda e: read_evs(alice2, room), "read event in the other tab")
    assert read_evs(alice2, room)[0]["seq"] == last["seq"] - 1, ev
    # Never lowered; the answer is the marker as it is.
    r = await ok(alice, "read", room=room, seq=1)
    assert r["seq"] == last["seq"] - 1, r
    u = await ok(alice2, "unread")
    assert u["rooms"] == [{"room": room, "seq": last["seq"], "read": last["seq"] - 1,
                           "unread": 1}], u
    # Refusals.
    await err(alice, "bad_request", "read", room=room, seq=last["seq"] + 5)
    await err(alice, "bad_request", "read", room=room)
    await err(alice, "not_joined", "read", room=uniq("x"), seq=0)
    await err(bob, "auth_required", "read", room=room, seq=1)
    await err(bob, "auth_required", "unread")
    await close_all([alice, alice2, bob])


async def test_markers_kept_across_restart_and_bounded(start_server):
    server = start_server({("rooms", "max_read_markers"): 2})
    alice = await account(server)
    rooms = [uniq("r") for _ in range(3)]
    for room in rooms:
        await alice.join(room)
        s = await alice.send(room, "hi")
        await ok(alice, "read", room=room, seq=s["seq"])
    u = await ok(alice, "unread")
    byroom = {x["room"]: x for x in u["rooms"]}
    # The marker moved longest ago was forgotten: that room counts as unread again.
    assert byroom[rooms[0]]["read"] == 0 and byroom[rooms[0]]["unread"] == 1, u
    assert byroom[rooms[2]]["read"] == 1 and byroom[rooms[2]]["unread"] == 0, u
    name = alice.uid
    await alice.close()
    server.restart()
    again = await login(server, name)
    for room in rooms:
        await again.join(room)
    u = await ok(again, "unread")
    assert {x["room"]: x["read"] for x in u["rooms"]} == {rooms[0]: 0, rooms[1]: 1,
                                                          rooms[2]: 1}, u
    await again.close()


async def test_two_nodes_markers_sync(start_server, redis):
    from test_rules import two_nodes
    n0, n1 = await two_nodes(start_server, redis)
    a0 = await account(n0)
    a1 = await login(n1, a0.uid)
    room = uniq("r")
    await a0.join(room)
    await a1.join(room)
    s = await a0.send(room, "one")
    s = await a0.send(room, "two")
    await a1.wait_msg(room, s["seq"])
    await ok(a0, "read", room=room, seq=s["seq"])
    ev = await wait_ev(a1, lambda e: read_evs(a1, room), "read event on node1")
    assert read_evs(a1, room)[0]["seq"] == s["seq"], ev
    u = await ok(a1, "unread")
    assert u["rooms"][0]["read"] == s["seq"] and u["rooms"][0]["unread"] == 0, u
    # A forged marker on the user's channel is ignored; the user's chat goes on.
    for bad in ['{"rd":1}', '{"rd":1,"u":"guest:x","r":"%s","s":"5"}' % room,
                '{"rd":1,"u":"%s","r":"%s","s":"-1"}' % (a0.uid, room)]:
        redis.call("PUBLISH", f"confab:user:{a0.uid}", bad)
    s = await a1.send(room, "three")
    await a0.wait_msg(room, s["seq"])
    # Each session of the user hears of its marker, the reading one too: only that one.
    assert [e["seq"] for e in read_evs(a0, room)] == [2], read_evs(a0, room)
    await assert_bystander_unaffected(n1)
    await close_all([a0, a1])


async def test_guest_cannot_read_and_bystanders_unaffected(server):
    g = await Client.connect(server, uniq("g"))
    room = uniq("r")
    await g.join(room)
    for _ in range(20):
        assert_error(await g.send_cmd("read", room=room, seq=0), "auth_required")
    await assert_bystander_unaffected(server)
    await g.close()


async def test_members_see_markers_in_small_rooms_only(start_server):
    server = start_server({("rooms", "read_show_max"): 2})
    alice, bob = await account(server), await account(server)
    room = uniq("r")
    await alice.join(room)
    await bob.join(room)
    s = await bob.send(room, "hi")
    await alice.wait_msg(room, s["seq"])
    await ok(alice, "read", room=room, seq=s["seq"])
    ev = await wait_ev(bob, lambda e: e.get("ev") == "read" and "user" in e, "alice's marker")
    assert ev == {"ev": "read", "room": room, "user": {"id": alice.uid, "name": alice.uid},
                  "seq": s["seq"]}, ev
    # A marker that does not move is not told again.
    await ok(alice, "read", room=room, seq=s["seq"])
    # Three users: above read_show_max, nobody hears of others' markers.
    carol = await Client.connect(server, uniq("carol"))
    await carol.join(room)
    s = await carol.send(room, "more")
    await bob.wait_msg(room, s["seq"])
    await ok(alice, "read", room=room, seq=s["seq"])
    s2 = await alice.send(room, "marker")
    await bob.wait_msg(room, s2["seq"])
    await carol.wait_msg(room, s2["seq"])
    assert [e["seq"] for e in bob.events if e.get("ev") == "read" and "user" in e] == [
        s["seq"] - 1], bob.events
    assert not [e for e in carol.events if e.get("ev") == "read"], carol.events
    await close_all([alice, bob, carol])


async def test_two_nodes_members_see_markers(start_server, redis):
    from test_rules import two_nodes
    n0, n1 = await two_nodes(start_server, redis)
    alice, bob = await account(n0), await account(n1)
    room = uniq("r")
    await alice.join(room)
    await bob.join(room)
    s = await bob.send(room, "hi")
    await alice.wait_msg(room, s["seq"])
    await ok(alice, "read", room=room, seq=s["seq"])
    ev = await wait_ev(bob, lambda e: e.get("ev") == "read" and "user" in e,
                       "alice's marker on node1")
    assert ev["user"]["id"] == alice.uid and ev["seq"] == s["seq"], ev
    await close_all([alice, bob])
