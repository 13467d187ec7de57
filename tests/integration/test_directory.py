# SPDX-License-Identifier: MIT
"""The room directory (docs/protocol.md "rooms"): created rooms that are open or announce, with
topic and members, by prefix, in pages; the session's rooms with unread counts; the same through
GET /api/v1/rooms; on two nodes."""
import asyncio

from confabtest import Client, assert_bystander_unaffected, close_all, uniq
from test_rules import account, err, ok


async def make_rooms(owner, base):
    names = {k: f"{base}-{k}" for k in ("a1", "a2", "b1", "p")}
    await ok(owner, "create", room=names["a1"], topic="first")
    await ok(owner, "create", room=names["a2"], kind="announce", topic="news")
    await ok(owner, "create", room=names["b1"])
    await ok(owner, "create", room=names["p"], kind="private", topic="secret")
    return names


async def test_directory_pages_by_prefix_and_unread(server):
    alice = await account(server)
    base = uniq("dir")
    names = await make_rooms(alice, base)
    bob = await Client.connect(server, uniq("bob"))
    await bob.join(names["a1"])
    r = await ok(alice, "rooms", prefix=f"{base}-a")
    assert r["directory"] == [
        {"room": names["a1"], "topic": "first", "kind": "open", "members": 1},
        {"room": names["a2"], "topic": "news", "kind": "announce", "members": 0}], r
    assert r["next"] is None, r
    # Private rooms are never listed; pages follow `next`.
    r = await ok(alice, "rooms", prefix=base, limit=1)
    assert [d["room"] for d in r["directory"]] == [names["a1"]] and r["next"] == names["a1"], r
    r = await ok(alice, "rooms", prefix=base, limit=1, after=r["next"])
    assert [d["room"] for d in r["directory"]] == [names["a2"]], r
    r = await ok(alice, "rooms", prefix=base, limit=1, after=r["next"])
    assert [d["room"] for d in r["directory"]] == [names["b1"]] and r["next"] is None, r
    # The session's rooms, with unread counts for an account.
    await alice.join(names["a1"])
    s = await bob.send(names["a1"], "one")
    s = await bob.send(names["a1"], "two")
    await alice.wait_msg(names["a1"], s["seq"])
    await ok(alice, "read", room=names["a1"], seq=s["seq"] - 1)
    r = await ok(alice, "rooms", prefix="zzz-none")
    assert r["directory"] == [] and r["mine"] == [
        {"room": names["a1"], "seq": s["seq"], "members": 2, "read": s["seq"] - 1,
         "unread": 1}], r
    r = await ok(bob, "rooms", prefix="zzz-none")
    assert r["mine"] == [{"room": names["a1"], "seq": s["seq"], "members": 2}], r
    await err(bob, "bad_request", "rooms", limit=0)
    await err(bob, "bad_request", "rooms", limit=1000)
    await err(bob, "bad_request", "rooms", prefix="x" * 65)
    await close_all([alice, bob])


async def test_http_rooms_gains_the_directory(server):
    alice = await account(server)
    base = uniq("hdir")
    names = await make_rooms(alice, base)
    r = await asyncio.to_thread(server.get, f"/api/v1/rooms?prefix={base}-&limit=2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["room"] for d in body["directory"]] == [names["a1"], names["a2"]], body
    assert body["next"] == names["a2"] and isinstance(body["rooms"], list), body
    r = await asyncio.to_thread(server.get, f"/api/v1/rooms?prefix={base}-&after={names['a2']}")
    assert [d["room"] for d in r.json()["directory"]] == [names["b1"]], r.text
    for q in ("limit=0", "limit=x", "limit=101", "prefix=" + "y" * 80):
        r = await asyncio.to_thread(server.get, f"/api/v1/rooms?{q}")
        assert r.status_code == 400, (q, r.text)
    await assert_bystander_unaffected(server)
    await alice.close()


async def test_two_nodes_directory(start_server, redis):
    from test_rules import two_nodes
    n0, n1 = await two_nodes(start_server, redis)
    alice = await account(n0)
    base = uniq("cdir")
    names = await make_rooms(alice, base)
    await alice.join(names["a1"])
    name = uniq("bob")
    bob = await Client.connect(n1, name)
    bob.uid = f"guest:{name}"
    await bob.join(names["a1"])
    # Members count the users on every node (Redis's presence of the room): alice hears of
    # bob's join once bob's node has written it there.
    await alice.wait_event(lambda e: e.get("ev") == "join" and e.get("room") == names["a1"]
                           and e["user"]["id"] == bob.uid, what="bob's join on node0")
    r = await ok(bob, "rooms", prefix=f"{base}-")
    assert [d["room"] for d in r["directory"]] == [names["a1"], names["a2"], names["b1"]], r
    assert r["directory"][0]["members"] == 2, r
    r = await ok(bob, "rooms", prefix=f"{base}-", limit=2)
    assert r["next"] == names["a2"], r
    await close_all([alice, bob])
