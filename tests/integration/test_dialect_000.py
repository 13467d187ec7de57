# SPDX-License-Identifier: MIT
"""Seed 000, disposable-chat (docs/seed-dialects.md "Seed 000", docs/dialects.md): /ws?name=&room=
and /health beside confab.v1, against the real binary."""
import json
import re
import urllib.parse

import pytest

from confabtest import (OP_BIN, OP_CLOSE, OP_TEXT, Client, FrameClient, RawWS, T, close_all,
                        uniq)
from test_cluster import start_nodes

ORIGIN = "http://test.local"
SHARED_CONF = {("dialects", "disposable_origin"): ORIGIN}
PARAMS_ERR = ("Provide `name` and `room` query parameters, with size between 3 and 30 "
              "characters. `room` must contain only alphanumeric, hyphen and underscore "
              "characters.")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def ws_path(name, room):
    return "/ws?" + urllib.parse.urlencode({"name": name, "room": room})


class D0(FrameClient):
    """A disposable-chat client: frames are single JSON objects {"type","data"}."""

    @classmethod
    async def connect(cls, server, name, room, origin=ORIGIN):
        c = cls(await cls.open(server, ws_path(name, room), origin), name)
        # The welcome, then the joiner's own registered.
        await c.wait(lambda f: len(c.frames) >= 2, "welcome and registered")
        w, reg = c.frames[:2]
        assert w["type"] == "welcome" and reg["type"] == "info", c.frames[:2]
        assert reg["data"]["action"] == "registered", reg
        c.id = reg["data"]["client"]["id"]
        assert {"id": c.id, "name": name} in w["data"]["room"]["activeClients"], w
        return c

    async def send(self, text):
        await self.ws.send(json.dumps({"text": text}))

    def chats(self):
        return [f for f in self.frames if f["type"] == "chat"]

    def errors(self):
        return [f["data"]["text"] for f in self.frames if f["type"] == "error"]

    async def wait_chat(self, text, sender=None):
        return await self.wait(lambda f: f["type"] == "chat" and f["data"]["text"] == text and
                               (sender is None or f["data"]["client"]["id"] == sender),
                               f"chat {text[:20]!r}")

    async def wait_info(self, action, cid):
        return await self.wait(lambda f: f["type"] == "info" and f["data"]["action"] == action
                               and f["data"]["client"]["id"] == cid, f"info {action}")

    async def wait_error(self, n):
        await self.wait(lambda f: len(self.errors()) >= n, f"{n} errors")
        return self.errors()


def handshake(server, path, origin=ORIGIN):
    r = RawWS(server.port)
    try:
        return r.handshake(path=path, subprotocol=None, origin=origin)
    finally:
        r.close()


def assert_plain(resp, status, body):
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers.get("content-type") == "text/plain; charset=utf-8", resp.headers
    assert resp.body == body.encode(), resp.body


# ---- HTTP and the handshake ------------------------------------------------------------------

def test_health_and_param_validation(shared_server):
    r = shared_server.get("/health")
    assert r.status_code == 200 and r.content == b""
    bad = [
        ws_path("al", "lobby"),         # name 2 bytes
        ws_path("alice", "lo"),          # room 2 bytes
        ws_path("a" * 31, "lobby"),      # name 31 bytes
        ws_path("alice", "r" * 31),      # room 31 bytes
        ws_path("é" * 16, "lobby"),      # 16 characters, 32 bytes
        ws_path("   ", "lobby"),         # empty after trimming
        ws_path("alice", "a b"),
        ws_path("alice", "lobby!"),
        ws_path("alice", "lobbÿ"),
        "/ws?name=alice",
        "/ws?room=lobby",
        "/ws",
    ]
    for path in bad:
        # Plain GET and upgrade alike; before the Origin check (a wrong origin still gets 400).
        r = shared_server.get(path)
        assert r.status_code == 400 and r.text == PARAMS_ERR, (path, r.status_code, r.text)
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert_plain(handshake(shared_server, path, origin="http://evil.example"), 400,
                     PARAMS_ERR)
    # Valid parameters without an upgrade: gorilla's refusal.
    r = shared_server.get(ws_path("alice", "lobby"))
    assert r.status_code == 400 and r.text.startswith("Bad Request\n"), r.text
    # Byte lengths 3 and 30 are accepted, for the name (any text) and the room.
    for name, room in (("abc", "r-_"), ("a" * 30, "R" * 30), ("é" * 15, "Zz9"), ("a b", "x_y")):
        assert handshake(shared_server, ws_path(name, room)).status == 101, (name, room)


