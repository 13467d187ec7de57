# SPDX-License-Identifier: MIT
"""Hostile senders of kept direct messages (issue 12: every resource a client can make the
server hold is bounded per client). Anyone may leave a DM for an offline account, and before
`inbox.max_per_ip` one address could make a node keep inbox.max_users x inbox.max_bytes for
inbox.ttl. Now an address may leave `inbox.max_per_ip` kept messages per `inbox.ttl` on a node
(so at most twice that many of its messages are kept there at any time); beyond, a DM to an
offline user is refused with a defined answer (confab.v1 `inbox_full`, seed 004 429) and
counted, while DMs that are delivered live cost nothing and other addresses are unaffected."""
from confabtest import (Client, assert_bystander_unaffected, assert_error, close_all, free_port,
                        uniq)
from test_accounts import hello_token
from test_cluster import start_nodes
from test_dialect_004 import T4, Ttu, ttu_conf
from test_inbox import account, wait_dms

LIMIT = 3
CONF = {("inbox", "max_per_ip"): LIMIT}


async def flood_offline_account(server, sender):
    """Keeps LIMIT DMs for an offline account from sender's address, then shows the next one
    refused; returns the account's token and the refused reply."""
    bob = uniq("bob")
    token = await account(server, bob)
    for i in range(LIMIT):
        r = await sender.ok("dm", to=bob, text=f"kept{i}")
        assert r["queued"] is True, r
    r = await sender.send_cmd("dm", to=bob, text="one too many")
    assert_error(r, "inbox_full")
    assert "max_per_ip" in r["error"]["message"], r
    return bob, token


async def test_an_address_keeps_at_most_max_per_ip(start_server):
    s = start_server(CONF)
    alice = await Client.connect(s, uniq("alice"))
    # Live DMs to an online account cost the address nothing.
    carol = uniq("carol")
    ctoken = await account(s, carol)
    c, _ = await hello_token(s, ctoken)
    for i in range(2 * LIMIT):
        r = await alice.ok("dm", to=carol, text=f"live{i}")
        assert "queued" not in r, r
    await wait_dms(c, 2 * LIMIT)
    bob, token = await flood_offline_account(s, alice)
    assert s.metric("confab_inbox_limited_total") == 1
    assert s.metric("confab_inbox_messages") == LIMIT
    # Over its limit the address still reaches online users, live.
    r = await alice.ok("dm", to=carol, text="still live")
    assert "queued" not in r, r
    await assert_bystander_unaffected(s)
    # The kept ones are delivered as usual, the refused one never was kept.
    b, _ = await hello_token(s, token)
    assert await wait_dms(b, LIMIT) == [f"kept{i}" for i in range(LIMIT)]
    await close_all([alice, b, c])


async def test_seed_004_send_is_bounded_per_address(start_server):
    main, port = free_port(), free_port()
    s = start_server({**CONF, ("server", "listen"): [f"127.0.0.1:{main}", ttu_conf(port)],
                      ("server", "trusted_proxies"): ["127.0.0.1"]}, port=main)
    t = Ttu(s, port)
    away = uniq("away")
    for i in range(LIMIT):
        assert t.send("x", away, f"q{i}").status_code == 200
    r = t.send("x", away, "one too many")
    assert r.status_code == 429 and "max_per_ip" in r.text, (r.status_code, r.text)
    # Another client address (behind the trusted proxy) has its own allowance.
    r = t.send("x", away, "from elsewhere", headers={"X-Forwarded-For": "192.0.2.7"})
    assert r.status_code == 200, r.text
    await assert_bystander_unaffected(s)
    w = await T4.connect(port, away)
    await w.wait_payload("from elsewhere")
    assert w.payloads() == [f"q{i}" for i in range(LIMIT)] + ["from elsewhere"]
    await w.close()


async def test_cluster_an_address_keeps_at_most_max_per_ip(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2, CONF)
    alice = await Client.connect(a, uniq("alice"))
    _, token = await flood_offline_account(a, alice)
    assert a.metric("confab_inbox_limited_total") == 1
    await assert_bystander_unaffected(a)
    await assert_bystander_unaffected(b)
    c, _ = await hello_token(b, token)
    assert await wait_dms(c, LIMIT) == [f"kept{i}" for i in range(LIMIT)]
    await close_all([alice, c])
