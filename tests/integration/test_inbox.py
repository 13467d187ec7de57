# SPDX-License-Identifier: MIT
"""Offline inboxes and user presence: POST /api/v1/users/<id>/messages keeps a direct message
for a user without a session (standalone: in memory and the state directory; cluster: a Redis
list), delivered in order, once, when the user connects on any node; GET /api/v1/users/<id>."""
import asyncio
import concurrent.futures
import os
import time
import urllib.parse

import pytest

from confabtest import (ADMIN_TOKEN, T, Client, Server, ServerStartError, assert_error, close_all,
                        poll_until, redis_call, uniq)
from test_accounts import hello_token, register
from test_cluster import start_nodes

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def user_path(uid, suffix=""):
    return f"/api/v1/users/{urllib.parse.quote(uid, safe='')}{suffix}"


def notice(server, uid, text, sender=None, headers=AUTH):
    body = {"text": text}
    if sender:
        body["from"] = sender
    return server.post(user_path(uid, "/messages"), json=body, headers=headers)


def queued(server, uid, text):
    r = notice(server, uid, text)
    assert r.status_code == 202, r.text
    assert r.json()["queued"] is True and r.json()["mid"]
    return r.json()["mid"]


def online(server, uid):
    r = server.get(user_path(uid))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == uid
    return r.json()["online"]


def dm_texts(client):
    return [e["text"] for e in client.evs("dm")]


async def wait_dms(client, n, timeout=None):
    await client.wait_until(lambda: len(client.evs("dm")) >= n, timeout=timeout or T(10),
                            what=f"{n} dm events")
    return dm_texts(client)


async def settle(*servers):
    """One round trip through each server's loop and bus: whatever was to be delivered by now
    has been queued to the sessions (nothing extra may follow)."""
    for s in servers:
        c = await Client.connect(s, uniq("probe"))
        await c.ok("ping")
        await c.close()


async def test_kept_until_the_user_connects_in_order_once(start_server):
    s = start_server()
    name = uniq("bob")
    uid = "guest:" + name  # a guest (docs/protocol.md "Identities")
    assert online(s, uid) is False
    mids = [queued(s, uid, f"n{i}") for i in range(5)]
    assert len(set(mids)) == 5
    assert s.metric("confab_inbox_messages") == 5
    bob = await Client.connect(s, name)
    assert await wait_dms(bob, 5) == [f"n{i}" for i in range(5)]
    ev = bob.evs("dm")[0]
    assert ev["queued"] is True and ev["from"] == {"id": "admin", "name": "admin"}
    assert ev["to"] == uid and ev["mid"] == mids[0] and ev["queued_ts"] >= ev["ts"]
    assert online(s, uid) is True
    # Online now: delivered at once, not kept.
    r = notice(s, uid, "live", sender="ops")
    assert r.status_code == 200 and r.json()["delivered"] is True, r.text
    await wait_dms(bob, 6)
    live = bob.evs("dm")[5]
    assert "queued" not in live and live["from"]["id"] == "ops"
    # A second session later gets nothing again.
    bob2 = await Client.connect(s, name)
    await settle(s)
    await bob2.ok("ping")
    assert bob2.evs("dm") == [] and len(bob.evs("dm")) == 6
    assert s.metric("confab_inbox_delivered_total") == 5
    assert s.metric("confab_inbox_messages") == 0
    await close_all([bob, bob2])
    await poll_until(lambda: not online(s, uid), T(5), what="offline")


async def test_native_dm_to_a_guest_stays_offline(start_server):
    s = start_server()
    alice = await Client.connect(s, "alice")
    assert_error(await alice.send_cmd("dm", to=uniq("guest"), text="hi"), "offline")
    await alice.close()


async def account(server, name):
    """Registers account name on server; its token."""
    r = await register(server, name)
    assert "error" not in r, r
    return r["token"]


def assert_kept_dm(ev, sender, to, text):
    """sender: the confab.v1 Client that sent it."""
    assert ev["from"] == {"id": sender.id, "name": sender.name} and ev["to"] == to, ev
    assert ev["text"] == text and ev["queued"] is True, ev
    assert isinstance(ev["mid"], str) and len(ev["mid"]) == 36, ev
    assert ev["queued_ts"] >= ev["ts"], ev