async def test_plus_and_trimming(shared_server):
    room = uniq("trim").replace("-", "_")
    a = await D0.connect(shared_server, "alice", room)
    # '+' is a space and the value is trimmed: " alice " -> "alice"; "bo b" keeps its space.
    r = RawWS(shared_server.port)
    resp = r.handshake(path=f"/ws?name=%20%20alice%20&room=+{room}+", subprotocol=None,
                       origin=ORIGIN)
    assert resp.status == 101
    op, payload = r.recv_message()
    w = json.loads(payload)
    assert w["type"] == "welcome" and w["data"]["room"]["name"] == room
    assert sorted(x["name"] for x in w["data"]["room"]["activeClients"]) == ["alice", "alice"]
    r.close()
    b = await D0.connect(shared_server, "bo+b", room)  # urlencode: '+' -> %2B, kept
    c_path = f"/ws?name=bo+b&room={room}"
    r = RawWS(shared_server.port)
    assert r.handshake(path=c_path, subprotocol=None, origin=ORIGIN).status == 101
    op, payload = r.recv_message()
    assert "bo b" in [x["name"] for x in json.loads(payload)["data"]["room"]["activeClients"]]
    r.close()
    await close_all([a, b])


def test_origin_exact(shared_server):
    path = ws_path("alice", uniq("o").replace("-", "_"))
    assert_plain(handshake(shared_server, path, origin="http://evil.example"), 403,
                 "Forbidden\nwebsocket: request origin not allowed by Upgrader.CheckOrigin")
    for origin in (None, "http://test.local:80", "https://test.local", "HTTP://TEST.LOCAL",
                   "http://test.local/"):
        assert handshake(shared_server, path, origin=origin).status == 403, origin
    assert handshake(shared_server, path, origin=ORIGIN).status == 101


def test_origin_empty_and_switch(start_server):
    # No disposable_origin: only clients without an Origin get in (ACCEPTED_ORIGIN unset).
    s = start_server({})
    path = ws_path("alice", "lobby")
    assert handshake(s, path, origin=None).status == 101
    assert handshake(s, path, origin=ORIGIN).status == 403
    # ACCEPTED_ORIGIN sets it, the file's key wins over it.
    s2 = start_server({}, env={"ACCEPTED_ORIGIN": ORIGIN})
    assert handshake(s2, path, origin=ORIGIN).status == 101
    s3 = start_server({("dialects", "disposable_origin"): "http://file.example"},
                      env={"ACCEPTED_ORIGIN": ORIGIN})
    assert handshake(s3, path, origin="http://file.example").status == 101
    assert handshake(s3, path, origin=ORIGIN).status == 403
    # Off: /ws and /health are not served; confab.v1 still is.
    s4 = start_server({("dialects", "disposable_chat"): 0})
    assert s4.get("/health").status_code == 404
    assert handshake(s4, path, origin=None).status == 404
    r = RawWS(s4.port)
    assert r.handshake().status == 101
    r.close()


# ---- events ----------------------------------------------------------------------------------

