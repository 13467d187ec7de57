# SPDX-License-Identifier: MIT
"""Rooms with owners and rules (docs/protocol.md "Rooms with owners and rules"): create, the
three kinds, roles, kick, ban, mute, every refusal as a defined error, the rules kept across a
restart (standalone) and on every node (cluster), seed clients under a room's rules, and the
bounds a client can reach."""
import asyncio
import json

from confabtest import (ADMIN_TOKEN, T, Client, ServerStartError, assert_bystander_unaffected,
                        assert_error, close_all, quote_room, uniq)
from test_dialect_000 import D0, SHARED_CONF as D0_CONF

PW = "password123"


async def account(server, name=None):
    """A confab.v1 session signed in as a new account."""
    name = name or uniq("acct")
    c = await Client.connect(server, hello=False)
    r = await c.send_cmd("register", name=name, password=PW, timeout=T(20))
    assert r["op"] == "register", r
    h = await c.send_cmd("hello", token=r["token"], timeout=T(20))
    assert h["op"] == "hello", h
    c.uid = name
    c.token = r["token"]
    return c


async def guest_(server):
    name = uniq("g")
    c = await Client.connect(server, name)
    c.uid = f"guest:{name}"
    return c


async def ok(c, op, **kw):
    r = await c.send_cmd(op, timeout=T(20), **kw)
    assert "error" not in r and r["op"] == op, r
    return r


async def err(c, code, op, **kw):
    r = await c.send_cmd(op, timeout=T(20), **kw)
    assert_error(r, code)
    return r


def rules_evs(c, room, op=None):
    return [e for e in c.events if e.get("ev") == "rules" and e.get("room") == room and
            (op is None or e.get("op") == op)]


async def wait_ev(c, pred, what):
    return await c.wait_event(pred, what=what)


async def test_create_room_with_owner_topic_and_kind(server):
    alice = await account(server)
    room = uniq("r")
    r = await ok(alice, "create", room=room, kind="private", topic="Plans for the week")
    assert r["room"] == room and r["v"] == 1, r
    info = await ok(alice, "room", room=room)
    assert info["kind"] == "private" and info["topic"] == "Plans for the week", info
    assert info["role"] == "owner" and info["creator"] == alice.uid, info
    assert info["staff"] == [{"id": alice.uid, "role": "owner"}], info
    await alice.join(room)
    # Not again, and never over a room that exists already (members or history).
    await err(alice, "room_exists", "create", room=room)
    g = await Client.connect(server, uniq("g"))
    busy = uniq("busy")
    await g.join(busy)
    await err(alice, "room_exists", "create", room=busy)
    # Guests run no rooms; a room without rules says so.
    await err(g, "auth_required", "create", room=uniq("r"))
    plain = await ok(g, "room", room=busy)
    assert plain["ruled"] is False and plain["kind"] == "open" and plain["staff"] == [], plain
    # A private room is its members' business.
    bob = await account(server)
    await err(bob, "forbidden", "room", room=room)
    await err(alice, "bad_request", "create", room=uniq("r"), kind="secret")
    await err(alice, "bad_request", "topic", room=room, topic="tab\there")
    await close_all([alice, g, bob])


async def test_private_room_members_only(server):
    alice, bob = await account(server), await account(server)
    guest = await guest_(server)
    room = uniq("priv")
    await ok(alice, "create", room=room, kind="private")
    await alice.join(room)
    await err(bob, "forbidden", "join", room=room)
    await err(guest, "auth_required", "join", room=room)
    await ok(alice, "role", room=room, user=bob.uid, role="member")
    ev = await wait_ev(alice, lambda e: rules_evs(alice, room, "role"), "role event")
    assert rules_evs(alice, room, "role")[0]["user"] == bob.uid, ev
    await bob.join(room)
    s = await bob.send(room, "in at last")
    await alice.wait_msg(room, s["seq"])
    # Taking the role away removes bob: told why, and the others see him leave.
    await ok(alice, "role", room=room, user=bob.uid, role="none")
    k = await wait_ev(bob, lambda e: e.get("ev") == "kicked" and e.get("room") == room,
                      "kicked")
    assert k["reason"] == "rules", k
    await wait_ev(alice, lambda e: e.get("ev") == "leave" and e["user"]["id"] == bob.uid,
                  "bob's leave")
    await err(bob, "not_joined", "send", room=room, text="x")
    await err(bob, "forbidden", "join", room=room)
    await close_all([alice, bob, guest])


