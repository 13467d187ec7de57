# SPDX-License-Identifier: MIT
"""Cluster mode over two Redis shards (redis.url + redis.shards): two real redis-server
processes, two confabd nodes. Rooms and users live on the shard their name hashes to
(rendezvous hashing over the shards' identities, recomputed here to pick names on each shard);
a shard that is down takes only its own rooms and users with it."""
import os
import subprocess

from confabtest import (ADMIN_TOKEN, CONFABD, T, Client, RedisSentinel, Server, assert_error,
                        close_all, poll_until, uniq)
from test_cluster import free_tcp_port, node_conf, wait_healthy
from test_inbox import account, online, queued, wait_dms

M64 = (1 << 64) - 1
FNV_OFFSET = 0xcbf29ce484222325


def fnv1a(h, s):
    for byte in s.encode():
        h = ((h ^ byte) * 0x100000001b3) & M64
    return h


def mix(x):
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M64
    return x ^ (x >> 31)


def shard_id(redis):
    """What confabd hashes over for redis.url redis://127.0.0.1:<port> (db 0)."""
    return f"tcp:127.0.0.1:{redis.port}/0"


def pick(ids, name):
    """The index of the shard that owns name (redis_url.c cf_redis_shard_pick)."""
    h = fnv1a(FNV_OFFSET, name)
    weights = [mix(fnv1a(FNV_OFFSET, i) ^ h) for i in ids]
    return weights.index(max(weights))


def name_on(ids, shard, prefix, tag=""):
    """A fresh name whose tag + name shard owns (tag: an identity space, "guest:")."""
    for _ in range(1000):
        name = uniq(prefix)
        if pick(ids, tag + name) == shard:
            return name
    raise AssertionError("no name hashed to the shard")


def shard_conf(r0, r1, name, extra=None):
    conf = node_conf(r0, name, extra)
    conf[("redis", "shards")] = [r1.url]
    return conf


async def start_sharded(start_server, r0, r1, n=2, extra=None):
    nodes = [start_server(shard_conf(r0, r1, f"node{i}", extra)) for i in range(n)]
    for s in nodes:
        await wait_healthy(s)
    return nodes


def shard_states(server):
    return [(e["shard"], e["up"]) for e in server.get("/healthz").json()["redis_shards"]]


async def test_rooms_on_both_shards_deliver_across_nodes(start_server, redis_factory):
    r0, r1 = redis_factory(), redis_factory()
    ids = [shard_id(r0), shard_id(r1)]
    a, b = await start_sharded(start_server, r0, r1)
    assert shard_states(a) == [(0, True), (1, True)]
    assert a.metric('confab_redis_shard_up{shard="0"}') == 1
    assert a.metric('confab_redis_shard_up{shard="1"}') == 1
    assert a.metric("confab_redis_up") == 1
    rooms = [name_on(ids, 0, "r0"), name_on(ids, 1, "r1")]
    clients = []
    for room in rooms:
        on_a = await Client.connect(a, uniq("ma"))
        on_b = await Client.connect(b, uniq("mb"))
        await on_a.join(room)
        await on_b.join(room)
        clients += [on_a, on_b]
        for i in range(3):
            ack = await (on_a if i % 2 else on_b).send(room, f"{room} {i}")
            assert ack["seq"] == i + 1, ack
        for c in (on_a, on_b):
            msgs = await c.wait_msgs(room, 3)
            assert [m["text"] for m in msgs] == [f"{room} {i}" for i in range(3)]
            assert [m["seq"] for m in msgs] == [1, 2, 3]
    # Each room's keys are on its own shard only.
    for shard, (room, redis) in enumerate(zip(rooms, (r0, r1))):
        other = (r1, r0)[shard]
        assert redis.call("HGET", f"confab:meta:{room}", "seq") == "3"
        assert redis.call("EXISTS", f"confab:meta:{room}") == 1
        assert other.call("EXISTS", f"confab:meta:{room}") == 0
        assert other.call("EXISTS", f"confab:log:{room}") == 0
    # Every node keeps its liveness key on every shard.
    for redis in (r0, r1):
        for node in ("node0", "node1"):
            assert redis.call("EXISTS", f"confab:node:{node}") == 1
    await close_all(clients)