async def test_welcome_registered_chat_unregistered(shared_server):
    room, other = uniq("r").replace("-", "_"), uniq("r").replace("-", "_")
    alice = await D0.connect(shared_server, "alice", room)
    assert UUID4.match(alice.id), alice.id
    w = alice.frames[0]
    assert w == {"type": "welcome", "data": {"room": {
        "name": room, "activeClients": [{"id": alice.id, "name": "alice"}]}}}
    assert alice.frames[1] == {"type": "info", "data": {
        "room": {"name": room}, "client": {"id": alice.id, "name": "alice"},
        "action": "registered"}}
    bob = await D0.connect(shared_server, "bob", room)
    wb = bob.frames[0]["data"]["room"]
    assert sorted(wb["activeClients"], key=lambda x: x["name"]) == [
        {"id": alice.id, "name": "alice"}, {"id": bob.id, "name": "bob"}]
    # The joiner's own registered comes after its welcome; alice hears of bob.
    assert bob.frames[1]["type"] == "info" and bob.frames[1]["data"]["client"]["id"] == bob.id
    await alice.wait_info("registered", bob.id)
    carol = await D0.connect(shared_server, "carol", other)
    # Same name twice: distinct ids.
    alice2 = await D0.connect(shared_server, "alice", room)
    assert alice2.id != alice.id

    await alice.send("hi <&>")
    for c in (alice, bob, alice2):
        f = await c.wait_chat("hi <&>")
        assert f == {"type": "chat", "data": {"room": {"name": room},
                                              "client": {"id": alice.id, "name": "alice"},
                                              "text": "hi <&>"}}
    await carol.send("elsewhere")
    await carol.wait_chat("elsewhere")
    await bob.send("after")
    await alice.wait_chat("after")
    assert not [f for f in alice.chats() if f["data"]["text"] == "elsewhere"]
    assert not [f for f in carol.frames if f["type"] == "chat" and
                f["data"]["room"]["name"] == room]

    await bob.close()
    for c in (alice, alice2):
        f = await c.wait_info("unregistered", bob.id)
        assert f["data"] == {"room": {"name": room}, "client": {"id": bob.id, "name": "bob"},
                             "action": "unregistered"}
    dave = await D0.connect(shared_server, "dave", room)
    ids = {x["id"] for x in dave.frames[0]["data"]["room"]["activeClients"]}
    assert ids == {alice.id, alice2.id, dave.id}
    await close_all([alice, alice2, carol, dave])


async def test_text_rules(shared_server):
    room = uniq("t").replace("-", "_")
    a = await D0.connect(shared_server, "alice", room)
    b = await D0.connect(shared_server, "bob", room)
    empty, over = "'text' must not be empty", "'text' must not contain over 300 characters"
    await a.ws.send(json.dumps({"text": ""}))
    await a.ws.send("not json")
    await a.ws.send(json.dumps({"x": 1}))
    await a.ws.send(json.dumps({"text": 5}))
    await a.ws.send("[1,2]")
    await a.send("x" * 301)
    await a.ws.send(json.dumps({"text": "é" * 151}, ensure_ascii=False))  # 302 bytes
    assert await a.wait_error(7) == [empty] * 5 + [over] * 2
    assert a.frames[-1] == {"type": "error", "data": {"text": over}}
    await a.send("y" * 300)
    await a.send("   ")  # white space is text
    await a.ws.send(json.dumps({"Text": "case"}))  # Go matches keys without case
    await a.ws.send(json.dumps({"text": "bin"}).encode())  # binary = text
    for text in ("y" * 300, "   ", "case", "bin"):
        await b.wait_chat(text, a.id)
        await a.wait_chat(text, a.id)
    assert not b.errors() and len(a.errors()) == 7
    await close_all([a, b])