async def test_announce_room_only_staff_send(server):
    alice, bob = await account(server), await account(server)
    guest = await guest_(server)
    room = uniq("news")
    await ok(alice, "create", room=room, kind="announce", topic="Releases")
    await alice.join(room)
    await bob.join(room)
    await err(guest, "auth_required", "join", room=room)
    await err(bob, "forbidden", "send", room=room, text="me too")
    s = await alice.send(room, "1.0 is out")
    await bob.wait_msg(room, s["seq"])
    await ok(alice, "role", room=room, user=bob.uid, role="moderator")
    s = await bob.send(room, "and 1.0.1")
    await alice.wait_msg(room, s["seq"])
    await close_all([alice, bob, guest])


async def test_kick_ban_and_mute(server):
    alice, mod, bob = await account(server), await account(server), await account(server)
    guest = await guest_(server)
    room = uniq("open")
    await ok(alice, "create", room=room)
    await ok(alice, "role", room=room, user=mod.uid, role="moderator")
    for c in (alice, mod, bob, guest):
        await c.join(room)
    # A kick removes the sessions of the user from the room; it may come back.
    await ok(mod, "kick", room=room, user=guest.uid)
    k = await wait_ev(guest, lambda e: e.get("ev") == "kicked", "kicked")
    assert k == {"ev": "kicked", "room": room, "by": mod.uid, "ban": False}, k
    await guest.join(room)
    # A ban removes and refuses joins until it ends.
    await ok(mod, "ban", room=room, user=bob.uid, seconds=3600)
    k = await wait_ev(bob, lambda e: e.get("ev") == "kicked", "kicked")
    assert k["ban"] is True and k["until"] > 0, k
    await err(bob, "banned", "join", room=room)
    ev = rules_evs(alice, room, "ban") or [await wait_ev(
        alice, lambda e: rules_evs(alice, room, "ban"), "ban event")]
    await ok(mod, "unban", room=room, user=bob.uid)
    await bob.join(room)
    # A mute: in the room, but no sends.
    await ok(mod, "mute", room=room, user=bob.uid, seconds=60)
    await err(bob, "muted", "send", room=room, text="hello?")
    await ok(mod, "unmute", room=room, user=bob.uid)
    s = await bob.send(room, "back")
    await alice.wait_msg(room, s["seq"])
    assert ev
    await close_all([alice, mod, bob, guest])


async def test_who_may_do_what(server):
    alice, mod, bob = await account(server), await account(server), await account(server)
    room = uniq("r")
    await ok(alice, "create", room=room)
    await ok(alice, "role", room=room, user=mod.uid, role="moderator")
    await ok(alice, "role", room=room, user=bob.uid, role="member")
    await err(bob, "forbidden", "kick", room=room, user=mod.uid)
    await err(bob, "forbidden", "topic", room=room, topic="mine now")
    await err(mod, "forbidden", "ban", room=room, user=alice.uid)
    await err(mod, "forbidden", "role", room=room, user=bob.uid, role="moderator")
    await err(mod, "forbidden", "kind", room=room, kind="private")
    await ok(mod, "topic", room=room, topic="set by a moderator")
    await err(alice, "last_owner", "role", room=room, user=alice.uid, role="member")
    await err(alice, "no_rules", "topic", room=uniq("none"), topic="x")
    await err(alice, "bad_request", "ban", room=room, user=bob.uid, seconds=0)
    await err(alice, "user_name_invalid", "kick", room=room, user="guest:")
    info = await ok(mod, "room", room=room)
    assert info["topic"] == "set by a moderator" and info["users"], info
    info = await ok(bob, "room", room=room)
    assert "users" not in info and info["role"] == "member", info
    await close_all([alice, mod, bob])


async def test_rules_kept_across_restart(start_server):
    server = start_server()
    alice = await account(server)
    room = uniq("keep")
    await ok(alice, "create", room=room, kind="private", topic="kept")
    await ok(alice, "ban", room=room, user="zed", seconds=3600)
    token = alice.token
    await alice.close()
    server.restart()
    c = await Client.connect(server, hello=False)
    await ok(c, "hello", token=token)
    info = await ok(c, "room", room=room)
    assert info["kind"] == "private" and info["topic"] == "kept", info
    assert info["users"]["zed"]["ban"] > 0, info
    await c.close()


