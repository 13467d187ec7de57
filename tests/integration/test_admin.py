# SPDX-License-Identifier: MIT
"""What the admin page (www/admin/) stands on: a room's members and this node's users, closing a
room (the operator's and its owner's), the operator's notice to every session, and /admin
served as a directory. Standalone and on two nodes through Redis; every refusal a defined
answer, a bystander unaffected."""
import asyncio

import pytest
import requests

from confabtest import (ADMIN_TOKEN, T, Client, assert_bystander_unaffected, close_all,
                        quote_room, uniq)
from test_dialect_000 import D0, SHARED_CONF as D0_CONF
from test_rules import account, err, ok, two_nodes, wait_ev

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def get(server, path, auth=AUTH):
    return server.get(path, headers=auth)


def post(server, path, body, auth=AUTH):
    return server.post(path, json=body, headers=auth)


def close_room(server, room, auth=AUTH):
    return post(server, f"/api/v1/rooms/{quote_room(room)}/rules", {"op": "close"}, auth)


def kicked(c, room):
    return lambda e: e.get("ev") == "kicked" and e.get("room") == room


def notice(c, text):
    return lambda e: e.get("ev") == "notice" and e.get("text") == text


async def test_members_and_users_of_the_node(server):
    room = uniq("m")
    a, b = await Client.connect(server, uniq("a")), await Client.connect(server, uniq("b"))
    await a.join(room)
    await b.join(room)
    r = await asyncio.to_thread(get, server, f"/api/v1/rooms/{quote_room(room)}/members")
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["total"] == 2 and j["more"] is False and j["followed"] is True, j
    assert sorted(m["name"] for m in j["members"]) == sorted([a.name, b.name]), j
    assert all(m["here"] and m["id"].startswith("guest:") for m in j["members"]), j
    # Bounded: a page of limit, and whether more follow.
    r = await asyncio.to_thread(get, server,
                                f"/api/v1/rooms/{quote_room(room)}/members?limit=1")
    assert len(r.json()["members"]) == 1 and r.json()["more"] is True, r.text
    r = await asyncio.to_thread(get, server, f"/api/v1/rooms/{uniq('none')}/members")
    assert r.json()["members"] == [] and r.json()["total"] == 0, r.text
    r = await asyncio.to_thread(get, server, "/api/v1/users")
    assert r.status_code == 200, r.text
    j = r.json()
    names = {u["name"]: u for u in j["users"]}
    assert a.name in names and names[a.name]["dialect"] == "confab.v1", j
    assert names[a.name]["sessions"] == 1 and j["connections"] >= 2, j
    assert j["total"] >= 2, j
    await close_all([a, b])


async def test_admin_reads_refused_without_the_token(server):
    paths = [f"/api/v1/rooms/{uniq('r')}/members", "/api/v1/users"]
    for p in paths:
        for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            r = await asyncio.to_thread(get, server, p, auth)
            assert r.status_code == 401, (p, auth, r.text)
            assert r.json()["error"]["code"] == "unauthorized", r.text
        for q in ("?limit=0", "?limit=1001", "?limit=x"):
            r = await asyncio.to_thread(get, server, p + q)
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text
        r = await asyncio.to_thread(post, server, p, {})
        assert r.status_code in (404, 405), r.text
    await assert_bystander_unaffected(server)


@pytest.mark.conf({("rooms", "max_created_per_user"): 1})
async def test_close_a_room(server):
    alice, bob = await account(server), await account(server)
    guest = await Client.connect(server, uniq("g"))
    room = uniq("cl")
    await ok(alice, "create", room=room, topic="to be closed")
    for c in (alice, bob, guest):
        await c.join(room)
    s = await guest.send(room, "soon gone")
    await alice.wait_msg(room, s["seq"])
    # Only its owner (or the operator) closes it.
    await err(bob, "forbidden", "close", room=room)
    # The quota counts it: alice may create no other.
    await err(alice, "room_limit", "create", room=uniq("other"))
    r = await asyncio.to_thread(close_room, server, room)
    assert r.status_code == 200 and r.json()["rules"] is None, r.text
    for c in (alice, bob, guest):
        k = await wait_ev(c, kicked(c, room), "kicked by the close")
        assert k["reason"] == "closed" and k["by"] is None, k
    ev = await wait_ev(bob, lambda e: e.get("ev") == "rules" and e.get("op") == "close",
                       "the close rules event")
    assert ev["room"] == room, ev
    await err(guest, "not_joined", "send", room=room, text="x")
    # Gone: its rules, its history, its directory entry; the name and alice's quota are free.
    r = await asyncio.to_thread(get, server, f"/api/v1/rooms/{quote_room(room)}/rules")
    assert r.json()["rules"] is None, r.text
    r = await asyncio.to_thread(server.get, f"/api/v1/rooms/{quote_room(room)}/history")
    assert r.status_code == 404, r.text
    d = await asyncio.to_thread(server.get, f"/api/v1/rooms?prefix={room}")
    assert d.json()["directory"] == [], d.text
    await ok(alice, "create", room=room)
    # Its owner closes it too, with the native command.
    await alice.join(room)
    await ok(alice, "close", room=room)
    await wait_ev(alice, lambda e: e.get("ev") == "kicked" and e.get("reason") == "closed"
                  and e.get("by") == alice.uid, "kicked by the owner's close")
    await ok(alice, "create", room=room)
    # The operator empties a room without rules too; a bad body is refused.
    plain = uniq("plain")
    await guest.join(plain)
    r = await asyncio.to_thread(close_room, server, plain)
    assert r.status_code == 200, r.text
    await wait_ev(guest, kicked(guest, plain), "kicked from a room without rules")
    r = await asyncio.to_thread(close_room, server, plain, {})
    assert r.status_code == 401, r.text
    await close_all([alice, bob, guest])
    await assert_bystander_unaffected(server)


