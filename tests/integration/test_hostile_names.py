# SPDX-License-Identifier: MIT
"""Hostile clients: look-alike names (issue 12, item 13). A user or room name holding a bidi
control (U+202E RIGHT-TO-LEFT OVERRIDE) or a zero-width character (U+200B ZERO WIDTH SPACE)
lets one user pass for another in every client. Every dialect that takes a name refuses them
with its own error (docs/dialects.md, docs/protocol.md), and meanwhile another client's chat
and /healthz are unaffected. Seed 003 (texto) takes no names: its users are UUIDs."""
import json
import types
import urllib.parse

import pytest
import requests

from confabtest import Client, RawWS, T, assert_error, close_all, free_port, uniq
from test_dialect_001 import C1, bundle, start_001  # noqa: F401 (bundle is a fixture)
from test_dialect_004 import T4, Ttu, ttu_conf

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
ZWSP = "\u200b"  # ZERO WIDTH SPACE
LOOKALIKES = [RLO + "ecila", "al" + ZWSP + "ice"]
PARAMS_ERR = ("Provide `name` and `room` query parameters, with size between 3 and 30 "
              "characters. `room` must contain only alphanumeric, hyphen and underscore "
              "characters.")


class Bystanders:
    """Two confab.v1 clients chatting in a room of their own on the attacked server."""

    def __init__(self, server, origin=None):
        self.server = server
        self.origin = origin
        self.room = uniq("bystanders")
        self.n = 0

    async def start(self):
        self.a = await Client.connect(self.server, uniq("by-a"), origin=self.origin)
        self.b = await Client.connect(self.server, uniq("by-b"), origin=self.origin)
        await self.a.join(self.room)
        await self.b.join(self.room)
        return self

    async def check(self):
        """A message from a reaches b, and /healthz answers 200."""
        self.n += 1
        text = f"still here {self.n}"
        await self.a.send(self.room, text)
        await self.b.wait_event(lambda e: e.get("ev") == "msg" and e.get("text") == text,
                                what=text)
        assert self.server.get("/healthz").status_code == 200

    async def close(self):
        await close_all([self.a, self.b])


@pytest.fixture
def lookalike_server(start_server):
    return start_server({("dialects", "disposable_origin"): ""})


async def test_native_names(lookalike_server):
    s = lookalike_server
    by = await Bystanders(s).start()
    for bad in LOOKALIKES:
        c = await Client.connect(s, hello=False)
        await c.err("hello", "user_name_invalid", name=bad)
        # The session is still usable: a guest hello with a plain name works.
        await c.ok("hello", name=uniq("plain"))
        await c.err("join", "room_name_invalid", room="room" + bad)
        await c.err("dm", "user_name_invalid", to=bad, text="hi")
        await c.err("register", "user_name_invalid", name=bad, password="password123")
        await c.err("login", "user_name_invalid", name=bad, password="password123")
        await c.close()
        await by.check()
    await by.close()


async def test_http_api_names(lookalike_server):
    s = lookalike_server
    by = await Bystanders(s).start()
    for bad in LOOKALIKES:
        r = s.post_message(by.room, "spoof", sender=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "user_name_invalid", r.text
        r = s.post_message("room" + bad, "spoof", sender="admin")
        assert r.status_code == 400 and r.json()["error"]["code"] == "room_name_invalid", r.text
        await by.check()
    assert not [m for m in by.b.msgs(by.room) if m.get("text") == "spoof"]
    await by.close()


async def test_seed_000_names(lookalike_server):
    s = lookalike_server
    by = await Bystanders(s).start()
    for bad in LOOKALIKES:
        path = "/ws?" + urllib.parse.urlencode({"name": bad, "room": "lobby"})
        r = RawWS(s.port)
        resp = r.handshake(path=path, subprotocol=None)
        r.close()
        assert resp.status == 400, (resp.status, resp.body)
        assert resp.body.decode() == PARAMS_ERR
        await by.check()
    # A plain name of the same length is admitted.
    r = RawWS(s.port)
    ok = r.handshake(path="/ws?" + urllib.parse.urlencode({"name": "alice", "room": "lobby"}),
                     subprotocol=None)
    r.close()
    assert ok.status == 101, ok.body
    await by.close()


async def test_seed_002_names(lookalike_server):
    s = lookalike_server
    by = await Bystanders(s).start()
    room = s.post("/chat?name=lobby")
    assert room.status_code == 201, room.text
    rid = json.loads(room.text)["id"]
    for bad in LOOKALIKES:
        # A room display name: refused as a missing one.
        r = s.post("/chat?" + urllib.parse.urlencode({"name": "lobby" + bad}))
        assert r.status_code == 400 and r.text == "", (r.status_code, r.text)
        # A participant name: refused before the upgrade, as gorilla's http.Error says it.
        ws = RawWS(s.port)
        resp = ws.handshake(path="/chat/join?" + urllib.parse.urlencode(
            {"name": bad, "room": rid}), subprotocol=None)
        ws.close()
        assert resp.status == 400, (resp.status, resp.body)
        assert resp.body == b"Bad Request\n"
        await by.check()
    ws = RawWS(s.port)
    ok = ws.handshake(path=f"/chat/join?name=alice&room={rid}", subprotocol=None)
    ws.close()
    assert ok.status == 101, ok.body
    await by.close()


async def test_seed_001_names(start_server, bundle):  # noqa: F811
    s, port = start_001(start_server, bundle)
    by = await Bystanders(s).start()
    for bad in LOOKALIKES:
        c = await C1.connect(port)
        for kind in ("signUp", "signIn"):
            e = await c.error({"type": kind, kind: {"username": bad, "password": "password123"}},
                              4)
            assert "user names" in e["error"], e
        await c.close()
        await by.check()
    await by.close()


async def test_seed_004_names(start_server):
    main, port = free_port(), free_port()
    s = start_server({("server", "listen"): [f"127.0.0.1:{main}", ttu_conf(port)]}, port=main)
    ttu = Ttu(s, port)
    by = await Bystanders(s).start()
    for bad in LOOKALIKES:
        good = uniq("good")
        sock = await T4.connect(port)
        # The look-alike registration is ignored; a plain one after it (frames are taken in
        # order) shows the first was read.
        await sock.register(bad)
        await sock.register(good)
        await ttu.until_online(good)
        st = ttu.status(urllib.parse.quote(bad))
        assert st.status_code == 200 and st.text == f"{bad} is offline", st.text
        # X-Username and receiver: 400 with a plain-text reason.
        r = requests.post(ttu.url("/api/send"), timeout=T(10),
                          headers={"X-Username": bad.encode(), "Content-Type":
                                   "application/json"},
                          data=json.dumps({"receiver": good, "payload": "spoof"}))
        assert r.status_code == 400 and "X-Username" in r.text, (r.status_code, r.text)
        r = ttu.send("plain", bad, "spoof")
        assert r.status_code == 400 and "receiver" in r.text, (r.status_code, r.text)
        assert "spoof" not in sock.payloads()
        await sock.close()
        await by.check()
    await by.close()
