# SPDX-License-Identifier: MIT
"""Seed 002 (chatty) in cluster mode (docs/dialects.md "Seed 002", "In cluster mode"): room ids
created by POST /chat on one node are kept in Redis, so a participant can join through any
node; unknown ids are closed with 4404 right after the upgrade."""
import asyncio
import threading
import time
import urllib.parse

import pytest

from confabtest import T, Client, RawWS, RedisSleep, close_all, poll_until, uniq
from test_cluster import node_conf, start_nodes, wait_healthy
from test_dialect_002 import KSUID, D2, create, join_path, joined, left

REDIS_DOWN = b"Service Unavailable: Redis is unreachable, the room was not created\n"


def created_key(prefix="confab:"):
    return prefix + "created"


def expire_now(redis, room):
    """Makes room's id expired, as if it had had no member for rooms.history_ttl."""
    assert redis.call("ZADD", created_key(), "XX", "CH", "1", room) == 1


async def closed_after_upgrade(node, room, name="x"):
    """Joins room through node with a raw client: (frames before the close, close code)."""
    loop = asyncio.get_running_loop()

    def run():
        r = RawWS(node.port)
        try:
            resp = r.handshake(path=join_path(name, room), subprotocol=None)
            assert resp.status == 101, (resp.status, resp.body)
            objs, how = r.read_until_close(T(10))
            return objs, how
        finally:
            r.close()
    return await loop.run_in_executor(None, run)