async def test_close_closes_seed_clients(start_server):
    server = start_server(D0_CONF)
    alice = await account(server)
    room = uniq("seed")[:20]
    await ok(alice, "create", room=room)
    await alice.join(room)
    v = await D0.connect(server, "visitor", room)
    r = await asyncio.to_thread(close_room, server, room)
    assert r.status_code == 200, r.text
    # A seed's protocol cannot say it: its connection is closed, as for a kick.
    assert await v.closed_code() == 1008
    await wait_ev(alice, kicked(alice, room), "alice kicked by the close")
    await close_all([alice])


async def test_notice_to_every_session(server):
    a = await Client.connect(server, uniq("a"))
    b = await Client.connect(server, uniq("b"))
    await a.join(uniq("n"))
    r = await asyncio.to_thread(post, server, "/api/v1/notice", {"text": "maintenance at 5"})
    assert r.status_code == 200 and r.json()["sent"] is True, r.text
    for c in (a, b):
        ev = await wait_ev(c, notice(c, "maintenance at 5"), "the notice")
        assert ev["ts"] > 0 and set(ev) == {"ev", "text", "ts"}, ev
    # Refusals: each a defined answer, and nothing sent.
    cases = [({}, None, 401, "unauthorized"),
             ({"Authorization": "Bearer nope"}, {"text": "x"}, 401, "unauthorized"),
             (AUTH, {}, 400, "bad_request"),
             (AUTH, {"text": 5}, 400, "bad_request"),
             (AUTH, [], 400, "bad_request"),
             (AUTH, {"text": ""}, 400, "text_too_long"),
             (AUTH, {"text": "x" * 5000}, 400, "text_too_long"),
             (AUTH, {"text": "a\u0000b"}, 400, "bad_request")]
    for auth, body, status, code in cases:
        r = await asyncio.to_thread(post, server, "/api/v1/notice", body, auth)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.text)
    r = await asyncio.to_thread(server.post, "/api/v1/notice", data=b"{not json",
                                headers=AUTH)
    assert r.status_code == 400, r.text
    r = await asyncio.to_thread(server.get, "/api/v1/notice", headers=AUTH)
    assert r.status_code == 405, r.text
    r = await asyncio.to_thread(post, server, "/api/v1/notice", {"text": "second"})
    await wait_ev(a, notice(a, "second"), "the second notice")
    assert [e for e in a.events if e.get("ev") == "notice"] == \
        [e for e in a.events if e.get("ev") == "notice" and e["text"] in
         ("maintenance at 5", "second")]
    await close_all([a, b])
    await assert_bystander_unaffected(server)


async def test_admin_page_is_served(server):
    r = await asyncio.to_thread(requests.get, server.url("/admin"), allow_redirects=False,
                                timeout=T(5))
    assert r.status_code == 301 and r.headers["Location"] == "/admin/", r.text
    r = await asyncio.to_thread(requests.get, server.url("/admin/"), timeout=T(5))
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"], r.text
    assert "Content-Security-Policy" in r.text, r.text
    for f in ("admin.js", "admin.css", "index.html"):
        r = await asyncio.to_thread(requests.get, server.url("/admin/" + f), timeout=T(5))
        assert r.status_code == 200, (f, r.text)
    for bad in ("/admin/nope/", "/admin/.git/", "/nope", "/www"):
        r = await asyncio.to_thread(requests.get, server.url(bad), allow_redirects=False,
                                    timeout=T(5))
        assert r.status_code == 404, (bad, r.status_code, r.text)


