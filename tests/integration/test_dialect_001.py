# SPDX-License-Identifier: MIT
"""Seed 001, basic-redis-chat-demo-go (docs/seed-dialects.md "Seed 001", docs/dialects.md): the
redis_chat dialect on a listener of its own (dialects=redis_chat www=<bundle>), against the
real binary, standalone and as two nodes on one Redis. What the spec marks [orig] is never
asserted; the compatibility test ideas for 001 are covered here."""
import asyncio
import glob
import json
import os
import re
import socket
import types
import uuid

import pytest
import requests

from confabtest import (OP_BIN, OP_TEXT, Client, FrameClient, RawWS, T, close_all, free_port,
                        redis_call)
from test_cluster import node_conf, wait_healthy

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
PW = "password123"
LINKS = {"github": "https://github.com/redis-developer/basic-redis-chat-demo-go"}
INDEX = ('<!doctype html><html><head><script defer="defer" src="/static/js/main.5e1f.js">'
         '</script></head><body><div id="root"></div></body></html>')


@pytest.fixture
def bundle(tmp_path):
    """A small stand-in for the seed's prebuilt client/build."""
    d = tmp_path / "redis-chat-www"
    (d / "static" / "js").mkdir(parents=True)
    (d / "avatars").mkdir()
    (d / "index.html").write_text(INDEX)
    (d / "static" / "js" / "main.5e1f.js").write_text("console.log('chat');\n")
    (d / "avatars" / "3.jpg").write_bytes(b"\xff\xd8\xff\xe0jpeg")
    (d / "links").write_text("not this")
    return str(d)


def start_001(start_server, bundle, extra=None):
    """A node with the default listener (confab.v1) and a seed 001 listener; returns
    (server, the 001 port)."""
    p1, p2 = free_port(), free_port()
    conf = {("server", "listen"): [f"127.0.0.1:{p1}",
                                   f"127.0.0.1:{p2} dialects=redis_chat www={bundle}"]}
    conf.update(extra or {})
    s = start_server(conf, port=p1)
    return s, p2


