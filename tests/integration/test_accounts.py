# SPDX-License-Identifier: MIT
"""Accounts in confab.v1 (docs/protocol.md): register, login, hello with a token, logout, guests
kept off account names; standalone persistence across a restart; cluster mode through Redis."""
import asyncio
import json
import os
import re
import stat

import pytest

from confabtest import (T, Client, Server, ServerStartError, assert_error, close_all, uniq)
from test_cluster import node_conf, wait_healthy

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PW = "password123"


async def register(server, name, pw=PW):
    c = await Client.connect(server, hello=False)
    try:
        return await c.send_cmd("register", name=name, password=pw, timeout=T(20))
    finally:
        await c.close()


async def hello_token(server, token):
    c = await Client.connect(server, hello=False)
    r = await c.send_cmd("hello", token=token, timeout=T(20))
    return c, r


def accounts_file(server):
    return os.path.join(server.dir, "state", "accounts.json")


async def test_register_login_and_hello_with_token(server):
    name = uniq("alice")
    r = await register(server, name)
    assert "error" not in r, r
    assert r["op"] == "register"
    assert r["user"] == {"id": name, "name": name}
    assert UUID4.match(r["uuid"]), r
    assert isinstance(r["token"], str) and "." in r["token"]

    c = await Client.connect(server, hello=False)
    login = await c.send_cmd("login", name=name, password=PW, timeout=T(20))
    assert login["op"] == "login" and login["uuid"] == r["uuid"], login
    assert login["user"] == {"id": name, "name": name}
    # login does not give the session an identity: hello does.
    h = await c.send_cmd("hello", token=login["token"], timeout=T(20))
    assert h["op"] == "hello", h
    assert h["user"] == {"id": name, "name": name}
    assert h["account"] == r["uuid"]

    # The account's user chats like any user; a guest sees it by name.
    g = await Client.connect(server, uniq("guest"))
    room = uniq()
    await c.join(room)
    await g.join(room)
    s = await c.send(room, "hi")
    m = await g.wait_msg(room, s["seq"])
    assert m["from"] == {"id": name, "name": name}
    # Both tokens are valid.
    c2, h2 = await hello_token(server, r["token"])
    assert h2["user"]["id"] == name, h2
    await close_all([c, g, c2])


async def test_wrong_password_and_unknown_name_are_the_same_error(server):
    name = uniq("bob")
    assert "error" not in await register(server, name)
    c = await Client.connect(server, hello=False)
    r1 = await c.send_cmd("login", name=name, password="wrong-password", timeout=T(20))
    assert_error(r1, "auth_failed")
    r2 = await c.send_cmd("login", name=uniq("nobody"), password=PW, timeout=T(20))
    assert_error(r2, "auth_failed")
    assert r1["error"]["message"] == r2["error"]["message"]
    assert_error(await c.send_cmd("register", name=name, password="other-password",
                                  timeout=T(20)), "name_taken")
    assert_error(await c.send_cmd("register", name=uniq("short"), password="x"),
                 "password_invalid")
    assert_error(await c.send_cmd("register", name="guest-123456", password=PW),
                 "user_name_invalid")
    assert_error(await c.send_cmd("hello", token="abc.def"), "token_invalid")
    # Still no identity: a hello after errors is accepted.
    h = await c.ok("hello", name=uniq("after"))
    assert h["user"]["name"].startswith("after")
    await c.close()


async def test_accounts_file_holds_hashes_only(server):
    names = [uniq("carol"), uniq("dave")]
    for n in names:
        assert "error" not in await register(server, n)
    path = accounts_file(server)
    data = open(path).read()
    assert PW not in data
    doc = json.loads(data)
    got = [a["name"] for a in doc["accounts"]]
    assert got == names  # creation order
    for a in doc["accounts"]:
        assert a["hash"].startswith("$y$"), a
        assert UUID4.match(a["id"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(server.dir, "state", "auth.key")).st_mode) == 0o600


async def test_restart_keeps_accounts_and_tokens(start_server):
    s = start_server()
    name = uniq("erin")
    r = await register(s, name)
    assert "error" not in r, r
    assert s.restart() == 0
    c, h = await hello_token(s, r["token"])
    assert h.get("account") == r["uuid"], h
    c2 = await Client.connect(s, hello=False)
    login = await c2.send_cmd("login", name=name, password=PW, timeout=T(20))
    assert login["uuid"] == r["uuid"], login
    await close_all([c, c2])


async def test_logout_all_revokes_tokens(server):
    name = uniq("frank")
    r = await register(server, name)
    c, h = await hello_token(server, r["token"])
    assert "error" not in h, h
    # Without all: nothing is revoked.
    assert (await c.ok("logout"))["revoked"] is False
    c2, h2 = await hello_token(server, r["token"])
    assert "error" not in h2, h2
    assert (await c.ok("logout", all=True))["revoked"] is True
    c3, h3 = await hello_token(server, r["token"])
    assert_error(h3, "token_invalid")
    # A fresh login works again.
    login = await c3.send_cmd("login", name=name, password=PW, timeout=T(20))
    h4 = await c3.send_cmd("hello", token=login["token"], timeout=T(20))
    assert h4["user"]["id"] == name, h4
    # A guest cannot log out.
    g = await Client.connect(server, uniq("guest"))
    assert_error(await g.send_cmd("logout", all=True), "bad_state")
    await close_all([c, c2, c3, g])