async def test_direct_messages_and_inboxes_on_both_shards(start_server, redis_factory):
    r0, r1 = redis_factory(), redis_factory()
    ids = [shard_id(r0), shard_id(r1)]
    a, b = await start_sharded(start_server, r0, r1, extra={("auth", "enabled"): 1})
    for shard, (redis, other) in enumerate(((r0, r1), (r1, r0))):
        # A guest's inbox (the admin API), kept through a, drained on b.
        name = name_on(ids, shard, "guest", "guest:")
        uid = "guest:" + name
        assert online(a, uid) is False
        for i in range(2):
            queued(a, uid, f"q{i}")
        assert redis.call("LLEN", "confab:inbox:" + uid) == 2
        assert other.call("EXISTS", "confab:inbox:" + uid) == 0
        user = await Client.connect(b, name)
        assert await wait_dms(user, 2) == ["q0", "q1"]
        await poll_until(lambda: online(a, uid), T(5), what="online through a")
        # Live across nodes.
        sender = await Client.connect(a, uniq("sender"))
        r = await sender.ok("dm", to=uid, text="live")
        assert "queued" not in r, r
        assert await wait_dms(user, 3) == ["q0", "q1", "live"]
        await close_all([user, sender])

    # Accounts live on shard 0; a kept DM to an account on shard 1 is kept there.
    bob = name_on(ids, 1, "bob")
    token = await account(a, bob)
    assert r0.call("EXISTS", "confab:acct:" + bob) == 1
    assert r1.call("EXISTS", "confab:acct:" + bob) == 0
    alice = await Client.connect(b, uniq("alice"))
    for i in range(2):
        r = await alice.ok("dm", to=bob, text=f"k{i}")
        assert r["queued"] is True, r
    assert r1.call("LLEN", "confab:inbox:" + bob) == 2
    assert r0.call("EXISTS", "confab:inbox:" + bob) == 0
    # A name on shard 1 that is no account is offline, and nothing is kept for it.
    nobody = name_on(ids, 1, "nobody")
    assert_error(await alice.send_cmd("dm", to=nobody, text="hi"), "offline")
    assert r1.call("EXISTS", "confab:inbox:" + nobody) == 0
    c = await Client.connect(a, hello=False)
    h = await c.ok("hello", token=token)
    assert h["user"]["id"] == bob, h
    assert await wait_dms(c, 2) == ["k0", "k1"]
    await close_all([alice, c])