async def test_bad_rooms_file_stops_the_start(start_server):
    server = start_server()
    alice = await account(server)
    await ok(alice, "create", room=uniq("r"))
    await alice.close()
    server.stop()
    path = f"{server.dir}/state/rooms.json"
    with open(path) as f:
        data = json.load(f)
    room = next(iter(data["rooms"]))
    data["rooms"][room]["users"] = {"a:b": {"role": "owner"}}
    with open(path, "w") as f:
        json.dump(data, f)
    try:
        server.start(timeout=T(10))
        raise AssertionError("confabd started with a corrupt rooms.json")
    except ServerStartError:
        pass
    assert "rooms.json" in server.log_text(), server.log_text()[-500:]


async def test_seed_clients_follow_the_rules(start_server):
    server = start_server(D0_CONF)
    alice = await account(server)
    room = uniq("seed")[:20].replace(":", "-")
    await ok(alice, "create", room=room, kind="announce")
    # A seed 000 user is no account: announce rooms are for accounts.
    d = D0(await D0.open(server, f"/ws?name=visitor&room={room}", "http://test.local"))
    assert await d.closed_code() == 1008
    assert any(f["type"] == "error" and "signed-in" in f["data"]["text"] for f in d.frames), \
        d.frames
    # In an open room with rules, a seed user is kicked by closing its connection.
    room2 = uniq("seed")[:20]
    await ok(alice, "create", room=room2)
    await alice.join(room2)
    v = await D0.connect(server, "visitor", room2)
    await ok(alice, "kick", room=room2, user=f"disposable:{v.id}")
    assert await v.closed_code() == 1008
    await close_all([alice])


async def test_bounds_per_account_and_per_room(start_server):
    server = start_server({("rooms", "max_created_per_user"): 2, ("rooms", "max_rule_users"): 3})
    alice = await account(server)
    await ok(alice, "create", room=uniq("a"))
    await ok(alice, "create", room=uniq("b"))
    await err(alice, "room_limit", "create", room=uniq("c"))
    bob = await account(server)
    room = uniq("d")
    await ok(bob, "create", room=room)
    await ok(bob, "mute", room=room, user="u1", seconds=60)
    await ok(bob, "mute", room=room, user="u2", seconds=60)
    await err(bob, "rule_limit", "mute", room=room, user="u3", seconds=60)
    await ok(bob, "unmute", room=room, user="u1")
    await ok(bob, "mute", room=room, user="u3", seconds=60)
    await close_all([alice, bob])


async def test_hostile_rule_commands_get_defined_errors(server):
    guest = await guest_(server)
    alice = await account(server)
    room = uniq("r")
    await ok(alice, "create", room=room)
    for op, kw in [("create", {"room": uniq("x")}), ("ban", {"room": room, "user": alice.uid}),
                   ("kick", {"room": room, "user": alice.uid}),
                   ("role", {"room": room, "user": "x", "role": "owner"})]:
        await err(guest, "auth_required", op, **kw)
    mallory = await account(server)
    codes = set()
    for i in range(30):
        r = await mallory.send_cmd(["ban", "kick", "role", "topic", "kind"][i % 5], room=room,
                                   user=alice.uid, role="owner", topic="pwned", kind="private",
                                   timeout=T(20))
        codes.add(r["error"]["code"])
    assert codes == {"forbidden"}, codes
    await err(mallory, "bad_request", "ban", room=room)
    await err(mallory, "room_name_invalid", "room", room="")
    info = await ok(alice, "room", room=room)
    assert info["kind"] == "open" and info["topic"] == "", info
    await assert_bystander_unaffected(server)
    await close_all([guest, alice, mallory])


# ---- two nodes through Redis -------------------------------------------------------------------

async def two_nodes(start_server, redis):
    from test_cluster import node_conf, wait_healthy
    nodes = [start_server(node_conf(redis, f"node{i}")) for i in range(2)]
    for n in nodes:
        await wait_healthy(n)
    return nodes