async def test_guest_cannot_take_an_account_name(server):
    name = uniq("grace")
    assert "error" not in await register(server, name)
    c = await Client.connect(server, hello=False)
    assert_error(await c.send_cmd("hello", name=name), "auth_required")
    h = await c.ok("hello", name=uniq("grace-guest"))
    assert "account" not in h
    await c.close()


async def test_replies_keep_command_order(server):
    """Commands sent right behind one that waits for the hashing thread are answered after it."""
    name = uniq("heidi")
    r = await register(server, name)
    c = await Client.connect(server, hello=False)
    room = uniq()
    futs = [await c.start_cmd("login", name=name, password=PW),
            await c.start_cmd("hello", token=r["token"]),
            await c.start_cmd("join", room=room),
            await c.start_cmd("ping")]
    replies = [await asyncio.wait_for(f, T(20)) for f in futs]
    assert [x.get("op") for x in replies] == ["login", "hello", "join", "pong"], replies
    assert replies[2]["members"] == [{"id": name, "name": name}]
    ops = [o.get("op") for o in c.objs if "op" in o]
    assert ops == ["login", "hello", "join", "pong"], c.objs
    await c.close()


@pytest.mark.conf({("auth", "attempts_per_name"): 2})
async def test_password_attempts_are_rate_limited(server):
    name = uniq("ivan")
    assert "error" not in await register(server, name)
    c = await Client.connect(server, hello=False)
    for _ in range(2):
        assert_error(await c.send_cmd("login", name=name, password="bad-password",
                                      timeout=T(20)), "auth_failed")
    assert_error(await c.send_cmd("login", name=name, password=PW), "rate_limited")
    # Another name is not affected.
    other = uniq("judy")
    assert "error" not in await c.send_cmd("register", name=other, password=PW, timeout=T(20))
    await c.close()


@pytest.mark.conf({("auth", "max_accounts"): 1})
async def test_account_limit(server):
    assert "error" not in await register(server, uniq("kim"))
    assert_error(await register(server, uniq("lee")), "account_limit")


@pytest.mark.conf({("auth", "enabled"): 0})
async def test_accounts_disabled(server):
    c = await Client.connect(server, hello=False)
    assert_error(await c.send_cmd("register", name="x", password=PW), "accounts_disabled")
    await c.ok("hello", name="anyone")
    await c.close()


def test_corrupt_accounts_file_is_a_startup_error():
    s = Server()
    try:
        os.makedirs(os.path.join(s.dir, "state"))
        with open(accounts_file(s), "w") as f:
            f.write('{"version":1,"accounts":[{"id":"x"')
        with pytest.raises(ServerStartError):
            s.start(timeout=T(10))
        s.stop()
        assert "accounts.json" in s.log_text(), s.log_text()
        # The file is left as it was.
        assert open(accounts_file(s)).read().startswith('{"version":1')
    finally:
        s.stop()
        s.cleanup()


# --------------------------------------------------------------------------------------------
# cluster mode

@pytest.mark.deadline(60)
async def test_cluster_token_from_one_node_works_on_another(start_server, redis):
    a = start_server(node_conf(redis, "nodeA"))
    b = start_server(node_conf(redis, "nodeB"))
    await wait_healthy(a)
    await wait_healthy(b)
    name = uniq("mallory")
    r = await register(a, name)
    assert "error" not in r, r
    c, h = await hello_token(b, r["token"])
    assert h.get("account") == r["uuid"], h
    # Login on B, guests refused on B, the Redis hash holds no password.
    c2 = await Client.connect(b, hello=False)
    login = await c2.send_cmd("login", name=name, password=PW, timeout=T(20))
    assert login.get("uuid") == r["uuid"], login
    assert_error(await c2.send_cmd("hello", name=name, timeout=T(10)), "auth_required")
    h = redis.call("HGETALL", "confab:acct:" + name)
    fields = dict(zip(h[::2], h[1::2]))
    assert fields["hash"].startswith("$y$"), fields
    assert fields["id"] == r["uuid"]
    assert PW not in json.dumps(fields)
    assert redis.call("TTL", "confab:acct:" + name) == -1
    assert redis.call("GET", "confab:acctid:" + r["uuid"]) == name
    # logout all on A revokes on B.
    ca, _ = await hello_token(a, login["token"])
    assert (await ca.ok("logout", all=True))["revoked"] is True
    c3, h3 = await hello_token(b, login["token"])
    assert_error(h3, "token_invalid")
    await close_all([c, c2, ca, c3])


@pytest.mark.deadline(60)
async def test_cluster_register_race_has_one_winner(start_server, redis):
    a = start_server(node_conf(redis, "nodeA"))
    b = start_server(node_conf(redis, "nodeB"))
    await wait_healthy(a)
    await wait_healthy(b)
    for _ in range(3):
        name = uniq("race")
        replies = await asyncio.gather(register(a, name, "password-a"),
                                       register(b, name, "password-b"))
        ok = [r for r in replies if "error" not in r]
        taken = [r for r in replies if r.get("error", {}).get("code") == "name_taken"]
        assert len(ok) == 1 and len(taken) == 1, replies
    assert redis.call("LLEN", "confab:accts") == 3


@pytest.mark.deadline(60)
async def test_cluster_redis_down_answers_unavailable(start_server, redis):
    a = start_server(node_conf(redis, "nodeA"))
    await wait_healthy(a)
    redis.kill9()
    await wait_healthy(a, ok=False)
    r = await register(a, uniq("nina"))
    assert_error(r, "unavailable")
    c = await Client.connect(a, hello=False)
    assert_error(await c.send_cmd("hello", name=uniq("guest"), timeout=T(10)), "unavailable")
    await c.close()
