# SPDX-License-Identifier: MIT
"""Cluster mode: several confabd nodes ordering every room through one real redis-server."""
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from confabtest import (CONFABD, T, Client, RedisSentinel, RedisSleep, Server, redis_call,
                        _RespReader, _resp_encode, assert_consecutive, assert_error, close_all,
                        poll_until, uniq)


def node_conf(redis, name, extra=None):
    conf = {("redis", "url"): redis.url if hasattr(redis, "url") else redis,
            ("server", "node_id"): name,
            # Fast detection and retries keep the failure tests short.
            ("redis", "reconnect_min"): 50, ("redis", "reconnect_max"): 500,
            ("redis", "heartbeat_interval"): 200, ("redis", "heartbeat_timeout"): 1500}
    conf.update(extra or {})
    return conf


def healthy(server):
    try:
        return server.get("/healthz").status_code == 200
    except OSError:
        return False


async def wait_healthy(server, ok=True, timeout=None):
    loop = asyncio.get_running_loop()

    async def check():
        return (await loop.run_in_executor(None, healthy, server)) == ok
    deadline = time.monotonic() + (timeout or T(15))
    while not await check():
        assert time.monotonic() < deadline, (
            f"/healthz did not turn {'200' if ok else '503'}: "
            f"{server.get('/healthz').text}\n{server.log_text()[-2000:]}")
        await asyncio.sleep(0.05)


async def start_nodes(start_server, redis, n, extra=None):
    nodes = [start_server(node_conf(redis, f"node{i}", extra)) for i in range(n)]
    for s in nodes:
        await wait_healthy(s)
    return nodes


async def joined_members(room, nodes):
    """One client per entry of nodes (a node may appear several times), joined to room."""
    members = [await Client.connect(n, f"m{i}") for i, n in enumerate(nodes)]
    for c in members:
        await c.join(room)
    return members


class RetryingSender:
    """Sends k{k} with nonce k{k} until acknowledged, as a client does through an outage:
    'unavailable' is the only error allowed; counts them."""

    def __init__(self, client, room):
        self.client, self.room = client, room
        self.acked, self.unavailable = {}, 0

    async def send(self, k):
        deadline = time.monotonic() + T(60)
        while True:
            reply = await self.client.send_cmd("send", room=self.room, text=f"k{k}",
                                               nonce=f"k{k}")
            if "error" not in reply:
                self.acked[k] = reply["seq"]
                return
            assert reply["error"]["code"] == "unavailable", reply
            self.unavailable += 1
            assert time.monotonic() < deadline, f"k{k} never acknowledged"
            await asyncio.sleep(0.05)


def texts(msgs):
    return [(m["seq"], m["text"]) for m in msgs]