async def test_native_dm_to_an_offline_account_is_kept(start_server):
    s = start_server()
    bob = uniq("bob")
    token = await account(s, bob)
    alice = await Client.connect(s, uniq("alice"))
    for i in range(3):
        r = await alice.ok("dm", to=bob, text=f"k{i}")
        assert r["to"] == bob and r["queued"] is True, r
    # A guest name that is no account: not kept.
    guest = uniq("guest")
    assert_error(await alice.send_cmd("dm", to=guest, text="hi"), "offline")
    assert s.metric("confab_inbox_messages") == 3
    c, h = await hello_token(s, token)
    assert h["user"]["id"] == bob, h
    assert await wait_dms(c, 3) == ["k0", "k1", "k2"]
    for i, ev in enumerate(c.evs("dm")):
        assert_kept_dm(ev, alice, bob, f"k{i}")
    assert len({ev["mid"] for ev in c.evs("dm")}) == 3
    # Online now: delivered at once, not kept.
    r = await alice.ok("dm", to=bob, text="live")
    assert "queued" not in r, r
    await wait_dms(c, 4)
    assert "queued" not in c.evs("dm")[3]
    # Once: another session of bob gets nothing of the past.
    c2, _ = await hello_token(s, token)
    await settle(s)
    await c2.ok("ping")
    assert c2.evs("dm") == [] and len(c.evs("dm")) == 4
    assert s.metric("confab_inbox_messages") == 0
    assert s.metric("confab_inbox_delivered_total") == 3
    # Bob offline again: kept again; the guest name still is not.
    await close_all([c, c2])
    await poll_until(lambda: not online(s, bob), T(5), what="offline")
    assert (await alice.ok("dm", to=bob, text="later"))["queued"] is True
    assert_error(await alice.send_cmd("dm", to=guest, text="hi"), "offline")
    await alice.close()


async def test_native_dm_kept_for_an_account_across_a_restart(start_server):
    s = start_server()
    bob = uniq("bob")
    token = await account(s, bob)
    alice = await Client.connect(s, uniq("alice"))
    assert (await alice.ok("dm", to=bob, text="before"))["queued"] is True
    await alice.close()
    state = os.path.join(s.dir, "state")
    assert s.stop() == 0
    s2 = start_server({("state", "dir"): state})
    c, h = await hello_token(s2, token)
    assert h["user"]["id"] == bob, h
    assert await wait_dms(c, 1) == ["before"]
    assert_kept_dm(c.evs("dm")[0], alice, bob, "before")
    await settle(s2)
    assert len(c.evs("dm")) == 1
    await c.close()


