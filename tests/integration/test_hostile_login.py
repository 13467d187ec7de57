# SPDX-License-Identifier: MIT
"""Hostile clients: password guessing (issue 12, item 7). Ten wrong passwords used to lock an
account for everyone (the per-name bucket was global). Now the name's attempt bucket is per
client address, a per-name slow-down (auth.failures_per_name, auth.failure_delay) delays
rather than refuses, and a login for a name without an account runs a password check like a
real one, so neither the answer nor the work tells which names exist. Meanwhile another
client's chat and /healthz are unaffected.

Client addresses: Linux routes all of 127.0.0.0/8 to lo, so a client bound to 127.0.0.N is
address 127.0.0.N to the server."""
import websockets

from confabtest import T, Client, assert_error, close_all, poll_until, uniq
from test_hostile_names import Bystanders

PW = "correct horse battery"
SLOWDOWN = {("auth", "attempts_per_name"): 3, ("auth", "failures_per_name"): 4,
            ("auth", "failure_delay"): 300}


async def connect_from(server, addr):
    """A confab.v1 session (no hello) from the local address addr."""
    ws = await websockets.connect(server.ws_url, subprotocols=["confab.v1"], compression=None,
                                  ping_interval=None, open_timeout=T(10), close_timeout=T(5),
                                  max_size=None, local_addr=(addr, 0))
    return Client(ws)


async def login(c, name, pw):
    return await c.send_cmd("login", name=name, password=pw, timeout=T(30))


def counter(server, name):
    return server.metric(name, 0.0)


async def test_attacker_cannot_lock_out_the_owner(start_server):
    s = start_server(SLOWDOWN)
    by = await Bystanders(s).start()
    owner = uniq("owner")
    reg = await Client.connect(s, hello=False)
    await reg.ok("register", name=owner, password=PW, timeout=T(30))
    await reg.close()

    # One attacker address hammers wrong passwords: after attempts_per_name it is refused
    # with rate_limited, a defined answer, and stays refused.
    attacker = await connect_from(s, "127.0.0.2")
    answers = [(await login(attacker, owner, f"guess-{i:04}"))["error"]["code"] for i in range(8)]
    assert answers[:3] == ["auth_failed"] * 3, answers
    assert set(answers[3:]) == {"rate_limited"}, answers
    assert_error(await login(attacker, owner, PW), "rate_limited")
    await by.check()

    # The owner, from another address, still logs in: the lockout is the attacker's only.
    mine = await connect_from(s, "127.0.0.3")
    ok = await login(mine, owner, PW)
    assert "error" not in ok and ok["token"], ok
    await by.check()

    # Guessing from more addresses passes auth.failures_per_name: logins for the name are
    # now delayed (counted), never refused, the owner's included.
    more = [await connect_from(s, f"127.0.0.{n}") for n in (4, 5)]
    for c in more:
        for i in range(3):
            assert_error(await login(c, owner, f"more-guess-{i}"), "auth_failed")
    delayed = counter(s, "confab_auth_delayed_total")
    ok = await login(mine, owner, PW)
    assert "error" not in ok and ok["token"], ok
    assert counter(s, "confab_auth_delayed_total") == delayed + 1
    # A wrong guess while slowed is still a plain auth_failed.
    assert_error(await login(more[0], owner, "slowed-guess"), "rate_limited")
    third = await connect_from(s, "127.0.0.6")
    assert_error(await login(third, owner, "slowed-guess"), "auth_failed")
    assert counter(s, "confab_auth_delayed_total") == delayed + 2
    await by.check()
    await close_all([attacker, mine, third] + more)
    await by.close()


async def test_unknown_name_costs_a_password_check(start_server):
    s = start_server(SLOWDOWN)
    by = await Bystanders(s).start()
    known = uniq("known")
    c = await Client.connect(s, hello=False)
    await c.ok("register", name=known, password=PW, timeout=T(30))
    base = counter(s, "confab_auth_hashes_total")
    # A wrong password: one check on the hashing thread, auth_failed.
    assert_error(await login(c, known, "wrong-password"), "auth_failed")
    assert counter(s, "confab_auth_hashes_total") == base + 1
    # A name without an account: the same answer after the same work.
    ghost = uniq("ghost")
    r = await login(c, ghost, "wrong-password")
    assert_error(r, "auth_failed")
    assert r["error"]["message"] == (await login(c, known, "wrong-password"))["error"]["message"]
    assert counter(s, "confab_auth_hashes_total") == base + 3
    await by.check()
    # Unknown names count towards the slow-down like known ones, so a delay does not tell
    # them apart either.
    other = await connect_from(s, "127.0.0.7")
    for i in range(2):
        assert_error(await login(other, ghost, f"ghost-guess-{i}"), "auth_failed")
    # 1 + 2 failures so far for ghost, failures_per_name is 4: one more, then delayed.
    assert_error(await login(other, ghost, "ghost-guess-3"), "auth_failed")
    delayed = counter(s, "confab_auth_delayed_total")
    third = await connect_from(s, "127.0.0.8")
    assert_error(await login(third, ghost, "ghost-guess-4"), "auth_failed")
    assert counter(s, "confab_auth_delayed_total") == delayed + 1
    await by.check()
    await close_all([c, other, third])
    await by.close()


async def test_a_delayed_login_does_not_hold_up_shutdown(start_server):
    """A login waiting out the slow-down when SIGTERM comes: the daemon exits cleanly (under
    valgrind: nothing leaked), it does not wait for the delay."""
    s = start_server({("auth", "failures_per_name"): 1, ("auth", "failure_delay"): 60000})
    name = uniq("victim")
    c = await Client.connect(s, hello=False)
    await c.ok("register", name=name, password=PW, timeout=T(30))
    assert_error(await login(c, name, "wrong-password"), "auth_failed")
    other = await connect_from(s, "127.0.0.9")
    pending = await other.start_cmd("login", name=name, password=PW)
    await poll_until(lambda: counter(s, "confab_auth_delayed_total") == 1, T(10),
                     what="the login to be delayed")
    assert not pending.done()
    s.sigterm()
    assert s.wait_exit(T(20)) == 0, s.log_text()
    await close_all([c, other])

