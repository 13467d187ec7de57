# SPDX-License-Identifier: MIT
"""Hostile clients: WebSocket handshakes RFC 6455 refuses (issue 12, item 16).

lws 4.1 upgrades a `Sec-WebSocket-Version: 8` request, takes any `Sec-WebSocket-Key`, and
answered 404 to an upgrade by POST (it routed by the empty GET path). confab refuses them
before lws accepts: a version other than 13 gets 426 with `Sec-WebSocket-Version: 13`, a
missing version or a missing or malformed key (not the base64 of 16 bytes) 400, a method other
than GET 405 with `Allow: GET`. On every dialect's WebSocket path: native /v1/ws, seed 000 /ws,
seed 001 /ws on its listener, seed 002 /chat/join, seed 003 /v1/texto, seed 004's paths on its
listener. Native answers in JSON, the seeds in plain text as their servers did.

Each refusal ends its connection, and another client's chat and /healthz are unaffected
meanwhile; a correct handshake on the same path still gets 101."""
import asyncio
import base64
import json
import os

import pytest

from confabtest import (RawWS, Server, ServerStartError, assert_bystander_unaffected, free_port)

ORIGIN = "http://test.local"


@pytest.fixture(scope="module")
def srv(request):
    main, p001, p004 = free_port(), free_port(), free_port()
    s = Server({("server", "listen"): [f"127.0.0.1:{main}",
                                       f"127.0.0.1:{p001} dialects=redis_chat",
                                       f"127.0.0.1:{p004} dialects=ttu"],
                ("dialects", "disposable_origin"): ORIGIN}, port=main)
    request.node._confab_servers = [s]
    try:
        s.start()
    except ServerStartError as e:
        pytest.fail(f"confabd did not start: {e}\n{s.log_text()}")
    s.ports = {"main": main, "001": p001, "004": p004}
    room = s.post("/chat?name=hs")
    assert room.status_code == 201, room.text
    s.chatty_room = room.json()["id"]
    yield s
    code = s.stop()
    assert code == 0, f"confabd did not exit cleanly on SIGTERM (exit {code})\n{s.log_text()}"
    s.cleanup()


# (dialect, listener, path, subprotocol, json bodies)
PATHS = [
    ("native", "main", lambda s: "/v1/ws", "confab.v1", True),
    ("000", "main", lambda s: "/ws?name=abc&room=hsroom", None, False),
    ("001", "001", lambda s: "/ws", None, False),
    ("002", "main", lambda s: f"/chat/join?name=abc&room={s.chatty_room}", None, False),
    ("003", "main", lambda s: "/v1/texto", None, False),
    ("004", "004", lambda s: "/ws", None, False),
    ("004_any_path", "004", lambda s: "/some/where", None, False),
]

GOOD_KEY = base64.b64encode(os.urandom(16)).decode()
# (case, method, version header (None: absent), key header (None: absent), status)
CASES = [
    ("version_8", "GET", "8", GOOD_KEY, 426),
    ("version_14", "GET", "14", GOOD_KEY, 426),
    ("version_list", "GET", "13, 8", GOOD_KEY, 426),
    ("version_garbage", "GET", "x" * 40, GOOD_KEY, 426),
    ("version_missing", "GET", None, GOOD_KEY, 400),
    ("key_missing", "GET", "13", None, 400),
    ("key_empty", "GET", "13", "", 400),
    ("key_short", "GET", "13", "dGhlIHNhbXBsZSBub25jZQ", 400),
    ("key_15_bytes", "GET", "13", base64.b64encode(b"x" * 15).decode(), 400),
    ("key_17_bytes", "GET", "13", base64.b64encode(b"x" * 17).decode(), 400),
    ("key_bad_chars", "GET", "13", "dGhlIHNhbXBsZSBub25j!Q==", 400),
    ("key_no_padding", "GET", "13", GOOD_KEY[:22] + "AA", 400),
    ("key_long", "GET", "13", "A" * 300, 400),
    ("post", "POST", "13", GOOD_KEY, 405),
    ("put", "PUT", "13", GOOD_KEY, 405),
    ("delete", "DELETE", "13", GOOD_KEY, 405),
]


def origin_of(dialect):
    """Seed 002 takes its own origin only (the Host), seed 000 its configured one."""
    return "http://127.0.0.1" if dialect == "002" else ORIGIN


def handshake_bytes(method, path, version, key, subprotocol=None, origin=ORIGIN):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    if origin:
        lines.append(f"Origin: {origin}")
    if method != "GET":
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port, data):
    """Sends data; returns (response, what followed until the server closed)."""
    r = RawWS(port)
    try:
        r.sock.sendall(data)
        resp = r.read_http_head()
        if resp.status != 101:
            resp.body = r.read_http_body(resp.headers)
            rest = r.buf
            try:
                while True:
                    r._fill()
            except (EOFError, ConnectionError):
                pass
            rest = r.buf
        else:
            rest = None
        return resp, rest
    finally:
        r.close()


@pytest.mark.parametrize("case,method,version,key,status", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dialect,listener,path,subprotocol,is_json", PATHS,
                         ids=[p[0] for p in PATHS])
async def test_refused(srv, dialect, listener, path, subprotocol, is_json, case, method,
                       version, key, status):
    data = handshake_bytes(method, path(srv), version, key, subprotocol, origin_of(dialect))
    resp, rest = await asyncio.to_thread(exchange, srv.ports[listener], data)
    await assert_bystander_unaffected(srv, srv.ports.values())
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers.get("connection", "").lower() == "close", resp.headers
    assert rest == b"", rest[:200]
    if status == 426 or case == "version_missing":
        assert resp.headers.get("sec-websocket-version") == "13", resp.headers
    if status == 405:
        assert resp.headers.get("allow") == "GET", resp.headers
    if is_json:
        body = json.loads(resp.body)
        assert body["error"]["code"] == {405: "method_not_allowed", 426: "unsupported_version",
                                         400: "bad_handshake"}[status], body
    else:
        assert resp.headers["content-type"] == "text/plain; charset=utf-8", resp.headers
        assert resp.body == {400: b"Bad Request\n", 405: b"Method Not Allowed\n",
                             426: b"Upgrade Required\n"}[status], resp.body


@pytest.mark.parametrize("dialect,listener,path,subprotocol,is_json", PATHS,
                         ids=[p[0] for p in PATHS])
async def test_valid_handshake_still_upgrades(srv, dialect, listener, path, subprotocol,
                                              is_json):
    key = base64.b64encode(os.urandom(16)).decode()
    resp, _ = await asyncio.to_thread(exchange, srv.ports[listener],
                                      handshake_bytes("GET", path(srv), "13", key, subprotocol,
                                                      origin_of(dialect)))
    assert resp.status == 101, (resp.status, resp.body)
    await assert_bystander_unaffected(srv, srv.ports.values())


async def test_not_a_websocket_path_is_404(srv):
    """The RFC checks apply where a WebSocket endpoint is: elsewhere the answer stays 404."""
    resp, _ = await asyncio.to_thread(exchange, srv.port,
                                      handshake_bytes("POST", "/nowhere", "8", "x"))
    assert resp.status == 404, (resp.status, resp.body)
    await assert_bystander_unaffected(srv, srv.ports.values())