async def test_two_nodes_close_notice_and_members(start_server, redis):
    n0, n1 = await two_nodes(start_server, redis)
    alice = await account(n0)
    bob = await Client.connect(n1, uniq("bob"))
    room = uniq("cl2")
    await ok(alice, "create", room=room)
    await alice.join(room)
    await bob.join(room)
    s = await bob.send(room, "across")
    await alice.wait_msg(room, s["seq"])
    # Node 1 follows the room: it lists both nodes' users.
    async def both():
        r = await asyncio.to_thread(get, n1, f"/api/v1/rooms/{quote_room(room)}/members")
        return r.json()["total"] == 2
    from confabtest import poll_until
    await poll_until(both, T(10), what="both users in node 1's members")
    # A notice sent on node 0 reaches node 1's sessions.
    r = await asyncio.to_thread(post, n0, "/api/v1/notice", {"text": "across nodes"})
    assert r.status_code == 200, r.text
    await wait_ev(bob, notice(bob, "across nodes"), "the notice on node 1")
    await wait_ev(alice, notice(alice, "across nodes"), "the notice on node 0")
    # What arrives on the notice channel is hostile: forged or malformed ones are dropped.
    for bad in ["not json", "{}", '{"x":"no time"}', '{"x":"","t":1}', '{"x":5,"t":1}',
                '{"x":"neg","t":-1}', '{"x":"%s","t":1}' % ("x" * 5000), "[1,2]",
                '{"x":"dup","x":"dup","t":1}']:
        redis.call("PUBLISH", "confab:notice", bad)
    redis.call("PUBLISH", "confab:notice", '{"x":"from redis","t":7}')
    ev = await wait_ev(bob, notice(bob, "from redis"), "the well-formed one")
    assert ev["ts"] == 7, ev
    got = [e["text"] for e in bob.events if e.get("ev") == "notice"]
    assert got == ["across nodes", "from redis"], got
    # Closed on node 1: removed on both, the rules and history gone, the name new again.
    r = await asyncio.to_thread(close_room, n1, room)
    assert r.status_code == 200, r.text
    for c in (alice, bob):
        k = await wait_ev(c, kicked(c, room), "kicked by the close")
        assert k["reason"] == "closed", k
    r = await asyncio.to_thread(get, n0, f"/api/v1/rooms/{quote_room(room)}/rules")
    assert r.json()["rules"] is None, r.text
    r = await asyncio.to_thread(n1.get, f"/api/v1/rooms/{quote_room(room)}/history")
    assert r.status_code == 404 or r.json()["messages"] == [], r.text
    await ok(alice, "create", room=room)
    # A room without rules closes too, while other rooms have rules.
    plain = uniq("plain2")
    await bob.join(plain)
    r = await asyncio.to_thread(close_room, n0, plain)
    assert r.status_code == 200, r.text
    await wait_ev(bob, kicked(bob, plain), "kicked from the room without rules")
    await close_all([alice, bob])
    await assert_bystander_unaffected(n1)


async def test_sharded_notice_and_close(start_server, redis_factory):
    from test_shards import name_on, shard_id, start_sharded
    r0, r1 = redis_factory(), redis_factory()
    a, b = await start_sharded(start_server, r0, r1)
    on_a, on_b = await Client.connect(a, uniq("na")), await Client.connect(b, uniq("nb"))
    # The notice is the cluster's: carried by shard 0, heard on every node.
    r = await asyncio.to_thread(post, b, "/api/v1/notice", {"text": "sharded"})
    assert r.status_code == 200, r.text
    for c in (on_a, on_b):
        await wait_ev(c, notice(c, "sharded"), "the notice")
    # A room on shard 1 closes on every node, its keys gone from its shard.
    room = name_on([shard_id(r0), shard_id(r1)], 1, "cls")
    for c in (on_a, on_b):
        await c.join(room)
    s = await on_a.send(room, "on shard 1")
    await on_b.wait_msg(room, s["seq"])
    assert r1.call("EXISTS", f"confab:meta:{room}") == 1
    r = await asyncio.to_thread(close_room, a, room)
    assert r.status_code == 200, r.text
    for c in (on_a, on_b):
        await wait_ev(c, kicked(c, room), "kicked by the close")
    assert r1.call("EXISTS", f"confab:meta:{room}") == 0
    assert r1.call("EXISTS", f"confab:log:{room}") == 0
    await close_all([on_a, on_b])