async def test_two_nodes_rules_apply_everywhere(start_server, redis):
    n0, n1 = await two_nodes(start_server, redis)
    alice, bob = await account(n0), await account(n1)
    room = uniq("priv")
    await ok(alice, "create", room=room, kind="private", topic="across")
    await alice.join(room)
    await err(bob, "forbidden", "join", room=room)
    info = await ok(bob, "room", room=uniq("none"))
    assert info["ruled"] is False, info
    await ok(alice, "role", room=room, user=bob.uid, role="member")
    await bob.join(room)
    s = await bob.send(room, "from node1")
    await alice.wait_msg(room, s["seq"])
    # Both nodes hear every change; the ban removes bob on his node.
    await ok(alice, "topic", room=room, topic="changed on node0")
    ev = await wait_ev(bob, lambda e: rules_evs(bob, room, "topic"), "topic event")
    assert rules_evs(bob, room, "topic")[0]["topic"] == "changed on node0", ev
    await ok(alice, "ban", room=room, user=bob.uid, seconds=600)
    k = await wait_ev(bob, lambda e: e.get("ev") == "kicked", "kicked on node1")
    assert k["ban"] is True and k["by"] == alice.uid, k
    await wait_ev(alice, lambda e: e.get("ev") == "leave" and e["user"]["id"] == bob.uid,
                  "bob's leave on node0")
    await err(bob, "banned", "join", room=room)
    # A change made on node1 applies on node0 too.
    await ok(alice, "unban", room=room, user=bob.uid)
    await ok(alice, "role", room=room, user=bob.uid, role="moderator")
    await bob.join(room)
    carol = await account(n0)
    await ok(bob, "role", room=room, user=carol.uid, role="member")
    # node0 follows the room: it applies the change when the rules message arrives, which may
    # be after bob's reply (protocol.md: a change is not ordered with joins on other nodes).
    await wait_ev(alice, lambda e: any(x.get("user") == carol.uid
                                       for x in rules_evs(alice, room, "role")),
                  "carol's role on node0")
    await carol.join(room)
    await ok(bob, "mute", room=room, user=carol.uid, seconds=60)
    await wait_ev(carol, lambda e: rules_evs(carol, room, "mute"), "mute event on node0")
    await err(carol, "muted", "send", room=room, text="hm")
    await close_all([alice, bob, carol])


async def test_two_nodes_announce_and_kick(start_server, redis):
    n0, n1 = await two_nodes(start_server, redis)
    alice, bob = await account(n0), await account(n1)
    g = await guest_(n1)
    room = uniq("news")
    await ok(alice, "create", room=room, kind="announce")
    await alice.join(room)
    await bob.join(room)
    await err(g, "auth_required", "join", room=room)
    await err(bob, "forbidden", "send", room=room, text="x")
    s = await alice.send(room, "news")
    await bob.wait_msg(room, s["seq"])
    await ok(alice, "kick", room=room, user=bob.uid)
    k = await wait_ev(bob, lambda e: e.get("ev") == "kicked", "kicked")
    assert k["ban"] is False, k
    await bob.join(room)  # a kick is not a ban
    await close_all([alice, bob, g])


async def test_two_nodes_create_race_has_one_owner(start_server, redis):
    n0, n1 = await two_nodes(start_server, redis)
    a, b = await account(n0), await account(n1)
    room = uniq("race")
    ra, rb = await asyncio.gather(a.send_cmd("create", room=room, timeout=T(20)),
                                  b.send_cmd("create", room=room, timeout=T(20)))
    codes = sorted(r.get("error", {}).get("code", "ok") for r in (ra, rb))
    assert codes == ["ok", "room_exists"], (ra, rb)
    info = await ok(a, "room", room=room)
    assert info["creator"] in (a.uid, b.uid), info
    # Concurrent changes from both nodes all land: each is written on the version it read.
    owner = a if info["creator"] == a.uid else b
    other = b if owner is a else a
    await ok(owner, "role", room=room, user=other.uid, role="owner")
    users = [f"u{i}" for i in range(6)]
    rs = await asyncio.gather(*[(a, b)[i % 2].send_cmd("mute", room=room, user=u, seconds=60,
                                                       timeout=T(20))
                                for i, u in enumerate(users)])
    assert all("error" not in r for r in rs), rs
    info = await ok(a, "room", room=room)
    assert all(info["users"][u]["mute"] > 0 for u in users), info
    await close_all([a, b])


async def test_two_nodes_damaged_rules_fail_closed(start_server, redis):
    n0, n1 = await two_nodes(start_server, redis)
    alice, bob = await account(n0), await account(n1)
    room = uniq("priv")
    await ok(alice, "create", room=room, kind="private")
    redis.call("HSET", f"confab:rules:{room}", "j", "{not json")
    # What Redis holds is not rules: nobody is let in as if the room were open.
    await err(bob, "unavailable", "join", room=room)
    # A forged rules message on the room's channel is ignored; chat goes on.
    other = uniq("open")
    await alice.join(other)
    await bob.join(other)
    for bad in ['{"q":1}', '{"q":1,"r":"%s","c":{"op":"ban"}}' % other,
                '{"q":1,"r":"%s","j":{"v":9},"c":{"op":"ban","role":0,"kind":0,"until":1}}'
                % other]:
        redis.call("PUBLISH", f"confab:room:{other}", bad)
    s = await alice.send(other, "still fine")
    await bob.wait_msg(other, s["seq"])
    assert "malformed rules message" in n1.log_text() or \
        "without valid rules" in n1.log_text(), n1.log_text()[-800:]
    await assert_bystander_unaffected(n1)
    await close_all([alice, bob])


