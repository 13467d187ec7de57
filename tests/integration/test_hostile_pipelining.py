# SPDX-License-Identifier: MIT
"""Hostile clients: HTTP requests pipelined on one connection (issue 12, item 1).

lws 4.1.6 loops forever in lws_http_action() when a request with a body is parsed from the
bytes pipelined behind another one, and repeats HTTP_BODY_COMPLETION while pipelined bytes wait
(src/net/http.c, the comment above request_in()). confab therefore answers one request per
connection, with `Connection: close`, and drops what was pipelined behind it.

Every case here: an attacker writes two requests in one write (or a body split across writes)
on every endpoint that takes a body, on every listener kind; while its connection is open,
another client chats and /healthz answers; then the attacker reads exactly the answer the first
request gets on its own, with `Connection: close`, and then EOF. The server exits 0 on SIGTERM
afterwards (the fixtures check it). Before the fix the first such case froze the loop."""
import asyncio
import base64
import json
import os
import socket

import pytest
import requests

from confabtest import (ADMIN_TOKEN, Server, ServerStartError, T, assert_bystander_unaffected,
                        free_port, uniq)

AUTH = f"Authorization: Bearer {ADMIN_TOKEN}\r\n"


# ---- the server: the default set (native, 000, 002, 003), 001 and 004 on listeners of their own

@pytest.fixture(scope="module")
def srv(request):
    main, p001, p004 = free_port(), free_port(), free_port()
    s = Server({("server", "listen"): [f"127.0.0.1:{main}",
                                       f"127.0.0.1:{p001} dialects=redis_chat",
                                       f"127.0.0.1:{p004} dialects=ttu"]}, port=main)
    request.node._confab_servers = [s]
    try:
        s.start()
    except ServerStartError as e:
        pytest.fail(f"confabd did not start: {e}\n{s.log_text()}")
    s.ports = {"main": main, "001": p001, "004": p004}
    yield s
    code = s.stop()
    assert code == 0, f"confabd did not exit cleanly on SIGTERM (exit {code})\n{s.log_text()}"
    s.cleanup()


# ---- the requests

def req(method, path, body=None, headers=""):
    if body is None:
        return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def upgrade(path="/v1/ws", version="13", key=None, method="GET", proto="confab.v1",
            extra=""):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Protocol: {proto}\r\n"
            f"{extra}\r\n").encode()


def ttu_send(receiver="nobody-here"):
    return req("POST", "/api/send", json.dumps({"receiver": receiver, "payload": "hi"}).encode(),
               "X-Username: mallory\r\nContent-Type: application/json\r\n")


# Every endpoint that takes a body, by listener: (name, listener, request builder). Each builder
# takes a room name (unique per test) so that effects can be counted.
BODY_ENDPOINTS = [
    ("native_room_message", "main",
     lambda r: req("POST", f"/api/v1/rooms/{r}/messages", b'{"text":"pipelined"}', AUTH)),
    ("native_room_message_noauth", "main",
     lambda r: req("POST", f"/api/v1/rooms/{r}/messages", b'{"text":"pipelined"}')),
    ("native_room_message_empty", "main",
     lambda r: req("POST", f"/api/v1/rooms/{r}/messages", b"", AUTH)),
    ("native_dm", "main",
     lambda r: req("POST", f"/api/v1/users/{r}/messages", b'{"text":"pipelined"}', AUTH)),
    ("native_history_post", "main", lambda r: req("POST", f"/api/v1/rooms/{r}/history", b"x")),
    ("chatty_create", "main", lambda r: req("POST", f"/chat?name={r}", b"name=x")),
    ("chatty_join_post", "main", lambda r: req("POST", f"/chat/join?name=a&room={r}", b"x")),
    ("disposable_ws_post", "main", lambda r: req("POST", f"/ws?name=abc&room={r}", b"x")),
    ("disposable_health_post", "main", lambda r: req("POST", "/health", b"x")),
    ("texto_post", "main", lambda r: req("POST", "/v1/texto", b"x")),
    ("healthz_post", "main", lambda r: req("POST", "/healthz", b"x")),
    ("unknown_post", "main", lambda r: req("POST", f"/nowhere/{r}", b"x")),
    ("put_unknown", "main", lambda r: req("PUT", f"/nowhere/{r}", b"x")),
    ("redis_chat_ws_post", "001", lambda r: req("POST", "/ws", b"x")),
    ("redis_chat_links_post", "001", lambda r: req("POST", "/links", b"x")),
    ("ttu_send", "004", lambda r: ttu_send(r)),
    ("ttu_receive", "004",
     lambda r: req("POST", "/api/receive",
                   json.dumps({"receiver": r, "sender": "m", "payload": "p"}).encode())),
    ("ttu_login", "004", lambda r: req("POST", "/api/login", b"{}")),
]
GET_HEALTHZ = req("GET", "/healthz")


