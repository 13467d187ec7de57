# SPDX-License-Identifier: MIT
"""Seed 002, chatty (docs/seed-dialects.md "Seed 002", docs/dialects.md): POST /chat?name=,
/chat/join?name=&room=<KSUID> and /ping beside confab.v1, against the real binary."""
import json
import re
import time
import urllib.parse

import requests

from confabtest import OP_BIN, OP_TEXT, Client, FrameClient, RawWS, T, close_all, uniq

KSUID = re.compile(r"^[0-9A-Za-z]{27}$")
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def join_path(name, room):
    return "/chat/join?" + urllib.parse.urlencode({"name": name, "room": room})


def ksuid_seconds(k):
    n = 0
    for c in k:
        n = n * 62 + B62.index(c)
    return (n >> 128) + 1400000000


def create(server, name=None):
    r = server.post("/chat?" + urllib.parse.urlencode({"name": name or uniq("R")}))
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    body = r.json()
    assert set(body) == {"id", "name"} and KSUID.match(body["id"]), body
    return body


class D2(FrameClient):
    """A chatty client: frames are single JSON objects."""

    @classmethod
    async def connect(cls, server, name, room, origin=None):
        c = cls(await cls.open(server, join_path(name, room), origin), name)
        await c.wait(lambda f: f == joined(name), "own participant_joined")
        return c

    async def wait_msg(self, text, participant):
        return await self.wait(lambda f: f == {"text": text, "participant": participant},
                               f"message {text[:20]!r}")

    def msgs(self):
        return [f for f in self.frames if "text" in f]


def joined(name):
    return {"event_type": "participant_joined", "participant": name}


def left(name):
    return {"event_type": "participant_left", "participant": name}


def handshake(server, path, origin=None):
    r = RawWS(server.port)
    try:
        return r.handshake(path=path, subprotocol=None, origin=origin)
    finally:
        r.close()


def assert_plain(resp, status, body):
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers.get("content-type") == "text/plain; charset=utf-8", resp.headers
    assert resp.body == body, resp.body


# ---- HTTP and the handshake ------------------------------------------------------------------

def test_ping_and_chat_endpoint(shared_server):
    for method in ("get", "post", "put"):
        r = requests.request(method, shared_server.url("/ping"), timeout=T(10))
        assert r.status_code == 200 and r.text == "pong", (method, r.status_code, r.text)
    r = shared_server.post("/chat?name=RoomName")
    assert r.status_code == 201 and r.headers["content-type"] == "text/plain; charset=utf-8"
    body = r.json()
    assert body["name"] == "RoomName" and KSUID.match(body["id"]), body
    assert "\n" not in r.text
    # Not trimmed, decoded, any text.
    assert create(shared_server, " a b <&> é ")["name"] == " a b <&> é "
    for method in ("get", "put", "delete"):
        r = requests.request(method, shared_server.url("/chat?name=x"), timeout=T(10))
        assert r.status_code == 405 and r.content == b"", (method, r.status_code, r.content)
    for q in ("", "?name=", "?other=x"):
        r = shared_server.post("/chat" + q)
        assert r.status_code == 400 and r.content == b"", (q, r.status_code, r.content)
    # A plain GET of the join endpoint is gorilla's refusal.
    r = shared_server.get(join_path("john", create(shared_server)["id"]))
    assert r.status_code == 400 and r.text == "Bad Request\n"


def test_ksuid_distinct_and_time_sortable(shared_server):
    before = int(time.time())
    ids = [create(shared_server, "same")["id"] for _ in range(20)]
    after = int(time.time())
    assert len(set(ids)) == 20
    for k in ids:
        assert before <= ksuid_seconds(k) <= after, (k, ksuid_seconds(k), before, after)
    # Ids of later seconds sort after earlier ones: the string order is the time order.
    secs = [ksuid_seconds(k) for k in sorted(ids)]
    assert secs == sorted(secs)


def test_unknown_room_refused_before_upgrade(shared_server):
    valid = create(shared_server)["id"]
    unknown = "0" * 27 if valid != "0" * 27 else "1" * 27
    for path in (join_path("john", unknown), join_path("john", "nope"), "/chat/join?name=john",
                 "/chat/join", join_path("john", valid.lower() if valid.lower() != valid
                                         else valid.upper())):
        assert_plain(handshake(shared_server, path), 404, b"Not Found\n")
    assert handshake(shared_server, join_path("john", valid)).status == 101
    # A missing or empty participant name is allowed.
    assert handshake(shared_server, f"/chat/join?room={valid}").status == 101
    assert handshake(shared_server, f"/chat/join?name=&room={valid}").status == 101


def test_oversized_name_refused_before_upgrade(shared_server):
    # Over 1024 bytes is refused, where a missing name is allowed: the gate must tell them apart.
    room = create(shared_server)["id"]
    assert handshake(shared_server, join_path("n" * 1024, room)).status == 101
    # 2000: longer than the gate's copy of one argument, too (room first: it is still read).
    for n in (1025, 2000):
        path = f"/chat/join?room={room}&name={'n' * n}"
        assert_plain(handshake(shared_server, path), 404, b"Not Found\n")


