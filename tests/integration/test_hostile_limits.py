# SPDX-License-Identifier: MIT
"""Hostile clients against the HTTP layer's limits and parsers (issue 12, items 8 and 10).

Each test asserts the attacker's defined answer and that another client's chat and /healthz
are unaffected meanwhile (the harness checks the exit status on SIGTERM, and the sanitizer's
or valgrind's verdict with CONFAB_ASAN=1 or CONFAB_VALGRIND=1)."""
import asyncio
import json

import pytest

from confabtest import (ADMIN_TOKEN, RawWS, assert_bystander_unaffected, free_port, raw_http)

AUTH = f"Authorization: Bearer {ADMIN_TOKEN}\r\n"


# ---- item 10: an empty POST body

def empty_post(path, headers=""):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 0\r\n\r\n").encode()


@pytest.mark.parametrize("path,headers,status", [
    ("/api/v1/rooms/x/messages", "", 401),
    ("/api/v1/rooms/x/messages", AUTH, 400),
    ("/api/v1/users/someone/messages", "", 401),
    ("/api/v1/users/someone/messages", AUTH, 400),
    ("/chat?name=empty-body", "", 201),
    ("/nowhere", "", 404),
    ("/ttu/api/send", "X-Username: mallory\r\n", 400),
    ("/ttu/api/receive", "", 400),
], ids=["room_noauth", "room_auth", "dm_noauth", "dm_auth", "chatty_create", "unknown",
        "ttu_send", "ttu_receive"])
async def test_empty_post_body(start_server, path, headers, status):
    """Content-Length: 0 gives lws's body callback a NULL pointer: answered as an empty body
    (the sanitizer build aborted on memcpy(p, NULL, 0) before)."""
    main, ttu = free_port(), free_port()
    s = start_server({("server", "listen"): [f"127.0.0.1:{main}",
                                             f"127.0.0.1:{ttu} dialects=ttu"]}, port=main)
    port = main
    if path.startswith("/ttu/"):
        port, path = ttu, path[4:]
    resp = await asyncio.to_thread(raw_http, port, empty_post(path, headers))
    assert resp.status == status, (resp.status, resp.body)
    if port == main and path.startswith("/api/"):
        assert json.loads(resp.body)["error"]["code"] in ("unauthorized", "bad_request")
    await assert_bystander_unaffected(s)
    assert s.alive()


# ---- item 8: X-Forwarded-For at any length

XFF_CONF = {("server", "trusted_proxies"): "127.0.0.1",
            ("server", "max_connections_per_ip"): 2}
CLIENT = "203.0.113.7"


def long_xff(client=CLIENT, size=3000):
    """What a client wrote (size bytes of addresses), its address as our proxy saw it, then
    the proxy's own address."""
    junk, i = [], 0
    while sum(len(x) + 2 for x in junk) < size:
        junk.append(f"198.51.100.{i % 250}")
        i += 1
    return ", ".join(junk + [client, "127.0.0.1"])


def upgrade_with(port, xff):
    r = RawWS(port)
    resp = r.handshake(headers={"X-Forwarded-For": xff})
    return r, resp


@pytest.mark.conf(XFF_CONF)
async def test_long_forwarded_for_counts_against_its_address(server):
    """Two sessions for 203.0.113.7 through the proxy (short header), then a third whose header
    is 3 KB: it is the same client, over server.max_connections_per_ip (429). The old 512-byte
    copy failed on it and counted the session as the proxy's."""
    held = []
    for _ in range(2):
        r, resp = await asyncio.to_thread(upgrade_with, server.port, CLIENT)
        assert resp.status == 101, (resp.status, resp.body)
        held.append(r)
    assert len(long_xff()) > 3000
    r, resp = await asyncio.to_thread(upgrade_with, server.port, long_xff())
    held.append(r)
    assert resp.status == 429, (resp.status, resp.body)
    assert json.loads(resp.body)["error"]["code"] == "too_many_connections"
    # Another client (counted as the proxy, 127.0.0.1) chats meanwhile.
    await assert_bystander_unaffected(server)
    for r in held:
        r.close()


@pytest.mark.conf(XFF_CONF)
async def test_long_forwarded_for_names_its_client(server):
    """A header near lws's header limit still names the client: a different address is not
    limited by 203.0.113.7's sessions."""
    held = []
    for _ in range(2):
        r, resp = await asyncio.to_thread(upgrade_with, server.port, long_xff(size=3500))
        assert resp.status == 101, (resp.status, resp.body)
        held.append(r)
    r, resp = await asyncio.to_thread(upgrade_with, server.port,
                                      long_xff(client="2001:db8::7", size=3500))
    held.append(r)
    assert resp.status == 101, (resp.status, resp.body)
    await assert_bystander_unaffected(server)
    for r in held:
        r.close()


@pytest.mark.conf(XFF_CONF)
@pytest.mark.parametrize("xff", ["unknown", "203.0.113.7:4711", "203.0.113.7,", "",
                                 "1.2.3.4, , 127.0.0.1", "a" * 2000],
                         ids=["unknown", "port", "trailing_comma", "blank_after_proxy",
                              "empty_entry", "long_garbage"])
async def test_unparsable_forwarded_for_is_refused(server, xff):
    """From a trusted proxy, a header that names no client is refused with 400, for an
    upgrade and for a plain request; it is never counted as the proxy's address."""
    if xff == "":
        xff = ", 127.0.0.1"  # an empty entry right of which only the proxy stands
    r, resp = await asyncio.to_thread(upgrade_with, server.port, xff)
    r.close()
    assert resp.status == 400, (resp.status, resp.body)
    assert json.loads(resp.body)["error"]["code"] == "bad_forwarded_for"
    req = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {xff}\r\n\r\n".encode()
    plain = await asyncio.to_thread(raw_http, server.port, req)
    assert plain.status == 400, (plain.status, plain.body)
    assert json.loads(plain.body)["error"]["code"] == "bad_forwarded_for"
    await assert_bystander_unaffected(server)