async def test_create_on_one_node_join_on_the_other(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    loop = asyncio.get_running_loop()
    # The 201 comes once Redis has the id: a join through the other node right after it is
    # admitted, every time.
    for i in range(10):
        room = create(a, f"race{i}")["id"]
        c = await D2.connect(b, f"p{i}", room)
        await c.close()
    room = create(a, "Lobby")["id"]
    assert redis.call("ZSCORE", created_key(), room) is not None
    assert 0 < redis.call("TTL", created_key()) <= 3600
    bob = await D2.connect(b, "Bob", room)
    alice = await D2.connect(a, "Alice", room)
    await bob.wait(lambda f: f == joined("Alice"), "Alice joined (from node a)")
    await alice.ws.send("from a")
    await bob.ws.send("from b")
    for c in (alice, bob):
        await c.wait_msg("from a", "Alice")
        await c.wait_msg("from b", "Bob")
    # The id is the core's room name on every node: a confab.v1 client on node b addresses it.
    nat = await Client.connect(b, "natalie")
    await nat.join(room)
    await alice.wait(lambda f: f == joined("natalie"), "natalie joined (from node b)")
    await nat.send(room, "from v1")
    await alice.wait_msg("from v1", "natalie")
    await alice.ws.send("to v1")
    m = await nat.wait_event(lambda e: e.get("ev") == "msg" and e["text"] == "to v1")
    assert m["room"] == room and m["from"]["name"] == "Alice"
    await bob.close()
    await alice.wait(lambda f: f == left("Bob"), "Bob left (from node b)")
    # Created on b, joined on a too.
    other = await loop.run_in_executor(None, create, b)
    await (await D2.connect(a, "Carol", other["id"])).close()
    await close_all([alice, nat])


async def test_unknown_and_expired_ids(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room = create(a)["id"]
    # Well-formed but never created: admitted (the gate cannot wait for Redis), then closed
    # with 4404 before any event.
    unknown = "0" * 27 if room != "0" * 27 else "1" * 27
    objs, how = await closed_after_upgrade(b, unknown)
    assert (objs, how) == ([], ("close", 4404))
    # Malformed or missing ids are still refused before the upgrade, on every node.
    for node in (a, b):
        for path in (join_path("j", "nope"), "/chat/join?name=j"):
            r = RawWS(node.port)
            try:
                resp = r.handshake(path=path, subprotocol=None)
            finally:
                r.close()
            assert (resp.status, resp.body) == (404, b"Not Found\n"), path
    # The same origin rule comes first.
    r = RawWS(b.port)
    try:
        resp = r.handshake(path=join_path("j", unknown), subprotocol=None,
                           origin="http://evil.example")
    finally:
        r.close()
    assert (resp.status, resp.body) == (403, b"Forbidden\n")
    # An id that expired (no member for rooms.history_ttl) is unknown again.
    expire_now(redis, room)
    objs, how = await closed_after_upgrade(b, room)
    assert (objs, how) == ([], ("close", 4404))
    objs, how = await closed_after_upgrade(a, room)
    assert (objs, how) == ([], ("close", 4404))
    # Nothing was left behind on the nodes.
    for node in (a, b):
        assert node.get("/healthz").json()["connections"] == 0


async def test_ids_survive_lost_links_and_a_redis_restart(start_server, redis_factory):
    r = redis_factory(appendonly=True)
    a, b = await start_nodes(start_server, r, 2)
    loop = asyncio.get_running_loop()
    room = create(a)["id"]
    before = b.metric("confab_redis_reconnects_total")
    # Every node's links are cut (the subscriber and the command link).
    r.call("CLIENT", "KILL", "TYPE", "pubsub")
    r.call("CLIENT", "KILL", "TYPE", "normal")
    await poll_until(lambda: b.metric("confab_redis_reconnects_total") > before, T(15),
                     what="node b reconnecting")
    await wait_healthy(b)
    bob = await D2.connect(b, "Bob", room)
    alice = await D2.connect(a, "Alice", room)
    await bob.wait(lambda f: f == joined("Alice"), "Alice joined")
    await close_all([alice, bob])
    # Redis restarts from its append-only file: the ids are still there.
    r.kill9()
    await wait_healthy(b, ok=False)
    await loop.run_in_executor(None, r.restart)
    await wait_healthy(a)
    await wait_healthy(b)
    bob = await D2.connect(b, "Bob", room)
    alice = await D2.connect(a, "Alice", room)
    await bob.wait(lambda f: f == joined("Alice"), "Alice joined after the restart")
    await alice.ws.send("still here")
    await bob.wait_msg("still here", "Alice")
    await close_all([alice, bob])


async def test_redis_down(start_server, redis_factory):
    r = redis_factory()
    a, b = await start_nodes(start_server, r, 2)
    loop = asyncio.get_running_loop()
    room = create(a)["id"]
    r.kill9()
    await wait_healthy(a, ok=False)
    await wait_healthy(b, ok=False)
    for node in (a, b):
        resp = await loop.run_in_executor(None, lambda: node.post("/chat?name=x"))
        assert resp.status_code == 503, (resp.status_code, resp.text)
        assert resp.content == REDIS_DOWN
        assert resp.headers["content-type"] == "text/plain; charset=utf-8"
        # A missing name is still 400: Redis is not asked.
        assert (await loop.run_in_executor(None, lambda: node.post("/chat"))).status_code == 400
    # A join cannot be checked: admitted, then "try again later".
    objs, how = await closed_after_upgrade(b, room)
    assert (objs, how) == ([], ("close", 1013))
    await loop.run_in_executor(None, r.restart)
    await wait_healthy(a)
    await wait_healthy(b)
    fresh = (await loop.run_in_executor(None, create, b))["id"]
    await (await D2.connect(a, "back", fresh)).close()


async def test_clients_that_leave_while_redis_answers(start_server, redis):
    """A POST /chat or a join whose connection goes away before Redis answers: the late answer
    must not touch the closed connection (valgrind runs check it). lws notices a waiting HTTP
    client only when it writes or when the connection times out (server.handshake_timeout),
    so that is what closes the POST here."""
    a, b = await start_nodes(start_server, redis, 2, {("server", "handshake_timeout"): 1,
                                                      ("redis", "command_timeout"): 10000,
                                                      ("redis", "heartbeat_timeout"): 8000})
    room = create(a)["id"]
    loop = asyncio.get_running_loop()
    slept = threading.Event()
    sleep = RedisSleep(redis.port, 3)

    def debug_sleep():
        try:
            return sleep.wait()
        finally:
            slept.set()

    def closed_by_server(raw):
        raw.settimeout(T(10))
        while raw.sock.recv(4096):
            pass

    await loop.run_in_executor(None, sleep.start)  # from here Redis answers nothing for 3 s
    sleeper = loop.run_in_executor(None, debug_sleep)
    name = uniq("gone")
    post = RawWS(a.port)
    post.sock.sendall((f"POST /chat?{urllib.parse.urlencode({'name': name})} HTTP/1.1\r\n"
                       f"Host: 127.0.0.1:{a.port}\r\nContent-Length: 0\r\n\r\n").encode())
    join = RawWS(b.port)
    resp = join.handshake(path=join_path("gone", room), subprotocol=None)
    assert resp.status == 101
    join.close()
    await loop.run_in_executor(None, closed_by_server, post)
    post.close()
    assert not slept.is_set(), "Redis answered before the connections were gone"
    assert await sleeper == "OK"
    # Both nodes go on; the room was created all the same (its client just did not hear it).
    for node in (a, b):
        await wait_healthy(node)
        assert node.alive()
    await poll_until(lambda: b.get("/healthz").json()["connections"] == 0, T(10),
                     what="the closed join gone")
    await poll_until(lambda: redis.call("ZCARD", created_key()) == 2, T(10),
                     what="the abandoned POST's room in Redis")
    c = await D2.connect(b, "after", room)
    await c.close()


@pytest.mark.deadline(60)
async def test_expiry_refresh_and_room_bound(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2, {("rooms", "history_ttl"): 10,
                                                      ("redis", "node_ttl"): 3,
                                                      ("rooms", "max_rooms"): 3})
    loop = asyncio.get_running_loop()

    def score(room):
        s = redis.call("ZSCORE", created_key(), room)
        return None if s is None else float(s)

    def redis_now():
        return int(redis.call("TIME")[0])

    room = create(a)["id"]
    assert redis_now() + 8 <= score(room) <= redis_now() + 10
    # While the room has a member, its id's expiry moves on (every third of the TTL).
    c = await D2.connect(b, "stays", room)
    first = score(room)
    await poll_until(lambda: score(room) > first, T(12), interval=0.2,
                     what="the id's expiry refreshed while the room has a member")
    # When the last member leaves, the id lives history_ttl from then.
    await c.close()
    await poll_until(lambda: score(room) >= redis_now() + 9, T(5),
                     what="the id refreshed when its last member left")
    # rooms.max_rooms bounds the ids alive in the cluster: the fourth is refused on any node.
    create(a)
    third = create(b)["id"]
    resp = await loop.run_in_executor(None, lambda: b.post("/chat?name=fourth"))
    assert resp.status_code == 503 and resp.content == b"", (resp.status_code, resp.content)
    resp = await loop.run_in_executor(None, lambda: a.post("/chat?name=fourth"))
    assert resp.status_code == 503 and resp.content == b""
    # An expired id frees its place (and is no longer joinable).
    expire_now(redis, third)
    fourth = (await loop.run_in_executor(None, create, a))["id"]
    assert KSUID.match(fourth) and redis.call("ZSCORE", created_key(), third) is None
    objs, how = await closed_after_upgrade(b, third)
    assert (objs, how) == ([], ("close", 4404))