async def test_a_shard_down_takes_only_its_rooms(start_server, redis_factory):
    r0, r1 = redis_factory(), redis_factory()
    ids = [shard_id(r0), shard_id(r1)]
    a, b = await start_sharded(start_server, r0, r1)
    up_room, down_room = name_on(ids, 0, "up"), name_on(ids, 1, "down")
    ca, cb = await Client.connect(a, uniq("ca")), await Client.connect(b, uniq("cb"))
    for room in (up_room, down_room):
        await ca.join(room)
        await cb.join(room)
    await ca.send(down_room, "before")
    await cb.wait_msgs(down_room, 1)
    r1.kill9()
    await wait_healthy(a, ok=False)
    h = a.get("/healthz")
    assert h.status_code == 503
    body = h.json()
    assert body["reason"].startswith("redis shard 1:"), body
    assert [(e["shard"], e["up"]) for e in body["redis_shards"]] == [(0, True), (1, False)]
    assert a.metric('confab_redis_shard_up{shard="1"}') == 0
    assert a.metric('confab_redis_shard_up{shard="0"}') == 1
    assert a.metric("confab_redis_up") == 0
    # The shard that is down: its rooms and users answer unavailable.
    assert_error(await ca.send_cmd("send", room=down_room, text="lost"), "unavailable")
    late = await Client.connect(a, uniq("late"))
    assert_error(await late.send_cmd("join", room=name_on(ids, 1, "new")), "unavailable")
    def keep(shard):
        uid = "guest:" + name_on(ids, shard, "k", "guest:")
        return a.post(f"/api/v1/users/{uid}/messages", json={"text": "x"},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert keep(1).status_code == 503
    assert keep(0).status_code == 202
    # The other shard's rooms go on, across nodes, and new ones open.
    ack = await ca.send(up_room, "still here")
    assert ack["seq"] == 1
    msgs = await cb.wait_msgs(up_room, 1)
    assert msgs[-1]["text"] == "still here"
    fresh = name_on(ids, 0, "fresh")
    await late.join(fresh)
    await ca.join(fresh)
    await late.send(fresh, "new room")
    assert (await ca.wait_msgs(fresh, 1))[-1]["text"] == "new room"
    # The shard comes back (empty: no persistence): its rooms work again.
    r1.restart()
    await wait_healthy(a)
    await wait_healthy(b)
    assert shard_states(b) == [(0, True), (1, True)]
    await poll_until(lambda: a.metric('confab_redis_shard_up{shard="1"}') == 1, T(5),
                     what="shard 1 up in the metrics")

    async def sent():
        reply = await ca.send_cmd("send", room=down_room, text="after")
        return "error" not in reply
    await poll_until(sent, T(15), what="a send on shard 1 again")
    msgs = await cb.wait_event(lambda e: e.get("ev") == "msg" and e.get("room") == down_room
                               and e.get("text") == "after")
    assert msgs["text"] == "after"
    await close_all([ca, cb, late])


async def test_adding_a_shard_moves_rooms_with_a_new_epoch(start_server, redis_factory):
    """A room that moves to the added shard starts a new epoch there: a client resuming with
    its old (epoch, seq) gets gap, never the old shard's messages as if they continued; a room
    that stays resumes as before."""
    r0, r1 = redis_factory(), redis_factory()
    ids = [shard_id(r0), shard_id(r1)]
    stay, move = name_on(ids, 0, "stay"), name_on(ids, 1, "move")
    s = start_server(node_conf(r0, "node0"))
    await wait_healthy(s)
    c = await Client.connect(s, uniq("c"))
    for room in (stay, move):
        await c.join(room)
        for i in range(3):
            await c.send(room, f"{room} old {i}")
        await c.wait_msgs(room, 3)
    probe = await Client.connect(s, uniq("p"))
    epochs = {room: (await probe.join(room))["epoch"] for room in (stay, move)}
    await close_all([c, probe])
    # Both rooms were on the only Redis.
    assert r0.call("HGET", f"confab:meta:{move}", "seq") == "3"

    s.overrides[("redis", "shards")] = [r1.url]
    s.restart()
    await wait_healthy(s)
    c = await Client.connect(s, uniq("c"))
    # The room that stays: same epoch, nothing missed, no gap.
    j = await c.join(stay, since=3, epoch=epochs[stay])
    assert j["epoch"] == epochs[stay] and j["seq"] == 3 and j["gap"] is False, j
    # The room that moved: the new shard knows nothing of it; the old epoch means gap.
    j = await c.join(move, since=3, epoch=epochs[move])
    assert j["gap"] is True, j
    assert j["epoch"] != epochs[move], j
    assert all("old" not in m["text"] for m in j["history"]), j
    ack = await c.send(move, "new shard")
    assert ack["seq"] == 1, ack
    assert r1.call("HGET", f"confab:meta:{move}", "seq") == "1"
    new_epoch = int(r1.call("HGET", f"confab:meta:{move}", "epoch"))
    assert new_epoch != epochs[move]
    # The old shard's copy is left to expire (rooms.history_ttl), untouched.
    assert r0.call("HGET", f"confab:meta:{move}", "seq") == "3"
    # A client resuming from the new epoch after the move resumes normally.
    c2 = await Client.connect(s, uniq("c2"))
    j2 = await c2.join(move, since=0, epoch=new_epoch)
    assert j2["gap"] is False and [m["text"] for m in j2["history"]] == ["new shard"], j2
    await close_all([c, c2])


def check_config(overrides):
    s = Server(overrides)
    s.port = free_tcp_port()
    s.write_config()
    try:
        return subprocess.run([CONFABD, "--config", s.conf_path, "--check-config"],
                              capture_output=True, text=True, timeout=30)
    finally:
        s.cleanup()


def test_check_config_refuses_bad_shards():
    url = "redis://127.0.0.1:6390/0"
    r = check_config({("redis", "url"): url,
                      ("redis", "shards"): ["redis://:sekrit@127.0.0.1:6390/0"]})
    assert r.returncode == 1, r
    assert "redis.shards: 'redis://:(hidden)@127.0.0.1:6390/0' is the same shard" in r.stderr
    assert "sekrit" not in r.stderr + r.stdout
    r = check_config({("redis", "url"): url,
                      ("redis", "shards"): ["redis://127.0.0.1:6391/0",
                                            "redis://127.0.0.1:6391/0"]})
    assert r.returncode == 1 and "an earlier entry" in r.stderr, r
    r = check_config({("redis", "url"): url, ("redis", "shards"): ["redis://127.0.0.1:nope"]})
    assert r.returncode == 1 and "redis.shards: 'redis://127.0.0.1:nope'" in r.stderr, r
    r = check_config({("redis", "shards"): ["redis://127.0.0.1:6391/0"]})
    assert r.returncode == 1 and "redis.shards needs redis.url" in r.stderr, r
    r = check_config({("redis", "url"): url,
                      ("redis", "shards"): ["sentinel://:pw@127.0.0.1:26379/other/0"]})
    assert r.returncode == 0, r.stderr
    assert "shards = sentinel://:(hidden)@127.0.0.1:26379/other/0" in r.stdout
    assert os.path.exists(CONFABD)


async def test_online_over_both_shards_in_one_question(start_server, redis_factory, tmp_path):
    """Seed 001's users list asks who is online for many accounts at once: the question is
    split over the shards that own them and the answers put back in order."""
    from test_dialect_001 import C1, start_001
    www = tmp_path / "www"
    (www / "static").mkdir(parents=True)
    (www / "index.html").write_text("<!doctype html>")
    r0, r1 = redis_factory(), redis_factory()
    ids = [shard_id(r0), shard_id(r1)]
    s, port = start_001(start_server, str(www), shard_conf(r0, r1, "node0"))
    await wait_healthy(s)
    names = [name_on(ids, shard, f"u{shard}") for shard in (0, 1, 1, 0)]
    clients = [await C1.connect(port) for _ in names]
    for c, n in zip(clients, names):
        await c.sign(n)
    # One of each shard goes offline.
    await clients[2].close()
    await clients[3].close()
    for n in names[2:]:
        await poll_until(lambda n=n: online(s, n) is False, T(5), what=f"{n} offline")
    users = await clients[0].users()
    assert [(u["Username"], u["OnLine"]) for u in users["users"]] == [
        (names[0], True), (names[1], True), (names[2], False), (names[3], False)], users
    # The accounts are on shard 0, whichever shard their user is on.
    for n in names:
        assert r0.call("EXISTS", f"confab:acct:{n}") == 1
        assert r1.call("EXISTS", f"confab:acct:{n}") == 0
    await close_all(clients[:2])


async def test_one_url_shows_no_shards(start_server, redis):
    """With redis.url alone, nothing of the shards appears: the bus is the one of before."""
    s = start_server(node_conf(redis, "solo"))
    await wait_healthy(s)
    h = s.get("/healthz").json()
    assert h["status"] == "ok" and "redis_shards" not in h, h
    text = s.get("/metrics").text
    assert "confab_redis_up 1" in text
    assert "confab_redis_shard_up" not in text


async def test_shard_0_down_takes_the_accounts_not_the_other_rooms(start_server, redis_factory):
    """Shard 0 is also the home of the accounts: with it down, what needs an account (a kept
    DM to accounts only) is unavailable, while shard 1's rooms and guests go on."""
    r0, r1 = redis_factory(), redis_factory()
    ids = [shard_id(r0), shard_id(r1)]
    a, b = await start_sharded(start_server, r0, r1, extra={("auth", "enabled"): 1})
    bob = name_on(ids, 1, "bob")
    await account(a, bob)
    room = name_on(ids, 1, "room")
    ca, cb = await Client.connect(a, uniq("ca")), await Client.connect(b, uniq("cb"))
    await ca.join(room)
    await cb.join(room)
    r0.kill9()
    await wait_healthy(a, ok=False)
    body = a.get("/healthz").json()
    assert body["reason"].startswith("redis shard 0:"), body
    assert [(e["shard"], e["up"]) for e in body["redis_shards"]] == [(0, False), (1, True)]
    # A kept DM to an account on shard 1 needs shard 0 to know it is an account.
    assert_error(await ca.send_cmd("dm", to=bob, text="kept?"), "unavailable")
    assert r1.call("EXISTS", "confab:inbox:" + bob) == 0
    # Shard 1's rooms and guests go on.
    await ca.send(room, "on shard 1")
    assert (await cb.wait_msgs(room, 1))[-1]["text"] == "on shard 1"
    guest = name_on(ids, 1, "g", "guest:")
    queued(a, "guest:" + guest, "for a guest")
    assert r1.call("LLEN", "confab:inbox:guest:" + guest) == 1
    await close_all([ca, cb])


async def test_a_shard_through_its_own_sentinel(start_server, redis_factory, request):
    """A shard's URL may be a sentinel:// one: its identity is the master's name (not the
    Sentinels' addresses), and its rooms are ordered on the master the Sentinel names."""
    r0, r1 = redis_factory(), redis_factory()
    sentinel = RedisSentinel(r1.port, name="shard1")
    request.addfinalizer(sentinel.cleanup)
    sentinel.start()
    ids = [shard_id(r0), "sentinel:shard1/0"]
    shards = {("redis", "shards"): [f"sentinel://127.0.0.1:{sentinel.port}/shard1"]}
    nodes = [start_server(node_conf(r0, f"node{i}", shards)) for i in range(2)]
    for s in nodes:
        await wait_healthy(s)
        assert "redis: shard 1 is sentinel:shard1/0" in s.log_text()
    clients = []
    for shard, redis in enumerate((r0, r1)):
        room = name_on(ids, shard, f"s{shard}")
        ca = await Client.connect(nodes[0], uniq("a"))
        cb = await Client.connect(nodes[1], uniq("b"))
        await ca.join(room)
        await cb.join(room)
        await ca.send(room, "via the sentinel" if shard else "direct")
        assert (await cb.wait_msgs(room, 1))[-1]["seq"] == 1
        assert redis.call("HGET", f"confab:meta:{room}", "seq") == "1"
        assert (r1, r0)[shard].call("EXISTS", f"confab:meta:{room}") == 0
        clients += [ca, cb]
    await close_all(clients)


async def test_directory_pages_rooms_of_every_shard_in_name_order(start_server, redis_factory):
    from test_rules import account as rules_account, ok
    r0, r1 = redis_factory(), redis_factory()
    ids = [shard_id(r0), shard_id(r1)]
    a, b = await start_sharded(start_server, r0, r1)
    alice = await rules_account(a)
    tag = uniq("dir")
    # Two rooms on each shard, interleaved in name order, and a private one (never listed).
    names = [name_on(ids, i % 2, f"{tag}-{i}") for i in range(4)]
    hidden = name_on(ids, 1, f"{tag}-9")
    for i, room in enumerate(names):
        await ok(alice, "create", room=room, topic=f"t{i}")
    await ok(alice, "create", room=hidden, kind="private")
    bob = await Client.connect(b, uniq("bob"))
    seen, after = [], ""
    for _ in range(6):
        r = await bob.send_cmd("rooms", prefix=tag, after=after, limit=3, timeout=T(20))
        assert r.get("op") == "rooms", r
        seen += [(d["room"], d["topic"]) for d in r["directory"]]
        if r["next"] is None:
            break
        after = r["next"]
    assert seen == sorted((n, f"t{i}") for i, n in enumerate(names)), seen
    page = b.get("/api/v1/rooms", params={"prefix": tag, "limit": 2}).json()
    assert [d["room"] for d in page["directory"]] == sorted(names)[:2], page
    assert page["next"] == sorted(names)[1], page
    await close_all([alice, bob])