def test_same_origin(shared_server):
    room = create(shared_server)["id"]
    path = join_path("john", room)
    host = f"127.0.0.1:{shared_server.port}"
    for origin in ("http://evil.example", f"http://127.0.0.1:{shared_server.port + 1}",
                   "http://127.0.0.1", "null", "127.0.0.1"):
        assert_plain(handshake(shared_server, path, origin=origin), 403, b"Forbidden\n")
    # The origin check comes first, as in the seed (gorilla checks it during the upgrade).
    assert handshake(shared_server, join_path("j", "0" * 27), origin="http://e.x").status == 403
    for origin in (None, f"http://{host}", f"https://{host}/page",
                   f"HTTP://127.0.0.1:{shared_server.port}"):
        assert handshake(shared_server, path, origin=origin).status == 101, origin


# ---- events ------------------------------------------------------------------------------------

async def test_join_message_leave(shared_server):
    room = create(shared_server)["id"]
    other = create(shared_server)["id"]
    john = await D2.connect(shared_server, "John", room)
    assert john.frames == [joined("John")]
    jane = await D2.connect(shared_server, "Jane", room)
    await john.wait(lambda f: f == joined("Jane"), "Jane joined")
    carol = await D2.connect(shared_server, "Carol", other)
    await john.ws.send("Hello World!")
    await john.ws.send('{"text":"x"}')
    await john.ws.send("")
    await john.ws.send(b"binary is ignored")
    await john.ws.send("<&> é\u2028")
    for c in (john, jane):
        await c.wait_msg("<&> é\u2028", "John")
        # Every participant sees the messages in the order sent, the sender included.
        assert c.msgs() == [{"text": t, "participant": "John"}
                            for t in ("Hello World!", '{"text":"x"}', "", "<&> é\u2028")]
    # Duplicate names are allowed.
    n = len(jane.frames)
    john2 = await D2.connect(shared_server, "John", room)
    await jane.wait(lambda f: joined("John") in jane.frames[n:], "second John")
    await john.wait(lambda f: john.frames.count(joined("John")) == 2, "second John")
    await jane.close()
    await john.wait(lambda f: f == left("Jane"), "Jane left")
    await john2.wait(lambda f: f == left("Jane"), "Jane left")
    await john2.close()
    await john.wait(lambda f: f == left("John"), "John 2 left")
    assert carol.frames == [joined("Carol")]
    await close_all([john, carol])


async def test_bad_input_closes_only_that_client(shared_server):
    room = create(shared_server)["id"]
    a = await D2.connect(shared_server, "alice", room)
    b = await D2.connect(shared_server, "bob", room)
    # The size cap is limits.max_text (4096 by default): at the cap a message, above it 1009.
    await b.ws.send("y" * 4096)
    await a.wait_msg("y" * 4096, "bob")
    await b.ws.send("z" * 4097)
    assert await b.closed_code() == 1009
    await a.wait(lambda f: f == left("bob"), "bob left")
    # Invalid UTF-8 in a text frame closes that connection only.
    r = RawWS(shared_server.port)
    assert r.handshake(path=join_path("carol", room), subprotocol=None).status == 101
    assert json.loads(r.recv_message()[1]) == joined("carol")
    r.send_frame(OP_BIN, b"\xff ignored")
    r.send_frame(OP_TEXT, b"\xff\xfe")
    _objs, how = r.read_until_close()
    assert how[0] in ("close", "eof", "reset") and how != ("close", 1000), how
    r.close()
    await a.wait(lambda f: f == left("carol"), "carol left")
    assert not [m for m in a.msgs() if m["participant"] == "carol"]
    await a.ws.send("still here")
    await a.wait_msg("still here", "alice")
    assert not a.closed
    await close_all([a])


async def test_cross_dialect(shared_server):
    room = create(shared_server, "mixed")["id"]
    nat = await Client.connect(shared_server, "natalie")
    await nat.join(room)
    d = await D2.connect(shared_server, "dora", room)
    ev = await nat.wait_event(lambda e: e.get("ev") == "join" and e["user"]["name"] == "dora")
    # A chatty connection is the user chatty:<KSUID> (docs/protocol.md "Identities").
    uid = ev["user"]["id"]
    assert uid.startswith("chatty:") and KSUID.match(uid[len("chatty:"):]), ev
    await nat.send(room, "from native")
    await d.wait_msg("from native", "natalie")
    await d.ws.send("from 002")
    m = await nat.wait_event(lambda e: e.get("ev") == "msg" and e["text"] == "from 002")
    assert m["room"] == room and m["from"]["name"] == "dora"
    await nat.ok("leave", room=room)
    await d.wait(lambda f: f == left("natalie"), "natalie left")
    await d.close()
    await close_all([nat])


# ---- configuration and shutdown -----------------------------------------------------------------

def test_switch_off(start_server):
    s = start_server({("dialects", "chatty"): 0})
    assert s.get("/ping").status_code == 404
    assert s.post("/chat?name=x").status_code == 404
    assert handshake(s, join_path("j", "0" * 27)).status == 404


async def test_room_bound(start_server):
    s = start_server({("rooms", "max_rooms"): 2})
    create(s)
    create(s)
    r = s.post("/chat?name=third")
    assert r.status_code == 503 and r.content == b""


async def test_shutdown_event_on_sigterm(start_server):
    s = start_server()
    room = create(s)["id"]
    a = await D2.connect(s, "alice", room)
    b = await D2.connect(s, "bob", room)
    await a.wait(lambda f: f == joined("bob"), "bob joined")
    nat = await Client.connect(s, "natalie")
    s.sigterm()
    for c in (a, b):
        await c.wait(lambda f: f == {"event_type": "server_shutting_down"}, "shutdown")
        assert c.frames[-1] == {"event_type": "server_shutting_down"}
        assert await c.closed_code() == 1001
    await nat.wait_closed()
    assert s.wait_exit(T(20)) == 0