async def test_cross_node_delivery_and_acks(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq()
    alice = await Client.connect(a, "alice")
    bob = await Client.connect(b, "bob")
    ja = await alice.join(room)
    jb = await bob.join(room)
    assert ja["epoch"] == jb["epoch"] and ja["seq"] == jb["seq"] == 0
    r1 = await alice.send(room, "from a")
    r2 = await bob.send(room, "from b")
    assert (r1["seq"], r2["seq"]) == (1, 2)
    for c in (alice, bob):
        msgs = await c.wait_msgs(room, 2)
        assert texts(msgs) == [(1, "from a"), (2, "from b")]
        assert [m["from"]["id"] for m in msgs] == ["guest:alice", "guest:bob"]
    # A message posted over HTTP on one node reaches members on the other.
    loop = asyncio.get_running_loop()
    resp = await loop.run_in_executor(None, lambda: a.post_message(room, "via http", "ops"))
    assert resp.status_code == 200, resp.text
    m = await bob.wait_msg(room, 3)
    assert m["text"] == "via http" and m["from"]["id"] == "ops"
    # The same nonce from another node is the same message.
    d1 = await alice.send(room, "once", nonce="n-1")
    d2 = await alice.send(room, "once", nonce="n-1")
    assert d2["seq"] == d1["seq"] and d2.get("dup") is True
    # A later message is a barrier: a second copy of "once" would have come before it.
    d3 = await alice.send(room, "after")
    await bob.wait_msg(room, d3["seq"])
    assert [m["text"] for m in bob.msgs(room)].count("once") == 1
    metrics = a.metrics()
    assert metrics["confab_redis_up"] == 1.0
    await close_all([alice, bob])


async def test_order_three_nodes_six_publishers(start_server, redis):
    nodes = await start_nodes(start_server, redis, 3)
    room = uniq("order")
    pubs = [await Client.connect(nodes[i % 3], f"pub{i}") for i in range(6)]
    watchers = [await Client.connect(n, f"watch{i}") for i, n in enumerate(nodes)]
    members = pubs + watchers
    for c in members:
        await c.join(room)
    per = 300

    async def publish(c):
        futs = []
        for k in range(per):
            futs.append(await c.start_cmd("send", room=room, text=f"{c.name}:{k}"))
            if len(futs) >= 50:  # keep a window in flight
                for r in await asyncio.gather(*futs):
                    assert "error" not in r, r
                futs = []
        for r in await asyncio.gather(*futs):
            assert "error" not in r, r

    await asyncio.gather(*(publish(c) for c in pubs))
    total = per * len(pubs)
    for c in members:
        await c.wait_msgs(room, total, timeout=T(60))
    reference = texts(members[0].msgs(room))
    assert len(reference) == total
    assert_consecutive(members[0].msgs(room), first=1)
    for c in members[1:]:
        assert texts(c.msgs(room)) == reference, f"{c.name} saw another order"
    # Each publisher's own messages are in the order it sent them.
    for p in pubs:
        mine = [t for _, t in reference if t.startswith(p.name + ":")]
        assert mine == [f"{p.name}:{k}" for k in range(per)]
    await close_all(members)


async def test_resume_on_another_node_replays_from_the_log(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq()
    alice = await Client.connect(a, "alice")
    join = await alice.join(room)
    for i in range(10):
        await alice.send(room, f"m{i}")
    await alice.wait_msgs(room, 10)
    # bob saw up to seq 4 on node a, then reconnects to node b.
    bob = await Client.connect(b, "bob")
    jb = await bob.join(room, since=4, epoch=join["epoch"])
    assert jb["gap"] is False and jb["seq"] == 10 and jb["epoch"] == join["epoch"]
    assert [m["seq"] for m in jb["history"]] == list(range(5, 11))
    assert [m["text"] for m in jb["history"]] == [f"m{i}" for i in range(4, 10)]
    # From the start, while a message is on its way: the join reply has what node b had, the
    # rest follows as events, nothing twice.
    carol = await Client.connect(b, "carol")
    await alice.send(room, "m10")
    jc = await carol.join(room, since=0)
    assert jc["gap"] is False
    got = [m["seq"] for m in jc["history"]]
    if got[-1] < 11:
        got += [m["seq"] for m in await carol.wait_msgs(room, 11 - got[-1])]
    assert got == list(range(1, 12))
    await close_all([alice, bob, carol])


async def test_redis_down_at_start_then_up(start_server, redis_factory):
    port = free_tcp_port()
    node = start_server(node_conf(f"redis://127.0.0.1:{port}", "lonely"))
    await wait_healthy(node, ok=False)
    h = node.get("/healthz").json()
    assert h["status"] == "unavailable" and "redis" in h["reason"], h
    c = await Client.connect(node, hello=False)
    # A named hello asks Redis whether the name is an account's (guests cannot take one).
    assert_error(await c.send_cmd("hello", name="early"), "unavailable")
    assert_error(await c.send_cmd("join", room="r"), "unavailable")
    assert (await c.ok("ping"))["op"] == "pong"  # the session itself is fine
    redis_factory(port=port)
    await wait_healthy(node)
    await c.ok("hello", name="early")
    await c.join("r")
    assert (await c.send("r", "now"))["seq"] == 1
    assert "redis: connected" in node.log_text()
    await c.close()


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_wrong_password_is_reported_not_fatal(start_server, redis_factory):
    r = redis_factory(password="right-horse-battery")
    node = start_server(node_conf(f"redis://:wrong-staple-42@127.0.0.1:{r.port}", "badauth"))
    await wait_healthy(node, ok=False)
    await poll_until(lambda: "WRONGPASS" in node.log_text() or "invalid" in node.log_text(),
                     T(10), what="the refusal in the log")
    assert "wrong-staple-42" not in node.log_text()
    assert "wrong-staple-42" not in node.get("/healthz").text
    assert node.alive()
    # The right password, from a file, works.
    pw = f"{node.dir}/redis.pw"
    with open(pw, "w") as f:
        f.write("right-horse-battery\n")
    good = start_server(node_conf(r.url, "goodauth", {("redis", "password_file"): pw}))
    await wait_healthy(good)
    assert "right-horse-battery" not in good.log_text()


async def test_loop_stays_responsive_while_redis_sleeps(start_server, redis):
    node = (await start_nodes(start_server, redis, 1))[0]
    c = await Client.connect(node, "pinger")
    loop = asyncio.get_running_loop()
    order = []
    sleep = RedisSleep(redis.port, 3)

    def debug_sleep():
        reply = sleep.wait()
        order.append("redis")
        return reply

    await loop.run_in_executor(None, sleep.start)  # from here Redis answers nothing for 3 s
    sleeper = loop.run_in_executor(None, debug_sleep)
    await c.ok("ping")
    order.append("ping")
    resp = await loop.run_in_executor(None, lambda: node.get("/healthz"))
    assert resp.status_code in (200, 503)
    order.append("health")
    assert_error(await c.send_cmd("join", room="r", since="x"), "bad_request")
    order.append("error")
    assert await sleeper == "OK"
    assert order == ["ping", "health", "error", "redis"], order
    await c.close()


async def test_redis_killed_and_restarted_loses_nothing(start_server, redis_factory):
    r = redis_factory(appendonly=True)
    a, b = await start_nodes(start_server, r, 2)
    room = uniq("crash")
    members = await joined_members(room, (a, b, a, b))
    loop = asyncio.get_running_loop()
    sender = RetryingSender(members[0], room)
    send = sender.send

    for k in range(20):
        await send(k)
    r.kill9()
    await wait_healthy(a, ok=False)
    # systemd hears it too.
    await loop.run_in_executor(None, a.wait_notify,
                               re.compile(r"^STATUS=Serving \d+ connections .*; redis: "))
    sending = asyncio.ensure_future(asyncio.gather(*(send(k) for k in range(20, 40))))
    # Restart only once the outage has refused a send: the clients are mid-retry.
    await poll_until(lambda: sender.unavailable > 0, T(15), what="a send refused while down")
    await loop.run_in_executor(None, r.restart)
    await wait_healthy(a)
    await wait_healthy(b)
    await loop.run_in_executor(None, a.wait_notify,
                               re.compile(r"^STATUS=Serving \d+ connections .*; Redis up"))
    await asyncio.wait_for(sending, T(30))
    for k in range(40, 60):
        await send(k)
    assert sender.unavailable > 0, "no send was refused while Redis was down"
    for c in members:
        await c.wait_msgs(room, 60, timeout=T(30))
        assert not c.closed
        msgs = c.msgs(room)
        assert_consecutive(msgs, first=1)
        assert sorted(m["text"] for m in msgs) == sorted(f"k{k}" for k in range(60))
        assert len(msgs) == 60
    assert a.metric("confab_redis_reconnects_total") >= 1
    await close_all(members)


async def test_silent_link_is_detected_and_resynced(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq("stop")
    ca = await Client.connect(a, "ca")
    cb = await Client.connect(b, "cb")
    await ca.join(room)
    await cb.join(room)
    for i in range(5):
        await ca.send(room, f"before{i}")
    redis.signal(signal.SIGSTOP)
    try:
        await wait_healthy(a, ok=False, timeout=T(10))
        await wait_healthy(b, ok=False, timeout=T(10))
        h = a.get("/healthz").json()
        assert "heartbeat" in h["reason"] or "reply" in h["reason"] or "redis" in h["reason"], h
        assert_error(await ca.send_cmd("send", room=room, text="lost?"), "unavailable")
    finally:
        redis.signal(signal.SIGCONT)
    await wait_healthy(a)
    await wait_healthy(b)
    for i in range(5):
        await cb.send(room, f"after{i}")
    for c in (ca, cb):
        msgs = await c.wait_msgs(room, 10)
        assert_consecutive(msgs, first=1)
        assert [m["text"] for m in msgs] == [f"before{i}" for i in range(5)] + \
            [f"after{i}" for i in range(5)]
    await close_all([ca, cb])


async def test_lost_room_keys_start_a_new_epoch_with_a_gap(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq("epoch")
    ca = await Client.connect(a, "ca")
    cb = await Client.connect(b, "cb")
    j = await ca.join(room)
    await cb.join(room)
    for i in range(5):
        await ca.send(room, f"old{i}")
    await cb.wait_msgs(room, 5)
    assert redis.call("DEL", f"confab:meta:{room}", f"confab:log:{room}") == 2
    r = await cb.send(room, "new0")
    assert r["seq"] == 1
    for c in (ca, cb):
        gap = await c.wait_event(lambda e: e.get("ev") == "gap" and e.get("room") == room)
        assert gap["epoch"] != j["epoch"] and gap["seq"] == 0, gap
        m = await c.wait_event(lambda e: e.get("ev") == "msg" and e.get("text") == "new0")
        assert m["seq"] == 1
        # The gap comes before the first message of the new life.
        assert c.events.index(gap) < c.events.index(m)
    # A client resuming with the old epoch is told it has a gap.
    cc = await Client.connect(b, "cc")
    jc = await cc.join(room, since=5, epoch=j["epoch"])
    assert jc["gap"] is True and jc["epoch"] == gap["epoch"] and jc["seq"] == 1
    assert [m["text"] for m in jc["history"]] == ["new0"]
    await close_all([ca, cb, cc])


async def test_presence_is_the_same_on_every_node(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq("pres")
    alice = await Client.connect(a, "alice")
    await alice.join(room)
    bob = await Client.connect(b, "bob")
    jb = await bob.join(room)
    assert sorted(m["id"] for m in jb["members"]) == ["guest:alice", "guest:bob"]
    ev = await alice.wait_event(lambda e: e.get("ev") == "join" and e["user"]["id"] == "guest:bob")
    assert ev["room"] == room
    # A second session of bob on node a: no second join event anywhere.
    bob2 = await Client.connect(a, "bob")
    await bob2.join(room)
    for c in (alice, bob, bob2):
        p = await c.ok("presence", room=room)
        assert sorted(m["id"] for m in p["members"]) == ["guest:alice", "guest:bob"], (c.name, p)
    # carol on bob's node b: what node b publishes after bob's leave reaches alice after it.
    carol = await Client.connect(b, "carol")
    await carol.join(room)
    await alice.wait_event(lambda e: e.get("ev") == "join" and e["user"]["id"] == "guest:carol")
    await bob.ok("leave", room=room)
    r = await carol.send(room, "after bob left")
    await alice.wait_msg(room, r["seq"])
    assert not [e for e in alice.evs("leave", room) if e["user"]["id"] == "guest:bob"], \
        "bob is still in the room through node a"
    await carol.ok("leave", room=room)
    await alice.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == "guest:carol")
    await bob2.send_cmd("leave", room=room)
    ev = await alice.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == "guest:bob")
    p = await alice.ok("presence", room=room)
    assert [m["id"] for m in p["members"]] == ["guest:alice"]
    await close_all([alice, bob, bob2, carol])


async def test_crashed_node_leaves_no_ghosts(start_server, redis):
    ttl = 2
    a, b = await start_nodes(start_server, redis, 2, {("redis", "node_ttl"): ttl})
    room = uniq("ghost")
    alice = await Client.connect(a, "alice")
    await alice.join(room)
    ghost = await Client.connect(b, "ghost")
    await ghost.join(room)
    await alice.wait_event(lambda e: e.get("ev") == "join" and e["user"]["id"] == "guest:ghost")
    presence = f"confab:presence:{room}"
    assert "node1\x1fguest:ghost" in redis.call("HKEYS", presence)
    assert redis.call("SISMEMBER", "confab:nodes", "node1") == 1
    assert redis.call("SMEMBERS", "confab:noderooms:node1") == [room]
    b.crash()
    # Within the TTL and one liveness round (a third of it), with slack for a loaded machine.
    ev = await alice.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == "guest:ghost",
                                timeout=T(ttl * 4 + 5))
    assert ev["room"] == room
    p = await alice.ok("presence", room=room)
    assert [m["id"] for m in p["members"]] == ["guest:alice"]
    # The leave is node a's sweep of a node whose liveness key expired: it left nothing of
    # node b in Redis.
    assert redis.call("EXISTS", "confab:node:node1") == 0
    assert redis.call("HKEYS", presence) == ["node0\x1fguest:alice"]
    assert redis.call("SISMEMBER", "confab:nodes", "node1") == 0
    assert redis.call("EXISTS", "confab:noderooms:node1") == 0
    await poll_until(lambda: "removed 1 node(s) that stopped without leaving" in a.log_text(),
                     T(5), what="node a's sweep in its log")
    # A node that follows the room only now finds no ghost either.
    c = start_server(node_conf(redis, "node2", {("redis", "node_ttl"): ttl}))
    await wait_healthy(c)
    late = await Client.connect(c, "late")
    j = await late.join(room)
    assert sorted(m["id"] for m in j["members"]) == ["guest:alice", "guest:late"]
    await close_all([alice, late])


def lose_tail(redis, room, keep):
    """What a failover with ack = master leaves: the new master never had the entries after
    seq keep, so its log ends there and its counter says keep."""
    log = f"confab:log:{room}"
    kept = redis.call("XRANGE", log, "-", f"{keep}-0")
    assert redis.call("DEL", log) == 1
    for eid, fields in kept:
        redis.call("XADD", log, eid, *fields)
    redis.call("HSET", f"confab:meta:{room}", "seq", str(keep))


def replica_in_sync(replica):
    info = replica.call("INFO", "replication")
    return isinstance(info, str) and "master_link_status:up" in info


# Two failovers, each after the Sentinel has seen its replica (its INFO refresh is 10 s).
@pytest.mark.deadline(90)
async def test_sentinel_failover_keeps_replicated_acks(start_server, redis_factory, request):
    master = redis_factory(appendonly=True)
    replica = redis_factory(appendonly=True,
                            extra=["--replicaof", "127.0.0.1", str(master.port)])
    await poll_until(lambda: replica_in_sync(replica), T(15), what="the replica in sync")
    sentinel = RedisSentinel(master.port)
    request.addfinalizer(sentinel.cleanup)
    sentinel.start()
    url = f"sentinel://127.0.0.1:{sentinel.port}/mymaster"
    a, b = await start_nodes(start_server, url, 2, {("redis", "ack"): "replicated",
                                                     ("redis", "wait_timeout"): 500})
    room = uniq("failover")
    members = await joined_members(room, (a, b, a, b))
    loop = asyncio.get_running_loop()
    sender = RetryingSender(members[0], room)
    send = sender.send

    for k in range(15):
        await send(k)
    await poll_until(lambda: sentinel.knows_replica(replica.port), T(30),
                     what="the Sentinel knowing the replica")
    # A planned failover to the replica, mid-stream.
    sending = asyncio.ensure_future(asyncio.gather(*(send(k) for k in range(15, 30))))
    assert sentinel.call("SENTINEL", "FAILOVER", "mymaster") == "OK"
    await poll_until(lambda: sentinel.master() == ("127.0.0.1", replica.port), T(30),
                     what="the replica promoted")
    await asyncio.wait_for(sending, T(60))
    await poll_until(lambda: replica_in_sync(master), T(30), what="the old master following")
    await poll_until(lambda: sentinel.knows_replica(master.port), T(30),
                     what="the Sentinel knowing the old master as a replica")
    for k in range(30, 40):
        await send(k)
    # Now the new master dies, mid-stream: the old one, a replica again, takes over.
    sending = asyncio.ensure_future(asyncio.gather(*(send(k) for k in range(40, 55))))
    await poll_until(lambda: len(sender.acked) > 41, T(30), what="the stream under way")
    replica.kill9()
    await poll_until(lambda: sentinel.master() == ("127.0.0.1", master.port), T(60),
                     what="the old master promoted again")
    await asyncio.wait_for(sending, T(60))
    for k in range(55, 60):
        await send(k)
    assert len(sender.acked) == 60
    for c in members:
        await c.wait_until(lambda: {f"k{k}" for k in range(60)} <= {m["text"] for m in c.msgs(room)},
                           T(30), what="every acknowledged message")
        texts_seen = [m["text"] for m in c.msgs(room)]
        for k in range(60):
            assert texts_seen.count(f"k{k}") == 1, (c.name, k, texts_seen)
        assert not c.closed
    await close_all(members)


async def test_processes_share_one_port(start_server, redis):
    first = start_server(node_conf(redis, "share0", {("server", "reuse_port"): 1}))
    second = start_server(node_conf(redis, "share1", {("server", "reuse_port"): 1}),
                          port=first.port)
    assert second.port == first.port
    for s in (first, second):
        await wait_healthy(s)
        assert "shared with other processes" in s.log_text()
    room = uniq("shared")
    clients = [await Client.connect(first, f"u{i}") for i in range(24)]
    nodes = {c.hello_reply["node"] for c in clients}
    # The kernel hashes each connection to one of the processes: with 24, both get some.
    assert nodes == {"share0", "share1"}, nodes
    for c in clients:
        await c.join(room)
    await clients[0].send(room, "one port, two processes")
    for c in clients:
        m = await c.wait_msg(room, 1)
        assert m["text"] == "one port, two processes"
    await close_all(clients)
    # One process goes: the port keeps serving through the other.
    second.stop()
    c = await Client.connect(first, "after")
    assert c.hello_reply["node"] == "share0"
    await c.close()


async def test_reuse_port_needs_cluster_mode(start_server):
    s = Server({("server", "reuse_port"): 1})
    s.port = free_tcp_port()
    s.write_config()
    r = subprocess.run([CONFABD, "--config", s.conf_path, "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "server.reuse_port needs redis.url" in r.stderr
    s.cleanup()


async def test_direct_messages_across_nodes(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    alice = await Client.connect(a, "alice")
    bob_b = await Client.connect(b, "bob")
    bob_a = await Client.connect(a, "bob")
    reply = await alice.ok("dm", to="guest:bob", text="on every node")
    assert reply["to"] == "guest:bob"
    for c in (bob_a, bob_b):
        ev = await c.wait_event(lambda e: e.get("ev") == "dm")
        assert ev["text"] == "on every node" and ev["from"]["id"] == "guest:alice"
    # A second DM on the same channel is the barrier: a repeat of the first would come before.
    await alice.ok("dm", to="guest:bob", text="barrier")
    for c in (bob_a, bob_b):
        await c.wait_event(lambda e: e.get("ev") == "dm" and e["text"] == "barrier")
        assert [e["text"] for e in c.evs("dm")] == ["on every node", "barrier"]
    # Only on node b now.
    await bob_a.close()
    carol = await Client.connect(b, "carol")
    await poll_until_async(lambda: alice.send_cmd("dm", to="guest:carol", text="hi"),
                           lambda r: "error" not in r)
    await carol.wait_event(lambda e: e.get("ev") == "dm" and e["text"] == "hi")
    await bob_b.close()
    await carol.close()
    r = await poll_until_async(lambda: alice.send_cmd("dm", to="guest:bob", text="gone?"),
                               lambda r: "error" in r)
    assert_error(r, "offline")
    await alice.close()


async def poll_until_async(call, ok, timeout=None):
    """Repeats the coroutine call() until ok(result); returns that result."""
    deadline = time.monotonic() + (timeout or T(10))
    while True:
        r = await call()
        if ok(r):
            return r
        assert time.monotonic() < deadline, f"last result {r!r}"
        await asyncio.sleep(0.05)


async def test_history_lost_in_a_failover_starts_a_new_epoch(start_server, redis):
    """What a failover with ack = master does to the newest messages, simulated on one Redis:
    seqs 4 and 5 vanish from the log and the counter goes back to 3. Members that saw them must
    not silently drop the next messages, which Redis numbers 4 and 5 again."""
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq("diverge")
    members = [await Client.connect(n, f"m{i}") for i, n in enumerate((a, b))]
    j = [await c.join(room) for c in members][0]
    for i in range(5):
        await members[0].send(room, f"old{i}")
    for c in members:
        await c.wait_msgs(room, 5)
    lose_tail(redis, room, 3)
    # The failover: every client of the old master loses its connection.
    redis.call("CLIENT", "KILL", "TYPE", "pubsub")
    redis.call("CLIENT", "KILL", "TYPE", "normal")
    for n in (a, b):
        await wait_healthy(n)
    for c in members:
        gap = await c.wait_event(lambda e: e.get("ev") == "gap" and e["epoch"] != j["epoch"])
    r = await members[1].send_cmd("send", room=room, text="after")
    while "error" in r:  # the links may still be settling
        await asyncio.sleep(0.05)
        r = await members[1].send_cmd("send", room=room, text="after", nonce="after")
    for c in members:
        m = await c.wait_event(lambda e: e.get("ev") == "msg" and e["text"] == "after")
        assert c.events.index(gap) < c.events.index(m)
    # A client that saw seq 5 of the old life and resumes is told it has a gap.
    late = await Client.connect(b, "late")
    jl = await late.join(room, since=5, epoch=j["epoch"])
    assert jl["gap"] is True and jl["epoch"] != j["epoch"]
    await close_all(members + [late])


async def test_unix_socket_acl_user_and_command_line(start_server, redis_factory):
    r = redis_factory(extra=["--unixsocket", "/tmp/confab-it-redis-%d.sock" % free_tcp_port(),
                             "--unixsocketperm", "700"])
    sock = [a for a in r.argv() if a.endswith(".sock")][0]
    assert r.call("ACL", "SETUSER", "chat", "on", ">chat-pw-1", "~*", "&*", "+@all") == "OK"
    # --redis on the command line replaces redis.url (here: a wrong one in the file).
    node = start_server(node_conf("redis://127.0.0.1:1", "viaunix"),
                        args=["--redis", f"unix://{sock}?db=2"])
    await wait_healthy(node)
    acl = start_server(node_conf(f"redis://chat:chat-pw-1@127.0.0.1:{r.port}/2", "viaacl"))
    await wait_healthy(acl)
    assert "chat-pw-1" not in acl.log_text()
    room = uniq("unix")
    a = await Client.connect(node, "a")
    b = await Client.connect(acl, "b")
    await a.join(room)
    await b.join(room)
    await b.send(room, "through an ACL user")
    m = await a.wait_msg(room, 1)
    assert m["text"] == "through an ACL user"
    # Both used database 2.
    assert redis_call(r.port, "SELECT", "2") == "OK"
    with socket.create_connection(("127.0.0.1", r.port)) as s:
        s.sendall(_resp_encode(["SELECT", "2"]) + _resp_encode(["EXISTS", f"confab:log:{room}"]))
        rd = _RespReader(s)
        assert rd.read() == "OK" and rd.read() == 1
    await close_all([a, b])


async def test_quiet_rooms_keep_their_keys(start_server, redis):
    node = (await start_nodes(start_server, redis, 1, {("rooms", "history_ttl"): 10,
                                                       ("redis", "node_ttl"): 3}))[0]
    room = uniq("quiet")
    c = await Client.connect(node, "c")
    await c.join(room)
    await c.send(room, "then silence")
    lowest = 100

    def refreshed():
        nonlocal lowest
        ttl = redis.call("TTL", f"confab:log:{room}")
        assert ttl > 0, f"the log expired or has no TTL ({ttl})"
        lowest = min(lowest, ttl)
        return ttl > lowest

    # Each key lives 10 s after its last use; the node gives it back every third of that while
    # the room has members, so its TTL goes up again without any message.
    await poll_until(refreshed, T(12), interval=0.2, what="the log's TTL refreshed")
    assert 0 < redis.call("TTL", f"confab:meta:{room}") <= 10
    await c.close()


async def test_history_api_reads_rooms_this_node_does_not_follow(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq("rest")
    c = await Client.connect(a, "writer")
    await c.join(room)
    for i in range(6):
        await c.send(room, f"h{i}")
    loop = asyncio.get_running_loop()
    # Node b has never had a member in the room: it reads the room's log in Redis.
    r = await loop.run_in_executor(None, lambda: b.get(f"/api/v1/rooms/{room}/history"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seq"] == 6 and [m["text"] for m in body["messages"]] == [f"h{i}" for i in range(6)]
    r = await loop.run_in_executor(None, lambda: b.get(f"/api/v1/rooms/{room}/history",
                                                       params={"before": 5, "limit": 2}))
    assert [m["seq"] for m in r.json()["messages"]] == [3, 4]
    r = await loop.run_in_executor(None, lambda: b.get("/api/v1/rooms/never-was/history"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_such_room"
    await c.close()


@pytest.mark.deadline(120)
async def test_redis_dropping_a_slow_subscriber_is_a_link_loss(start_server, redis_factory):
    # A tiny pub/sub output buffer: Redis disconnects a subscriber that falls 64 KB behind.
    r = redis_factory(extra=["--client-output-buffer-limit", "pubsub 64kb 64kb 0"])
    # The room's log holds everything sent, and cb's queue can take the whole catch-up.
    a, b = await start_nodes(start_server, r, 2, {("rooms", "history"): 2000,
                                                  ("session", "queue_frames"): 4096,
                                                  ("session", "queue_bytes"): 16 << 20,
                                                  # ca sends as fast as node a acks.
                                                  ("limits", "rate"): 1000000,
                                                  ("limits", "burst"): 1000000})
    room = uniq("backlog")
    ca = await Client.connect(a, "ca")
    cb = await Client.connect(b, "cb")
    await ca.join(room)
    await cb.join(room)
    pad, n = "x" * 3900, 1500
    b.signal(signal.SIGSTOP)  # node b stops reading Redis
    try:
        # 6 MB for b's subscriber: more than loopback socket buffers hold, far past the limit.
        for i in range(0, n, 50):
            futs = [await ca.start_cmd("send", room=room, text=f"{k} {pad}")
                    for k in range(i, i + 50)]
            for rep in await asyncio.gather(*futs):
                assert "error" not in rep, rep
        # Two subscribers (one per node) until Redis drops b's.
        await poll_until(lambda: r.call("CLIENT", "LIST", "TYPE", "pubsub").count("id=") == 1,
                         T(10), what="Redis dropping node b's subscriber")
    finally:
        b.signal(signal.SIGCONT)
    msgs = await cb.wait_msgs(room, n, timeout=T(30))
    assert_consecutive(msgs, first=1)
    assert [m["text"].split()[0] for m in msgs] == [str(i) for i in range(n)]
    # Whether the node first sees the closed socket or the missing heartbeat, it reconnected.
    assert "reconnecting" in b.log_text()
    await close_all([ca, cb])


async def test_messages_sent_before_a_lost_history_is_noticed_are_kept(start_server, redis):
    """The same loss, but the nodes stay connected and the next messages are sent at once:
    they are numbered 4 and 5 again under the old epoch before any node noticed. Every member
    gets a gap back to seq 3 and then both new messages, once each, in order."""
    a, b = await start_nodes(start_server, redis, 2)
    room = uniq("window")
    members = [await Client.connect(n, f"w{i}") for i, n in enumerate((a, b, a, b))]
    j = [await c.join(room) for c in members][0]
    for i in range(5):
        await members[0].send(room, f"old{i}")
    for c in members:
        await c.wait_msgs(room, 5)
    lose_tail(redis, room, 3)
    r4 = await members[0].send(room, "new4", nonce="n4")
    r5 = await members[1].send(room, "new5", nonce="n5")
    assert (r4["seq"], r5["seq"]) == (4, 5)
    for c in members:
        gap = await c.wait_event(lambda e: e.get("ev") == "gap" and e["epoch"] != j["epoch"])
        assert gap["seq"] == 3, gap
        after = await c.wait_until(
            lambda c=c, gap=gap: [e for e in c.events[c.events.index(gap):]
                                  if e.get("ev") == "msg"] if len(
                [e for e in c.events[c.events.index(gap):] if e.get("ev") == "msg"]) >= 2
            else None, what="both new messages after the gap")
        assert [(m["seq"], m["text"]) for m in after] == [(4, "new4"), (5, "new5")], (c.name,
                                                                                     after)
    # The new epoch goes on normally; its next message is also the barrier for the check that
    # new4 and new5 came once each (a repeat would have come before it).
    r6 = await members[2].send(room, "new6")
    assert r6["seq"] == 6
    for c in members:
        await c.wait_event(lambda e: e.get("ev") == "msg" and e["text"] == "new6")
    for c in members:
        texts_seen = [m["text"] for m in c.msgs(room)]
        assert texts_seen.count("new4") == 1 and texts_seen.count("new5") == 1, texts_seen
    await close_all(members)


async def test_host_name_and_systemd_credential(start_server, redis_factory):
    r = redis_factory(password="cred-pw-77")
    creds = tempfile.mkdtemp(prefix="confab-creds-")
    try:
        with open(os.path.join(creds, "redis-password"), "w") as f:
            f.write("cred-pw-77\n")
        # A host name (resolved off the loop) and the password from $CREDENTIALS_DIRECTORY.
        node = start_server(node_conf(f"redis://localhost:{r.port}", "named"),
                            env={"CREDENTIALS_DIRECTORY": creds})
        await wait_healthy(node)
        assert "cred-pw-77" not in node.log_text()
        c = await Client.connect(node, "c")
        await c.join("named-room")
        assert (await c.send("named-room", "hi"))["seq"] == 1
        await c.close()
    finally:
        shutil.rmtree(creds, ignore_errors=True)