# ---- the client side

async def open_conn(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def write(writer, *chunks):
    for c in chunks:
        writer.write(c)
        await writer.drain()


async def read_response(reader):
    """One HTTP response: (status, headers, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T(10))
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), T(10))
    return status, headers, body


async def read_rest(reader):
    """What follows, until the server closes (b"" when nothing)."""
    out = b""
    while True:
        try:
            d = await asyncio.wait_for(reader.read(65536), T(10))
        except ConnectionResetError:
            return out
        if not d:
            return out
        out += d


async def alone(port, request):
    """The status of request sent alone on its own connection."""
    reader, writer = await open_conn(port)
    await write(writer, request)
    status, _h, _b = await read_response(reader)
    writer.close()
    return status


async def healthz(port):
    r = await asyncio.to_thread(requests.get, f"http://127.0.0.1:{port}/healthz", timeout=T(5))
    assert r.status_code == 200, r.text


async def attack(srv, listener, chunks, first):
    """Writes chunks on one connection; while it is open, checks the bystander; then reads.
    Asserts exactly one answer (first's own status), Connection: close, then EOF."""
    port = srv.ports[listener]
    reader, writer = await open_conn(port)
    await write(writer, *chunks)
    await assert_bystander_unaffected(srv, srv.ports.values())
    status, headers, body = await read_response(reader)
    rest = await read_rest(reader)
    writer.close()
    assert headers.get("connection", "").lower() == "close", headers
    assert rest == b"", f"more than one answer on the connection: {rest[:200]!r}"
    return status, body


def history_count(srv, room):
    r = requests.get(f"http://127.0.0.1:{srv.port}/api/v1/rooms/{room}/history", timeout=T(5))
    return len(r.json()["messages"]) if r.status_code == 200 else 0


# ---- pipelining of every kind on every endpoint that takes a body

KINDS = ["post_get", "post_post", "get_post", "split_first_body", "split_second_body",
         "post_upgrade"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,listener,make", BODY_ENDPOINTS, ids=[e[0] for e in BODY_ENDPOINTS])
async def test_pipelined(srv, name, listener, make, kind):
    room = uniq("pipe")
    post = make(room)
    head, _, body = post.partition(b"\r\n\r\n")
    head += b"\r\n\r\n"
    if kind == "post_get":
        chunks, first = [post + GET_HEALTHZ], post
    elif kind == "post_post":
        chunks, first = [post + post], post
    elif kind == "get_post":
        chunks, first = [GET_HEALTHZ + post], GET_HEALTHZ
    elif kind == "split_first_body":
        cut = len(body) // 2
        chunks, first = [head + body[:cut], body[cut:] + post], post
    elif kind == "split_second_body":
        cut = len(body) // 2
        chunks, first = [post + head + body[:cut], body[cut:]], post
    else:  # post_upgrade: an upgrade pipelined behind a request with a body
        chunks, first = [post + upgrade()], post
    # The answer the first request gets on its own (a fresh room: effects do not count twice).
    want = await alone(srv.ports[listener], make(uniq("alone")) if first is post else first)
    status, _body = await attack(srv, listener, chunks, first)
    assert status == want, (status, want, _body)
    if name == "native_room_message":
        # The message is published once: never again for the repeated BODY_COMPLETION, never
        # for the dropped second request.
        assert history_count(srv, room) == (1 if first is post else 0)


# ---- GET + GET, and upgrades pipelined

@pytest.mark.parametrize("path", ["/healthz", "/api/v1/rooms", "/", "/metrics"])
async def test_pipelined_get_get(srv, path):
    g = req("GET", path)
    status, _ = await attack(srv, "main", [g + g], g)
    assert status == 200


async def test_pipelined_get_then_upgrade(srv):
    status, _ = await attack(srv, "main", [GET_HEALTHZ + upgrade()], GET_HEALTHZ)
    assert status == 200


@pytest.mark.parametrize("listener,refused,want", [
    ("main", upgrade(version="8"), 426),
    ("main", upgrade(key="short"), 400),
    ("main", upgrade(path="/nowhere"), 404),
    ("main", upgrade(method="POST"), 405),
    ("001", upgrade(version="7", path="/ws"), 426),
    ("004", upgrade(key="", path="/ws"), 400),
], ids=["version8", "short_key", "no_endpoint", "post", "001_version7", "004_empty_key"])
async def test_refused_upgrade_then_post(srv, listener, refused, want):
    """A refused upgrade ends its connection: the POST behind it is not parsed."""
    post = ttu_send() if listener == "004" else req("POST", "/nowhere", b"x")
    status, _ = await attack(srv, listener, [refused + post], refused)
    assert status == want


async def test_unknown_upgrade_then_post(srv):
    """lws answers `Upgrade: foo` itself (403); the POST pipelined behind is dropped."""
    foo = b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"
    reader, writer = await open_conn(srv.port)
    await write(writer, foo + req("POST", "/nowhere", b"x"))
    await assert_bystander_unaffected(srv, srv.ports.values())
    status, _h, _b = await read_response(reader)
    rest = await read_rest(reader)
    writer.close()
    assert status == 403
    assert rest == b"", rest[:200]


async def test_accepted_upgrade_then_http_bytes(srv):
    """HTTP pipelined behind an accepted upgrade is WebSocket garbage: the session closes
    (1002, unmasked frame), nothing else is disturbed."""
    reader, writer = await open_conn(srv.port)
    await write(writer, upgrade() + req("POST", "/nowhere", b"x") + GET_HEALTHZ)
    await assert_bystander_unaffected(srv, srv.ports.values())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T(10))
    assert head.startswith(b"HTTP/1.1 101"), head
    rest = await read_rest(reader)
    writer.close()
    assert b"HTTP/1.1" not in rest, rest[:200]
    if rest:  # a close frame, if the server said why before it closed
        assert rest[0] == 0x88, rest[:20]


# ---- SIGTERM while pipelined connections wait

async def test_sigterm_after_pipelined_posts(start_server):
    s = start_server()
    conns = []
    for chunks in ([GET_HEALTHZ + req("POST", "/nowhere", b"x")],
                   [req("POST", "/nowhere", b"x") * 2],
                   [req("POST", "/api/v1/rooms/sig/messages", b'{"text":"t"}', AUTH) * 2]):
        reader, writer = await open_conn(s.port)
        await write(writer, *chunks)
        conns.append((reader, writer))
    for reader, _w in conns:
        status, _h, _b = await read_response(reader)
        assert status in (200, 404), status
    await healthz(s.port)
    s.sigterm()
    code = await asyncio.to_thread(s.wait_exit, T(15))
    assert code == 0, f"exit {code} after SIGTERM\n{s.log_text()[-2000:]}"
    for _r, w in conns:
        w.close()


# ---- cluster mode: answers that wait for Redis hold their connection meanwhile

@pytest.mark.parametrize("kind", ["post_get", "post_post"])
@pytest.mark.parametrize("endpoint", ["room_message", "chatty_create"])
async def test_pipelined_while_waiting_for_redis(redis_factory, start_server, endpoint, kind):
    """In cluster mode the admin POST and POST /chat are answered once Redis replies; the
    connection is flow-controlled meanwhile (no spinning on the pipelined bytes, no second
    publish), then answered once with Connection: close."""
    from test_cluster import node_conf, wait_healthy
    redis = redis_factory()
    s = start_server(node_conf(redis, "pipe-node"))
    await wait_healthy(s)
    s.ports = {"main": s.port}
    room = uniq("pipe")
    post = (req("POST", f"/api/v1/rooms/{room}/messages", b'{"text":"once"}', AUTH)
            if endpoint == "room_message" else req("POST", f"/chat?name={room}", b"x"))
    second = post if kind == "post_post" else GET_HEALTHZ
    status, body = await attack(s, "main", [post + second], post)
    assert status == (200 if endpoint == "room_message" else 201), body
    if endpoint == "room_message":
        assert history_count(s, room) == 1