async def test_admin_api_auth_and_validation(start_server):
    s = start_server()
    assert notice(s, "bob", "x", headers={}).status_code == 401
    assert notice(s, "bob", "x", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = s.post(user_path("bob", "/messages"), data="not json", headers=AUTH)
    assert r.status_code == 400
    assert notice(s, "bob", "").status_code == 400
    assert s.get(user_path("bob", "/messages")).status_code == 405
    assert s.post(user_path("bob"), headers=AUTH).status_code == 405
    assert s.get(user_path("x" * 200)).status_code == 400
    assert s.get(user_path("bob", "/other")).status_code == 404
    off = start_server({("server", "admin_token"): ""})
    assert notice(off, "bob", "x").status_code == 403
    # Presence is public, like the room API's reads.
    assert off.get(user_path("bob")).json() == {"id": "bob", "online": False}


async def test_restart_keeps_queued_messages(start_server):
    s = start_server()
    name = uniq("bob")
    uid = "guest:" + name  # a guest (docs/protocol.md "Identities")
    for i in range(3):
        queued(s, uid, f"r{i}")
    state = os.path.join(s.dir, "state")
    assert s.stop() == 0
    assert [f for f in os.listdir(state) if f.startswith("inbox-")]
    s2 = start_server({("state", "dir"): state})
    bob = await Client.connect(s2, name)
    assert await wait_dms(bob, 3) == ["r0", "r1", "r2"]
    await bob.close()
    # Delivered is removed: a third life has nothing for bob.
    assert s2.stop() == 0
    assert not [f for f in os.listdir(state) if f.startswith("inbox-")]


async def test_corrupt_inbox_file_stops_the_start(start_server, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "inbox-broken.json").write_text("{")
    s = Server({("state", "dir"): str(state)})
    with pytest.raises(ServerStartError):
        s.start(timeout=T(10))
    s.stop()
    assert "inbox-broken.json" in s.log_text()
    s.cleanup()


@pytest.mark.conf({("inbox", "max_messages"): 3})
async def test_bound_drops_the_oldest(server):
    name = uniq("bob")
    uid = "guest:" + name  # a guest (docs/protocol.md "Identities")
    for i in range(5):
        queued(server, uid, f"b{i}")
    assert server.metric('confab_inbox_dropped_total{reason="max_messages"}') == 2
    bob = await Client.connect(server, name)
    assert await wait_dms(bob, 3) == ["b2", "b3", "b4"]
    await settle(server)
    assert len(bob.evs("dm")) == 3
    await bob.close()


@pytest.mark.conf({("inbox", "ttl"): 1})
async def test_ttl_drops_expired_messages(server):
    name = uniq("bob")
    uid = "guest:" + name  # a guest (docs/protocol.md "Identities")
    queued(server, uid, "stale")
    # The TTL is wall-clock time: wait it out.
    await asyncio.sleep(1.2)
    queued(server, uid, "fresh")
    bob = await Client.connect(server, name)
    assert await wait_dms(bob, 1) == ["fresh"]
    await settle(server)
    assert dm_texts(bob) == ["fresh"]
    assert server.metric('confab_inbox_dropped_total{reason="expired"}') == 1
    await bob.close()


# ---- cluster mode ----------------------------------------------------------------------------

async def test_cluster_queue_on_a_deliver_on_b(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    name = uniq("bob")
    uid = "guest:" + name  # a guest (docs/protocol.md "Identities")
    assert online(a, uid) is False and online(b, uid) is False
    for i in range(4):
        queued(a, uid, f"c{i}")
    bob = await Client.connect(b, name)
    assert await wait_dms(bob, 4) == [f"c{i}" for i in range(4)]
    assert bob.evs("dm")[0]["queued"] is True
    await poll_until(lambda: online(a, uid) and online(b, uid), T(5), what="online everywhere")
    # Online on b: a POST on a is delivered at once.
    r = notice(a, uid, "live")
    assert r.status_code == 200 and r.json()["delivered"] is True, r.text
    await wait_dms(bob, 5)
    assert "queued" not in bob.evs("dm")[4]
    # A second session on a gets nothing of the past.
    bob_a = await Client.connect(a, name)
    await settle(a, b)
    assert bob_a.evs("dm") == [] and len(bob.evs("dm")) == 5
    assert redis_call(redis.port, "EXISTS", "confab:inbox:" + uid) == 0
    await close_all([bob, bob_a])
    await poll_until(lambda: not online(a, uid) and not online(b, uid), T(5), what="offline")


async def test_cluster_native_dm_to_an_offline_account(start_server, redis):
    """Kept through node a (Redis decides it is an account in the keep script, under
    redis.prefix), delivered once when bob says hello with his token on node b; a name that is
    no account stays offline."""
    a, b = await start_nodes(start_server, redis, 2, {("redis", "prefix"): "dmk:"})
    bob = uniq("bob")
    token = await account(a, bob)
    assert redis.call("EXISTS", "dmk:acct:" + bob) == 1
    alice = await Client.connect(a, uniq("alice"))
    for i in range(3):
        r = await alice.ok("dm", to=bob, text=f"c{i}")
        assert r["to"] == bob and r["queued"] is True, r
    assert redis.call("LLEN", "dmk:inbox:" + bob) == 3
    guest = uniq("guest")
    assert_error(await alice.send_cmd("dm", to=guest, text="hi"), "offline")
    assert redis.call("EXISTS", "dmk:inbox:" + guest) == 0
    # A guest with a session (here on b) still gets a dm live.
    carol = await Client.connect(b, uniq("carol"))
    await poll_until(lambda: online(a, carol.id), T(5), what="carol online")
    r = await alice.ok("dm", to=carol.id, text="hey")
    assert "queued" not in r, r
    assert await wait_dms(carol, 1) == ["hey"]
    # Bob logs in on b: the inbox is drained there, once.
    c, h = await hello_token(b, token)
    assert h["user"]["id"] == bob, h
    assert await wait_dms(c, 3) == ["c0", "c1", "c2"]
    for i, ev in enumerate(c.evs("dm")):
        assert_kept_dm(ev, alice, bob, f"c{i}")
    await poll_until(lambda: online(a, bob), T(5), what="bob online everywhere")
    assert redis.call("EXISTS", "dmk:inbox:" + bob) == 0
    r = await alice.ok("dm", to=bob, text="live")
    assert "queued" not in r, r
    await wait_dms(c, 4)
    c2, _ = await hello_token(a, token)
    await settle(a, b)
    assert c2.evs("dm") == [] and len(c.evs("dm")) == 4
    await close_all([alice, carol, c, c2])


async def test_cluster_connect_while_sending_loses_nothing(start_server, redis):
    """Notices posted on two nodes while the user connects: each arrives exactly once, and the
    ones from each sender in order."""
    a, b = await start_nodes(start_server, redis, 2)
    loop = asyncio.get_running_loop()
    for round_ in range(3):
        name = uniq("racer")
        uid = "guest:" + name  # a guest (docs/protocol.md "Identities")
        n = 60
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            def send(node, tag):
                out = []
                for i in range(n):
                    r = notice(node, uid, f"{tag}{i}")
                    assert r.status_code in (200, 202), r.text
                    out.append(r.status_code)
                return out
            fa = loop.run_in_executor(pool, send, a, "a")
            fb = loop.run_in_executor(pool, send, b, "b")
            # Connect part-way through the sending.
            await poll_until(lambda: redis_call(redis.port, "LLEN", "confab:inbox:" + uid) >= 5, T(10),
                             what="some notices queued")
            bob = await Client.connect(b if round_ % 2 else a, name)
            codes = await fa + await fb
        assert 202 in codes
        texts = await wait_dms(bob, 2 * n, timeout=T(20))
        await settle(a, b)
        texts = dm_texts(bob)
        assert sorted(texts) == sorted([f"a{i}" for i in range(n)] + [f"b{i}" for i in range(n)])
        for tag in "ab":
            assert [t for t in texts if t[0] == tag] == [f"{tag}{i}" for i in range(n)]
        await bob.close()


async def test_cluster_two_nodes_draining_at_once(start_server, redis):
    """Sessions of one user connecting on two nodes at once: the inbox is drained once, by one
    node, and republished on the user's channel; no session gets a message twice and every
    message reaches the user."""
    a, b = await start_nodes(start_server, redis, 2)
    for _ in range(3):
        name = uniq("twin")
        uid = "guest:" + name  # a guest (docs/protocol.md "Identities")
        for i in range(10):
            queued(a, uid, f"t{i}")
        ca, cb = await asyncio.gather(Client.connect(a, name), Client.connect(b, name))
        await poll_until(lambda: redis_call(redis.port, "EXISTS", "confab:inbox:" + uid) == 0, T(10),
                         what="the inbox drained")
        # Every message reaches the user, on either session or both.
        await poll_until(lambda: len(ca.evs("dm")) == 10 or len(cb.evs("dm")) == 10, T(10),
                         what="the drained messages")
        await settle(a, b)
        want = [f"t{i}" for i in range(10)]
        for c in (ca, cb):
            assert dm_texts(c) in ([], want), dm_texts(c)
        await close_all([ca, cb])


async def test_cluster_presence_of_many(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2)
    u1, u2 = "guest:" + uniq("p"), "guest:" + uniq("p")
    c = await Client.connect(b, u1[len("guest:"):])
    await poll_until(lambda: online(a, u1), T(5), what="online on a")
    assert online(a, u2) is False
    await c.close()
    await poll_until(lambda: not online(a, u1), T(5), what="offline")