async def test_muted_and_audience_are_not_shown_typing(server):
    alice, bob = await account(server), await account(server)
    room = uniq("news")
    await ok(alice, "create", room=room, kind="announce")
    await alice.join(room)
    await bob.join(room)
    await err(bob, "forbidden", "typing", room=room)
    await ok(alice, "typing", room=room)
    await wait_ev(bob, lambda e: e.get("ev") == "typing", "alice typing")
    room2 = uniq("open")
    await ok(alice, "create", room=room2)
    await alice.join(room2)
    await bob.join(room2)
    await ok(alice, "mute", room=room2, user=bob.uid, seconds=60)
    await err(bob, "muted", "typing", room=room2)
    await ok(bob, "typing", room=room2, typing=False)  # stopping is always allowed
    await close_all([alice, bob])


# ---- the admin API -----------------------------------------------------------------------------

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def admin(server, room, body=None, auth=AUTH):
    path = f"/api/v1/rooms/{quote_room(room)}/rules"
    if body is None:
        return server.get(path, headers=auth)
    return server.post(path, json=body, headers=auth)


async def test_admin_api_reads_and_changes_rules(server):
    alice, bob = await account(server), await account(server)
    room = uniq("adm")
    # The operator creates a room for alice, who owns it from then on.
    r = await asyncio.to_thread(admin, server, room,
                                {"op": "create", "user": alice.uid, "kind": "private",
                                 "topic": "made by the operator"})
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["users"][alice.uid]["role"] == "owner", r.json()
    info = await ok(alice, "room", room=room)
    assert info["role"] == "owner" and info["kind"] == "private", info
    await ok(alice, "role", room=room, user=bob.uid, role="member")
    await alice.join(room)
    await bob.join(room)
    # The operator bans bob: he is removed at once, and the rules say until when.
    r = await asyncio.to_thread(admin, server, room, {"op": "ban", "user": bob.uid,
                                                      "seconds": 600})
    assert r.status_code == 200, r.text
    k = await wait_ev(bob, lambda e: e.get("ev") == "kicked", "kicked by the operator")
    assert k["by"] is None and k["ban"] is True, k
    ev = await wait_ev(alice, lambda e: rules_evs(alice, room, "ban"), "ban event")
    assert rules_evs(alice, room, "ban")[0]["by"] is None, ev
    r = await asyncio.to_thread(admin, server, room)
    assert r.status_code == 200 and r.json()["rules"]["users"][bob.uid]["ban"] > 0, r.text
    # The operator may leave a room without an owner, unlike its owners.
    r = await asyncio.to_thread(admin, server, room, {"op": "role", "user": alice.uid,
                                                      "role": "none"})
    assert r.status_code == 200, r.text
    # Refusals, each a defined error.
    cases = [({"op": "create"}, 409, "room_exists"),
             ({"op": "topic", "topic": "x"}, 200, None),
             ({"op": "nope"}, 400, "bad_request"),
             ({"op": "ban", "user": "a:b:c"}, 400, "user_name_invalid"),
             ({"op": "kind", "kind": "secret"}, 400, "bad_request"),
             ({"op": "topic"}, 400, "bad_request")]
    for body, status, code in cases:
        r = await asyncio.to_thread(admin, server, room, body)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["error"]["code"] == code, (body, r.text)
    r = await asyncio.to_thread(admin, server, uniq("none"), {"op": "kick", "user": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_rules", r.text
    assert (await asyncio.to_thread(admin, server, uniq("none"))).json()["rules"] is None
    # Without the token: nothing.
    for body in (None, {"op": "kick", "user": alice.uid}):
        r = await asyncio.to_thread(admin, server, room, body, {})
        assert r.status_code == 401, r.text
    r = await asyncio.to_thread(server.get, f"/api/v1/rooms/{room}/rules",
                                headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401, r.text
    await close_all([alice, bob])