async def test_frame_limit_1009_and_invalid_utf8(shared_server):
    room = uniq("big").replace("-", "_")
    a = await D0.connect(shared_server, "alice", room)
    b = await D0.connect(shared_server, "bob", room)
    # 512 bytes is within the limit (an error for the long text, not a close).
    big = json.dumps({"text": "z" * 500})
    assert len(big) == 512
    await b.ws.send(big)
    assert (await b.wait_error(1))[0].startswith("'text' must not contain")
    await b.ws.send("x" * 513)
    assert await b.closed_code() == 1009
    await a.wait_info("unregistered", b.id)
    # Invalid UTF-8 in a text frame closes that connection only.
    r = RawWS(shared_server.port)
    assert r.handshake(path=ws_path("carol", room), subprotocol=None,
                       origin=ORIGIN).status == 101
    r.recv_message()
    r.recv_message()
    r.send_frame(OP_TEXT, b'{"text":"\xff\xfe"}')
    _objs, how = r.read_until_close()
    assert how[0] in ("close", "eof", "reset") and how != ("close", 1000), how
    r.close()
    await a.send("still here")
    await a.wait_chat("still here", a.id)
    assert not a.closed
    await close_all([a])


async def test_binary_frame_raw(shared_server):
    room = uniq("bin").replace("-", "_")
    r = RawWS(shared_server.port)
    assert r.handshake(path=ws_path("alice", room), subprotocol=None,
                       origin=ORIGIN).status == 101
    welcome = json.loads(r.recv_message()[1])
    me = welcome["data"]["room"]["activeClients"][0]["id"]
    r.recv_message()
    r.send_frame(OP_BIN, b'{"text":"raw bin"}')
    op, payload = r.recv_message()
    assert op == OP_TEXT
    assert json.loads(payload)["data"] == {"room": {"name": room},
                                           "client": {"id": me, "name": "alice"},
                                           "text": "raw bin"}
    r.send_close(1000)
    op, _ = r.recv_message()
    assert op == OP_CLOSE
    r.close()


# ---- with confab.v1 --------------------------------------------------------------------------

async def test_cross_dialect(shared_server):
    room = uniq("x").replace("-", "_")
    nat = await Client.connect(shared_server, "natalie")
    await nat.join(room)
    d = await D0.connect(shared_server, "dora", room)
    # The 000 client sees the native user in its welcome, the native one sees dora join; each
    # under its id (docs/protocol.md "Identities": guest:natalie, disposable:<uuid>).
    assert {"id": "guest:natalie", "name": "natalie"} in \
        d.frames[0]["data"]["room"]["activeClients"]
    await nat.wait_event(lambda e: e.get("ev") == "join" and
                         e["user"]["id"] == f"disposable:{d.id}")
    await nat.send(room, "from native")
    f = await d.wait_chat("from native")
    assert f["data"] == {"room": {"name": room},
                         "client": {"id": "guest:natalie", "name": "natalie"},
                         "text": "from native"}
    await d.send("from 000")
    m = await nat.wait_event(lambda e: e.get("ev") == "msg" and e["text"] == "from 000")
    assert m["room"] == room and m["from"] == {"id": f"disposable:{d.id}", "name": "dora"}
    await nat.ok("leave", room=room)
    await d.wait_info("unregistered", "guest:natalie")
    await d.close()
    await close_all([nat])


# ---- two nodes -------------------------------------------------------------------------------

async def test_two_nodes(start_server, redis):
    a, b = await start_nodes(start_server, redis, 2,
                             {("dialects", "disposable_origin"): ORIGIN})
    room = uniq("c").replace("-", "_")
    alice = await D0.connect(a, "alice", room)
    bob = await D0.connect(b, "bob", room)
    ids = {x["id"] for x in bob.frames[0]["data"]["room"]["activeClients"]}
    assert ids == {alice.id, bob.id}
    await alice.wait_info("registered", bob.id)
    await alice.send("a to b")
    await bob.wait_chat("a to b", alice.id)
    await alice.wait_chat("a to b", alice.id)
    await bob.send("b to a")
    await alice.wait_chat("b to a", bob.id)
    # bob was node b's last member of the room: alice on node a still hears he left.
    await bob.close()
    await alice.wait_info("unregistered", bob.id)
    carol = await D0.connect(b, "carol", room)
    assert {x["id"] for x in carol.frames[0]["data"]["room"]["activeClients"]} == \
        {alice.id, carol.id}
    await close_all([alice, carol])