def name(prefix="u"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class C1(FrameClient):
    """A 001 client: waits for ready on connect; every frame must be a JSON object."""

    @classmethod
    async def connect(cls, port, who=None):
        c = cls(await FrameClient.open(types.SimpleNamespace(port=port), "/ws"), who)
        r = await c.wait(lambda f: f.get("type") == "ready", "ready")
        c.session = r["ready"]["sessionUUID"]
        c.uuid = c.key = None
        return c

    def parse(self, raw):
        assert isinstance(raw, str), f"binary frame {raw!r}"
        o = json.loads(raw)
        assert isinstance(o, dict) and "type" in o, raw
        return o

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def next(self, obj, what="a reply", timeout=None):
        """Sends obj, returns the first frame that arrives after it."""
        n = len(self.frames)
        await self.send(obj)
        await self.wait(lambda f: len(self.frames) > n, what, timeout)
        return self.frames[n]

    async def error(self, obj, code, text=None):
        f = await self.next(obj, f"error {code}")
        assert f["type"] == "error", f
        assert f["error"]["code"] == code, f
        if text is not None:
            assert f["error"]["error"] == text, f
        return f["error"]

    async def sign(self, user, pw=PW, kind="signIn"):
        """signIn/signUp: returns the authorized object (and the sys signIn for signIn)."""
        n = len(self.frames)
        await self.send({"type": kind, kind: {"username": user, "password": pw}})
        a = await self.wait(lambda f: f in self.frames[n:] and f["type"] in
                            ("authorized", "error"), kind)
        assert a["type"] == "authorized", a
        self.uuid, self.key, self.user = (a["authorized"]["userUUID"],
                                          a["authorized"]["accessKey"], user)
        if kind == "signIn":
            sys = await self.wait(lambda f: f in self.frames[n:] and f["type"] == "sys",
                                  "sys signIn")
            assert sys["sys"] == {"type": "signIn",
                                  "signIn": {"uuid": self.uuid, "username": user}}, sys
        return a["authorized"]

    async def join(self, recipient=""):
        n = len(self.frames)
        await self.send({"type": "channelJoin", "userUUID": self.uuid, "accessKey": self.key,
                         "channelJoin": {"recipientUUID": recipient}})
        j = await self.wait(lambda f: f in self.frames[n:] and f["type"] in
                            ("channelJoin", "error"), "channelJoin")
        assert j["type"] == "channelJoin", j
        sys = await self.wait(lambda f: f in self.frames[n:] and f["type"] == "sys",
                              "own sys channelJoin")
        assert sys["userUUID"] == self.uuid and sys["SUUID"] == self.session, sys
        assert sys["sys"]["type"] == "channelJoin"
        return j["channelJoin"]

    async def say(self, text, recipient=""):
        await self.send({"type": "channelMessage", "userUUID": self.uuid, "accessKey": self.key,
                         "channelMessage": {"recipientUUID": recipient, "message": text}})

    async def users(self):
        f = await self.next({"type": "users", "userUUID": self.uuid, "accessKey": self.key})
        assert f["type"] == "users", f
        return f["users"]

    def msgs(self, text=None):
        return [f["channelMessage"] for f in self.frames if f["type"] == "channelMessage" and
                (text is None or f["channelMessage"]["Message"] == text)]

    async def got(self, text):
        await self.wait(lambda f: f["type"] == "channelMessage" and
                        f["channelMessage"]["Message"] == text, f"message {text!r}")
        return self.msgs(text)[0]


def check_msg(m, text, sender, recipient=""):
    assert m["Message"] == text, m
    assert m["SenderUUID"] == sender.uuid, m
    assert m["Sender"] == {"UUID": sender.uuid, "Username": sender.user, "OnLine": False}, m
    assert m["RecipientUUID"] == recipient, m
    assert UUID4.match(m["UUID"]), m
    assert CREATED.match(m["CreatedAt"]), m
    assert "Password" not in json.dumps(m)


async def quiet(seconds=0.3):
    await asyncio.sleep(T(seconds))


# ---- HTTP ------------------------------------------------------------------------------------

async def test_http_links_bundle_and_ws(start_server, bundle):
    s, port = start_001(start_server, bundle)
    base = f"http://127.0.0.1:{port}"
    r = requests.get(base + "/links", timeout=T(5))
    assert r.status_code == 200 and r.json() == LINKS, r.text
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    r = requests.get(base + "/", timeout=T(5))
    assert r.status_code == 200 and "/static/js/main." in r.text
    assert r.headers["Content-Type"].startswith("text/html")
    r = requests.get(base + "/index.html", allow_redirects=False, timeout=T(5))
    assert r.status_code == 301 and r.headers["Location"] == "/", r.headers
    r = requests.get(base + "/static/js/main.5e1f.js", timeout=T(5))
    assert r.status_code == 200 and "chat" in r.text
    r = requests.get(base + "/avatars/3.jpg", timeout=T(5))
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    # Nothing outside the directory (requests would normalise "..": a raw request).
    with socket.create_connection(("127.0.0.1", port), timeout=T(5)) as sock:
        sock.sendall(b"GET /static/../../../etc/passwd.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        head = sock.recv(4096)
    assert not head.startswith(b"HTTP/1.1 200"), head
    for bad in ("/.hidden.js", "/static/.x/main.5e1f.js",
                "/nothere.js", "/v1/ws", "/api/v1/rooms", "/metrics"):
        assert requests.get(base + bad, timeout=T(5)).status_code == 404, bad
    assert requests.get(base + "/healthz", timeout=T(5)).status_code == 200
    # /ws without an upgrade, as gobwas refused it.
    r = requests.get(base + "/ws", timeout=T(5))
    assert r.status_code == 400 and "handshake error" in r.text
    # No Origin check on /ws (the seed had none), server.origins does not apply.
    raw = RawWS(port)
    assert raw.handshake(path="/ws", subprotocol=None,
                         origin="http://elsewhere.example").status == 101
    raw.close()
    # The default listener does not serve 001: /links is confab's 404 there.
    assert s.get("/links").status_code == 404


# ---- accounts --------------------------------------------------------------------------------

async def test_ready_sign_in_sign_up(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a = await C1.connect(port)
    assert UUID4.match(a.session)
    u = name()
    auth = await a.sign(u)
    assert UUID4.match(auth["userUUID"]) and auth["accessKey"], auth
    # Again: the same account.
    b = await C1.connect(port)
    again = await b.sign(u)
    assert again["userUUID"] == auth["userUUID"]
    # ... with a new access key, even within the same second.
    assert again["accessKey"] and again["accessKey"] != auth["accessKey"]
    assert b.session != a.session
    # A wrong password: code 4, the password never echoed.
    c = await C1.connect(port)
    e = await c.error({"type": "signIn", "signIn": {"username": u, "password": "wrong-pass"}},
                      4, "wrong password")
    assert "wrong-pass" not in json.dumps(e)
    assert e["payload"]["signIn"] == {"username": u}
    # signUp of the existing name with the right password: the same account ...
    assert (await c.sign(u, kind="signUp"))["userUUID"] == auth["userUUID"]
    # ... with a wrong one: refused, and the session is not signed in.
    d = await C1.connect(port)
    await d.error({"type": "signUp", "signUp": {"username": u, "password": "wrong-pass"}}, 4,
                  "wrong password")
    await d.error({"type": "users"}, 5)
    await d.error({"type": "channelJoin", "userUUID": auth["userUUID"],
                   "channelJoin": {"recipientUUID": ""}}, 5)
    # signUp of a new name.
    v = name()
    up = await d.sign(v, kind="signUp")
    assert UUID4.match(up["userUUID"]) and up["userUUID"] != auth["userUUID"]
    # Bad credentials are errors with code 4.
    for bad in ({"username": "", "password": PW}, {"username": " x", "password": PW},
                {"username": name(), "password": "short"}, {"username": u},
                {"password": PW}, {"username": "guest-1", "password": PW}):
        await d.error({"type": "signIn", "signIn": bad}, 4)
    # The state directory holds yescrypt hashes, never a password.
    text = "".join(open(p).read() for p in glob.glob(os.path.join(s.dir, "state", "*.json")))
    assert u in text and v in text and "$y$" in text, text
    assert PW not in text and "wrong-pass" not in text
    await close_all([a, b, c, d])


async def test_users_list(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a, b, c = [await C1.connect(port) for _ in range(3)]
    names = [name("a"), name("b"), name("c")]
    for cl, n in zip((a, b, c), names):
        await cl.sign(n)
    uuids = [a.uuid, b.uuid, c.uuid]
    await c.close()
    await quiet()
    users = await a.users()
    assert users["total"] == users["received"] == len(users["users"]) == 3, users
    # Every account, in creation order; OnLine says whether it has a session.
    assert users["users"] == [{"UUID": uuids[0], "Username": names[0], "OnLine": True},
                              {"UUID": uuids[1], "Username": names[1], "OnLine": True},
                              {"UUID": uuids[2], "Username": names[2], "OnLine": False}]
    # A confab.v1 session of an account counts as online too (one core user).
    await close_all([a, b])


# ---- channels ------------------------------------------------------------------------------

async def test_public_channel_exactly_once(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a, b, c = [await C1.connect(port, w) for w in "abc"]
    for cl in (a, b, c):
        await cl.sign(name())
    ja = await a.join()
    assert "recipientUUID" not in ja and "messages" not in ja, ja
    assert {"UUID": a.uuid, "Username": a.user, "OnLine": True} in ja["users"]
    jb = await b.join()
    assert {a.uuid, b.uuid} <= {u["UUID"] for u in jb["users"]}
    assert all("Password" not in u for u in jb["users"])
    # A hears of B's join.
    ev = await a.wait(lambda f: f["type"] == "sys" and f.get("userUUID") == b.uuid, "sys join")
    assert ev["user"] == {"UUID": b.uuid, "Username": b.user, "OnLine": True}, ev
    assert ev["sys"] == {"type": "channelJoin", "channelJoin": {}}, ev
    await a.say("m1 <&>")
    ma, mb = await a.got("m1 <&>"), await b.got("m1 <&>")
    check_msg(ma, "m1 <&>", a)
    assert ma == mb
    await b.say("m2")
    await a.got("m2")
    await b.got("m2")
    await quiet()
    # Exactly one copy each, the sender included; c (not joined) nothing.
    for cl in (a, b):
        assert len(cl.msgs("m1 <&>")) == 1 and len(cl.msgs("m2")) == 1, cl.frames
    assert not c.msgs()
    # channelLeave: out of the channel, no more messages.
    f = await b.next({"type": "channelLeave", "userUUID": b.uuid,
                      "channelLeave": {"recipientUUID": ""}})
    assert f == {"type": "channelLeave", "channelLeave": {}}, f
    await b.error({"type": "channelLeave", "channelLeave": {"recipientUUID": ""}}, 0,
                  "channel not found")
    await a.say("m3")
    await a.got("m3")
    await quiet()
    assert not b.msgs("m3")
    await close_all([a, b, c])


async def test_history_last_ten(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a = await C1.connect(port)
    await a.sign(name())
    await a.join()
    for i in range(12):
        await a.say(f"h{i}")
    await a.got("h11")
    b = await C1.connect(port)
    await b.sign(name())
    j = await b.join()
    assert [m["Message"] for m in j["messages"]] == [f"h{i}" for i in range(2, 12)], j
    for m in j["messages"]:
        check_msg(m, m["Message"], a)
    # The history entry carries the same UUID the live message had.
    assert j["messages"][-1]["UUID"] == (await a.got("h11"))["UUID"]
    # Re-joining the channel one is in answers again (the seed's client does it).
    j2 = await b.join()
    assert [m["Message"] for m in j2["messages"]] == [f"h{i}" for i in range(2, 12)]
    await close_all([a, b])


async def test_private_channel(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a, b, c = [await C1.connect(port, w) for w in "abc"]
    for cl in (a, b, c):
        await cl.sign(name())
    await c.join()
    ja = await a.join(b.uuid)
    assert ja["recipientUUID"] == b.uuid
    assert {"UUID": b.uuid, "Username": b.user, "OnLine": True} in ja["users"], ja
    jb = await b.join(a.uuid)
    assert jb["recipientUUID"] == a.uuid
    await a.say("secret", b.uuid)
    m = await b.got("secret")
    check_msg(m, "secret", a, b.uuid)
    assert m["Recipient"] == {"UUID": b.uuid, "Username": b.user, "OnLine": False}
    assert await a.got("secret") == m
    await b.say("back", a.uuid)
    m = await a.got("back")
    check_msg(m, "back", b, a.uuid)
    assert m["Recipient"]["Username"] == a.user
    await quiet()
    assert not c.msgs() and len(a.msgs("secret")) == 1 and len(b.msgs("secret")) == 1
    # History of the private channel on a later join; one channel at a time (a left public
    # when it joined b, so public messages no longer reach it).
    await c.say("pub")
    await c.got("pub")
    await quiet()
    assert not a.msgs("pub")
    a2 = await C1.connect(port)
    await a2.sign(a.user)
    j = await a2.join(b.uuid)
    assert [x["Message"] for x in j["messages"]] == ["secret", "back"]
    # The core room's name cannot be derived from the UUIDs (no ACL on core rooms), and the
    # room list does not tell it.
    rooms = [r["name"] for r in s.get("/api/v1/rooms").json()["rooms"]]
    assert rooms == ["public"], rooms
    # A private channel with an account that does not exist: code 100.
    await a.error({"type": "channelJoin", "userUUID": a.uuid,
                   "channelJoin": {"recipientUUID": str(uuid.uuid4())}}, 100)
    await close_all([a, b, c, a2])


async def test_native_and_001_in_public(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a = await C1.connect(port)
    await a.sign(name())
    await a.join()
    nat = await Client.connect(s, "natalie")
    await nat.join("public")
    await a.wait(lambda f: f["type"] == "sys" and f.get("userUUID") == "guest:natalie",
                 "sys natalie")
    await nat.send("public", "hello 001")
    m = await a.got("hello 001")
    # A guest has no account UUID: its user id stands in (docs/dialects.md).
    assert m["SenderUUID"] == "guest:natalie" and m["Sender"]["Username"] == "natalie", m
    await a.say("hello native")
    await nat.wait_msgs("public", 2)
    got = [x for x in nat.msgs("public") if x["text"] == "hello native"]
    assert got and got[0]["from"]["name"] == a.user, nat.msgs("public")
    await close_all([a, nat])


async def test_direct_messages_reach_001_users(start_server, bundle):
    """001 has no direct-message event: a confab.v1 dm to a user signed in through 001, or one
    kept in the inbox while the account was away, shows as a private-channel message from the
    sender, so nothing taken from the inbox is lost."""
    s, port = start_001(start_server, bundle)
    u = name()
    a = await C1.connect(port)
    await a.sign(u)
    await a.close()
    nat = await Client.connect(s, "nadia")
    # The account is away: kept.
    r = await nat.ok("dm", to=u, text="while away")
    assert r.get("queued") is True, r
    a = await C1.connect(port)
    await a.sign(u)
    m = await a.got("while away")
    assert m["SenderUUID"] == "guest:nadia" and m["Sender"]["Username"] == "nadia", m
    assert m["RecipientUUID"] == a.uuid and m["Recipient"]["Username"] == u, m
    assert UUID4.match(m["UUID"]) and CREATED.match(m["CreatedAt"]), m
    # Signed in: delivered at once, not kept.
    r = await nat.ok("dm", to=u, text="now")
    assert not r.get("queued"), r
    await a.got("now")
    assert len(a.msgs("while away")) == 1
    await close_all([a, nat])


# ---- the access key --------------------------------------------------------------------------

async def test_access_key_checked(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a, b = await C1.connect(port), await C1.connect(port)
    await a.sign(name())
    await b.sign(name())
    x = await C1.connect(port)
    join_a = {"type": "channelJoin", "userUUID": a.uuid, "channelJoin": {"recipientUUID": ""}}
    # Not signed in: no key, a forged one, b's key for a's UUID: refused, code 5.
    await x.error(join_a, 5)
    await x.error(dict(join_a, accessKey="MTpmb28.Zm9v"), 5)
    await x.error(dict(join_a, accessKey=b.key), 5)
    await x.error({"type": "channelMessage", "userUUID": a.uuid,
                   "channelMessage": {"recipientUUID": "", "message": "as a"}}, 5)
    await x.error({"type": "signOut", "userUUID": a.uuid, "signOut": {"uuid": a.uuid}}, 5)
    # b (signed in as b) cannot act as a either.
    await b.error(join_a, 5)
    # a's own key: the session acts as a (and is a from now on).
    x.uuid, x.key, x.user = a.uuid, a.key, a.user
    await x.join()
    await x.say("with a key")
    await x.got("with a key")
    # signOut revokes a's keys; the session is nobody again.
    f = await a.next({"type": "signOut", "userUUID": a.uuid, "signOut": {"uuid": a.uuid}})
    assert f == {"type": "signOut", "signOut": {"uuid": a.uuid}}, f
    await a.error({"type": "users"}, 5)
    y = await C1.connect(port)
    await y.error(dict(join_a, accessKey=a.key), 5)
    # Unknown users: channelJoin 100, signOut 6.
    await y.error({"type": "channelJoin", "userUUID": str(uuid.uuid4()),
                   "channelJoin": {"recipientUUID": ""}}, 100)
    await y.error({"type": "channelJoin", "userUUID": "not-a-uuid",
                   "channelJoin": {"recipientUUID": ""}}, 100)
    await y.error({"type": "signOut", "userUUID": str(uuid.uuid4()), "signOut": {"uuid": ""}},
                  6)
    await close_all([a, b, x, y])


# ---- bad input -------------------------------------------------------------------------------

BAD = [
    # (request, code)
    ("not json", 1),
    ('{"type":', 1),
    ("[1,2]", 1),
    ("42", 1),
    ('{"type": 5}', 1),
    ('{"type": "users", "userUUID": 7}', 1),
    ('{"type": "users", "accessKey": []}', 1),
    ('{"type": "bogus"}', 0),
    ('{"type": ""}', 0),
    ("{}", 0),
    ("null", 0),
    ('{"type": "channelMessages"}', 0),
    ('{"type": "signIn"}', 4),
    ('{"type": "signIn", "signIn": null}', 4),
    ('{"type": "signIn", "signIn": 5}', 1),
    ('{"type": "signIn", "signIn": {"username": 5, "password": "x"}}', 1),
    ('{"type": "signUp"}', 4),
    ('{"type": "signUp", "signUp": {"username": "x", "password": true}}', 1),
    ('{"type": "channelJoin"}', 101),
    ('{"type": "channelJoin", "channelJoin": "public"}', 1),
    ('{"type": "channelJoin", "channelJoin": {"recipientUUID": 1}}', 1),
    ('{"type": "channelJoin", "channelJoin": {"recipientUUID": "nope"}}', 100),
    ('{"type": "channelMessage"}', 104),
    ('{"type": "channelMessage", "channelMessage": {"recipientUUID": "", "message": 3}}', 1),
    ('{"type": "channelMessage", "channelMessage": {"recipientUUID": ""}}', 104),
    ('{"type": "channelMessage", "channelMessage": {"recipientUUID": "", "message": ""}}', 104),
    ('{"type": "channelLeave"}', 0),
    ('{"type": "channelLeave", "channelLeave": []}', 1),
    ('{"type": "signOut"}', 6),
    ('{"type": "signOut", "signOut": {"uuid": {}}}', 1),
    ('{"type": "users", "signIn": 1}', 1),
]


async def test_bad_input_every_request(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a, b = await C1.connect(port, "a"), await C1.connect(port, "b")
    await a.sign(name())
    await b.sign(name())
    await a.join()
    await b.join()
    for req, code in BAD:
        e = await b.error(req, code)
        assert isinstance(e["error"], str) and e["error"], (req, e)
    assert (await b.error('{"type":"bogus"}', 0))["error"] == "unknow request data type: bogus"
    # Keys are matched as Go matched them (any ASCII case).
    f = await b.next('{"TYPE": "users", "UserUuid": "%s"}' % b.uuid)
    assert f["type"] == "users", f
    # A binary request is read like a text one; the reply is text.
    await b.send(json.dumps({"type": "users"}).encode())
    await b.wait(lambda f: f["type"] == "users" and f is not b.frames[-2], "binary users")
    # Nothing broke: both still chat.
    await a.say("after the storm")
    await b.got("after the storm")
    await close_all([a, b])


async def test_huge_frame_and_invalid_utf8(start_server, bundle):
    s, port = start_001(start_server, bundle)
    a = await C1.connect(port)
    await a.sign(name())
    await a.join()
    big = await C1.connect(port)
    await big.send(json.dumps({"type": "users", "pad": "x" * 70000}))
    assert await big.closed_code() == 1009
    r = RawWS(port)
    assert r.handshake(path="/ws", subprotocol=None).status == 101
    r.recv_message()  # ready
    r.send_frame(OP_TEXT, b'{"type":"signIn","signIn":{"username":"\xff\xfe","password":"x"}}')
    while True:
        op, _payload = r.recv_message()
        if op == 8:
            break
    assert r.close_code == 1007, r.close_code
    r.close()
    # Binary frames with invalid UTF-8 are read as U+FFFD (Go's decoder), answered in text.
    r = RawWS(port)
    assert r.handshake(path="/ws", subprotocol=None).status == 101
    r.recv_message()
    r.send_frame(OP_BIN, b'{"type":"b\xffd"}')
    op, payload = r.recv_message()
    assert op == OP_TEXT, op
    assert json.loads(payload)["error"]["error"] == "unknow request data type: b\ufffdd"
    r.close()
    await a.say("still fine")
    await a.got("still fine")
    await a.close()


async def test_requests_wait_for_sign_in(start_server, bundle):
    """The real client sends signIn, users and channelJoin back to back: the later ones are
    served after signIn, in order."""
    s, port = start_001(start_server, bundle)
    a = await C1.connect(port)
    u = name()
    await a.send({"SUUID": a.session, "type": "signIn", "signIn": {"username": u,
                                                                    "password": PW}})
    await a.send({"SSUID": a.session, "type": "users", "userUUID": "", "accessKey": ""})
    await a.send({"SUUID": a.session, "type": "channelJoin", "userUUID": "", "accessKey": "",
                  "channelJoin": {"recipientUUID": ""}})
    await a.wait(lambda f: f["type"] == "sys" and "channelJoin" in f["sys"], "join done")
    kinds = [f["type"] for f in a.frames]
    assert kinds == ["ready", "authorized", "sys", "users", "channelJoin", "sys"], a.frames
    await a.close()


# ---- two nodes -------------------------------------------------------------------------------

async def test_two_nodes(start_server, bundle, redis):
    nodes = [start_001(start_server, bundle, node_conf(redis, f"node{i}")) for i in range(2)]
    for s, _ in nodes:
        await wait_healthy(s)
    (s1, p1), (s2, p2) = nodes
    a, b = await C1.connect(p1, "a"), await C1.connect(p2, "b")
    ua, ub, uc = name("a"), name("b"), name("c")
    await a.sign(ua)
    await b.sign(ub)
    # An account made on one node signs in on the other (accounts in Redis).
    c = await C1.connect(p2, "c")
    await c.sign(uc)
    c2 = await C1.connect(p1)
    assert (await c2.sign(uc))["userUUID"] == c.uuid
    await close_all([c, c2])
    # users: online state across nodes.
    async def listed():
        return {u["Username"]: u["OnLine"] for u in (await a.users())["users"]}
    deadline = asyncio.get_running_loop().time() + T(10)
    while (await listed()) != {ua: True, ub: True, uc: False}:
        assert asyncio.get_running_loop().time() < deadline, await listed()
        await asyncio.sleep(0.1)
    assert [u["Username"] for u in (await b.users())["users"]] == [ua, ub, uc]
    # Public channel across nodes, exactly once each, both ways.
    await a.join()
    jb = await b.join()
    assert {a.uuid, b.uuid} <= {u["UUID"] for u in jb["users"]}, jb
    await a.say("x1")
    await b.say("x2")
    for cl in (a, b):
        check_msg(await cl.got("x1"), "x1", a)
        check_msg(await cl.got("x2"), "x2", b)
    assert (await a.got("x1"))["UUID"] == (await b.got("x1"))["UUID"]
    # A native client on node 2 in public.
    nat = await Client.connect(s2, "nadia")
    await nat.join("public")
    await nat.send("public", "from nadia")
    assert (await a.got("from nadia"))["SenderUUID"] == "guest:nadia"
    # Private channel across nodes.
    await a.join(b.uuid)
    await b.join(a.uuid)
    await a.say("p1", b.uuid)
    m = await b.got("p1")
    check_msg(m, "p1", a, b.uuid)
    assert m["Recipient"]["Username"] == ub
    await b.say("p2", a.uuid)
    check_msg(await a.got("p2"), "p2", b, a.uuid)
    await quiet(0.5)
    for cl in (a, b):
        assert len(cl.msgs("x1")) == 1 and len(cl.msgs("p1")) == 1 and len(cl.msgs("p2")) == 1
    # History across nodes: a fresh session on node 2 joining public sees x1 and x2 in the
    # order everyone got them (a and b sent them concurrently).
    d = await C1.connect(p2)
    await d.sign(uc)
    j = await d.join()
    live = [m["Message"] for m in a.msgs() if m["Message"] in ("x1", "x2")]
    assert live == [m["Message"] for m in b.msgs() if m["Message"] in ("x1", "x2")]
    assert [x["Message"] for x in j["messages"]][:2] == live, j
    # a's key works on node 2.
    e = await C1.connect(p2)
    e.uuid, e.key, e.user = a.uuid, a.key, ua
    await e.join(b.uuid)
    # Redis holds hashes, never a password.
    keys = redis_call(redis.port, "KEYS", "*")
    dump = []
    for k in keys:
        t = redis_call(redis.port, "TYPE", k)
        if t == "hash":
            dump.append(repr(redis_call(redis.port, "HGETALL", k)))
        elif t == "string":
            dump.append(repr(redis_call(redis.port, "GET", k)))
    text = "\n".join(dump)
    assert "$y$" in text and PW not in text, text[:2000]
    await close_all([a, b, d, e, nat])
