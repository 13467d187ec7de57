# SPDX-License-Identifier: MIT
"""Hostile clients against the HTTP layer's limits and parsers (issue 12, items 8 and 10).

Each test asserts the attacker's defined answer and that another client's chat and /healthz
are unaffected meanwhile (the harness checks the exit status on SIGTERM, and the sanitizer's
or valgrind's verdict with CONFAB_ASAN=1 or CONFAB_VALGRIND=1)."""
import asyncio
import json

import pytest
import requests

from confabtest import (ADMIN_TOKEN, Client, RawWS, T, close_all, free_port, raw_http, uniq)

AUTH = f"Authorization: Bearer {ADMIN_TOKEN}\r\n"


async def bystander(server, port=None):
    """Another client's chat works and /healthz answers."""
    room = uniq("by")
    a = await Client.connect(server, uniq("a"))
    b = await Client.connect(server, uniq("b"))
    await a.join(room)
    await b.join(room)
    r = await a.send(room, "still here")
    await b.wait_msg(room, r["seq"])
    await close_all([a, b])
    r = await asyncio.to_thread(requests.get, f"http://127.0.0.1:{port or server.port}/healthz",
                                timeout=T(5))
    assert r.status_code == 200, r.text


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
])
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
    await bystander(s)
    assert s.alive()
