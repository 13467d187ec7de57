# SPDX-License-Identifier: MIT
"""Seed 003, texto (docs/seed-dialects.md "Seed 003", docs/dialects.md): /v1/texto beside
confab.v1, against the real binary. Every server frame is checked to be one JSON object ending
in exactly one '\\n', with the fields in the seed's order."""
import asyncio
import json
import re
import uuid

import pytest

from confabtest import OP_BIN, OP_TEXT, Client, FrameClient, RawWS, T, close_all
from test_cluster import start_nodes

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NIL = "00000000-0000-0000-0000-000000000000"
ERRORS = {
    "ESYNTAX": "Unable to process the message due to a syntax error.",
    "ECID": "The submitted client ID doesn't match the current session.",
    "EKIND": "Invalid message kind received.",
    "EBROKER": "Unable to send the message to the recipient.",
    "EINVAL": "The data payload doesn't match the given kind",
}
FIELDS = ["client_id", "id", "kind", "data"]


def new_id():
    return str(uuid.uuid4())


def check_frame(raw):
    """One server frame: text, one JSON object, the seed's field order, one trailing '\\n'."""
    assert isinstance(raw, str), raw
    assert raw.endswith("\n") and raw.count("\n") == 1, repr(raw)
    pairs = json.loads(raw, object_pairs_hook=lambda p: p)
    assert [k for k, _ in pairs] == FIELDS, raw
    return json.loads(raw)


class T3(FrameClient):
    """A texto client: every frame is checked by check_frame()."""

    @classmethod
    async def connect(cls, server, query="", greet=True, origin=None):
        c = cls(await cls.open(server, f"/v1/texto{query}", origin))
        if greet:
            g = await c.wait(lambda f: True, "greeting")
            assert g["kind"] == "connection", g
            c.id = g["client_id"]
        return c

    def parse(self, raw):
        return check_frame(raw)

    async def send_obj(self, obj):
        await self.ws.send(json.dumps(obj))

    async def request(self, obj, rid=None):
        """Sends obj and returns the reply whose id is rid (default obj["id"])."""
        n = len(self.frames)
        await self.send_obj(obj) if not isinstance(obj, (str, bytes)) else \
            await self.ws.send(obj)
        rid = rid or obj["id"]
        return await self.wait(lambda f: f in self.frames[n:] and f["id"] == rid,
                               f"reply {rid}")

    async def next_frame(self, send):
        """Sends send (object, str or bytes) and returns the next frame that arrives."""
        n = len(self.frames)
        if isinstance(send, (str, bytes)):
            await self.ws.send(send)
        else:
            await self.send_obj(send)
        await self.wait(lambda f: len(self.frames) > n, "a reply")
        return self.frames[n]

    async def error(self, send):
        """The reply to send, which must be an error; returns (code, id)."""
        f = await self.next_frame(send)
        assert f["kind"] == "error" and f["client_id"] == self.id, f
        code = f["data"]["code"]
        assert f["data"] == {"code": code, "description": ERRORS[code]}, f
        return code, f["id"]

    async def registration(self):
        rid = new_id()
        f = await self.next_frame({"id": rid, "kind": "registration"})
        assert f["kind"] == "connection" and f["id"] == rid, f
        return f

    def send_msg(self, to, text, rid=None, client_id=None):
        return {"client_id": client_id or self.id, "id": rid or new_id(), "kind": "send",
                "data": {"receiver_id": to, "text": text}}

    async def send(self, to, text):
        """A send that must be acked; returns the request id."""
        m = self.send_msg(to, text)
        f = await self.request(m)
        assert f == {"client_id": self.id, "id": m["id"], "kind": "ack", "data": None}, f
        return m["id"]

    async def wait_receive(self, sender, text):
        return await self.wait(lambda f: f["kind"] == "receive" and
                               f["data"] == {"sender_id": sender, "text": text},
                               f"receive {text[:20]!r}")

    def receives(self):
        return [f for f in self.frames if f["kind"] == "receive"]


# ---- the handshake and the greeting --------------------------------------------------------

def test_http_without_upgrade(shared_server):
    r = shared_server.get("/v1/texto")
    assert r.status_code == 400 and r.text == "Bad Request\n", (r.status_code, r.text)
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = shared_server.post("/v1/texto", data="x")
    assert r.status_code == 405 and r.text == "Method Not Allowed\n", (r.status_code, r.text)
    # Only the exact path.
    raw = RawWS(shared_server.port)
    assert raw.handshake(path="/v1/texto/", subprotocol=None).status == 404
    raw.close()


async def test_greeting(shared_server):
    # Any Origin (the seed's CheckOrigin accepted all) and none.
    for origin in (None, "http://evil.example"):
        c = await T3.connect(shared_server, origin=origin)
        g = c.frames[0]
        assert UUID4.match(g["client_id"]) and UUID4.match(g["id"]), g
        assert g["id"] != g["client_id"]
        assert g == {"client_id": c.id, "id": g["id"], "kind": "connection",
                     "data": {"client_id": c.id}}
        await c.close()
    a = await T3.connect(shared_server)
    b = await T3.connect(shared_server)
    assert a.id != b.id
    await close_all([a, b])


@pytest.mark.parametrize("query,greets", [
    ("?nogreet=1", False), ("?nogreet=0", False), ("?x=1&nogreet=yes", False),
    ("?nogreet=", True), ("?nogreet", True), ("?nogreet=&nogreet=1", True), ("?greet=1", True),
])
async def test_nogreet(shared_server, query, greets):
    c = await T3.connect(shared_server, query=query, greet=False)
    # The first frame is the greeting, or else the reply to our registration.
    rid = new_id()
    await c.send_obj({"id": rid, "kind": "registration"})
    await c.wait(lambda f: f["id"] == rid, "registration reply")
    first = c.frames[0]
    if greets:
        assert first["kind"] == "connection" and first["id"] != rid, c.frames
        assert len(c.frames) == 2
    else:
        assert first["id"] == rid and len(c.frames) == 1, c.frames
    assert UUID4.match(first["client_id"]) and first["data"] == {"client_id":
                                                                 first["client_id"]}
    await c.close()


async def test_registration(shared_server):
    c = await T3.connect(shared_server)
    rid = new_id()
    # client_id is not checked on registration; data is ignored.
    for extra in ({}, {"client_id": new_id()}, {"data": {"anything": [1]}}, {"data": None}):
        f = await c.next_frame({"id": rid, "kind": "registration", **extra})
        assert f == {"client_id": c.id, "id": rid, "kind": "connection",
                     "data": {"client_id": c.id}}, f
    # Without an id: the nil UUID is echoed.
    f = await c.next_frame({"kind": "registration"})
    assert f["id"] == NIL and f["kind"] == "connection"
    await c.close()


# ---- send, ack, receive --------------------------------------------------------------------

async def test_send_ack_receive(shared_server):
    a = await T3.connect(shared_server)
    b = await T3.connect(shared_server)
    rid = await a.send(b.id, "hi <&> é \U0001F600")
    r = await b.wait_receive(a.id, "hi <&> é \U0001F600")
    assert r["client_id"] == b.id and UUID4.match(r["id"]) and r["id"] != rid, r
    # The other way, an empty text (the seed accepted it), and to oneself: ack and receive.
    await b.send(a.id, "")
    await a.wait_receive(b.id, "")
    await a.send(a.id, "me")
    r = await a.wait_receive(a.id, "me")
    assert r["client_id"] == a.id
    # To nobody: acked all the same, nothing delivered anywhere.
    await a.send(new_id(), "lost")
    await a.send(NIL, "lost too")
    await a.send(b.id, "marker")
    await b.wait_receive(a.id, "marker")
    assert [f["data"]["text"] for f in b.receives()] == ["hi <&> é \U0001F600", "marker"]
    assert [f["data"]["text"] for f in a.receives()] == ["", "me"]
    # Client acks (the JS client acks every receive) and errors get no reply.
    for quiet in ({"id": r["id"], "client_id": a.id, "kind": "ack", "data": None},
                  {"id": new_id(), "kind": "ack"},
                  {"id": new_id(), "kind": "error", "data": {"code": "X", "description": "y"}},
                  {"id": new_id(), "kind": "error", "data": {}}):
        n = len(a.frames)
        await a.send_obj(quiet)
        await a.registration()
        assert len(a.frames) == n + 1, a.frames[n:]
    # A closed session's id is gone: acked, not delivered.
    bid = b.id
    await b.close()
    await a.send(bid, "after close")
    await a.close()


async def test_keys_like_go(shared_server):
    a = await T3.connect(shared_server)
    b = await T3.connect(shared_server)
    rid = new_id()
    # Keys match without regard to case (and the Kelvin sign folds to k); unknown keys are
    # ignored; the last of duplicate keys wins; trailing bytes after the object are ignored.
    f = await a.next_frame(json.dumps({"ID": rid, "KIND": "registration", "extra": [1, {}]}))
    assert f["id"] == rid and f["kind"] == "connection"
    f = await a.next_frame('{"id":"%s","\u212aind":"registration"}' % rid)
    assert f["id"] == rid and f["kind"] == "connection"
    f = await a.next_frame('{"id":"%s","kind":"registration"} trailing {' % rid)
    assert f["id"] == rid and f["kind"] == "connection"
    f = await a.next_frame('{"id":"%s","kind":"foo","Kind":"registration"}' % rid)
    assert f["id"] == rid and f["kind"] == "connection"
    m = {"Client_ID": a.id, "Id": rid, "Kind": "send",
         "DATA": {"Receiver_Id": b.id, "TEXT": "cased"}}
    f = await a.request(m, rid)
    assert f["kind"] == "ack"
    await b.wait_receive(a.id, "cased")
    await close_all([a, b])


# ---- errors --------------------------------------------------------------------------------

async def test_errors_with_request_id(shared_server):
    a = await T3.connect(shared_server)
    b = await T3.connect(shared_server)
    rid = new_id()
    # ECID: another client_id, or none (the nil UUID).
    assert await a.error(a.send_msg(b.id, "x", rid=rid, client_id=b.id)) == ("ECID", rid)
    m = a.send_msg(b.id, "x", rid=rid)
    del m["client_id"]
    assert await a.error(m) == ("ECID", rid)
    # EKIND: the server's own kinds, with a payload that parses.
    assert await a.error({"id": rid, "client_id": a.id, "kind": "receive",
                          "data": {"sender_id": b.id, "text": "x"}}) == ("EKIND", rid)
    assert await a.error({"id": rid, "kind": "connection",
                          "data": {"client_id": a.id}}) == ("EKIND", rid)
    # EINVAL: a text the core cannot carry (NUL, longer than limits.max_text).
    assert await a.error(a.send_msg(b.id, "a\u0000b", rid=rid)) == ("EINVAL", rid)
    assert await a.error(a.send_msg(b.id, "x" * 4097, rid=rid)) == ("EINVAL", rid)
    await a.send(b.id, "x" * 4096)
    await b.wait_receive(a.id, "x" * 4096)
    assert [f["data"]["text"] for f in b.receives()] == ["x" * 4096]
    await close_all([a, b])


async def test_esyntax(shared_server):
    a = await T3.connect(shared_server)
    b = await T3.connect(shared_server)
    rid = new_id()

    def send(**kw):
        m = a.send_msg(b.id, "x", rid=rid)
        m.update(kw)
        return m

    bad = [
        "not json", "", "   ", "[1,2]", "null", "5", '"registration"', "{",
        {"id": rid, "kind": "foo"},
        {"id": rid, "kind": "Send"},  # kinds are case-sensitive
        {"id": rid},  # no kind
        {"id": rid, "kind": None},
        {"id": rid, "kind": 5},
        {"id": 5, "kind": "registration"},
        {"id": "nope", "kind": "registration"},
        {"id": rid, "client_id": [], "kind": "registration"},
        send(data=None), send(data="x"), send(data=[]), send(data=5),
        send(data={"receiver_id": "nope", "text": "x"}),
        send(data={"receiver_id": 5, "text": "x"}),
        send(data={"receiver_id": b.id, "text": 5}),
        send(data={"receiver_id": b.id, "text": ["x"]}),
        {"id": rid, "client_id": a.id, "kind": "send"},  # no data
        {"id": rid, "client_id": a.id, "kind": "send", "data": {"receiver_id": b.id},
         "Data": None},  # a null data key empties it
        {"id": rid, "kind": "receive", "data": {"sender_id": "nope", "text": "x"}},
        {"id": rid, "kind": "receive"},
        {"id": rid, "kind": "connection", "data": {"client_id": 5}},
        {"id": rid, "kind": "error", "data": None},
        {"id": rid, "kind": "error"},
        {"id": rid, "kind": "error", "data": {"code": 5}},
    ]
    ids = set()
    for m in bad:
        code, eid = await a.error(m)
        assert code == "ESYNTAX", m
        # A fresh id: the request did not parse.
        assert UUID4.match(eid) and eid != rid, (m, eid)
        ids.add(eid)
    assert len(ids) == len(bad)
    # A send whose client_id is wrong and payload bad: the syntax error comes first.
    assert (await a.error(send(client_id=b.id, data={"receiver_id": "x"})))[0] == "ESYNTAX"
    # Still a working session, and nothing reached b.
    await a.send(b.id, "ok")
    await b.wait_receive(a.id, "ok")
    assert len(b.frames) == 2, b.frames
    await close_all([a, b])


async def test_uuid_forms(shared_server):
    a = await T3.connect(shared_server)
    b = await T3.connect(shared_server)
    up = b.id.upper()
    accepted = [up, "{%s}" % b.id, "{%s}" % up, "urn:uuid:" + b.id, "urn:uuid:" + up]
    for i, form in enumerate(accepted):
        await a.send(form, f"form{i}")
        await b.wait_receive(a.id, f"form{i}")
    # Request ids in those forms come back canonical (lowercase, hyphenated).
    rid = new_id()
    for form in (rid.upper(), "{%s}" % rid, "urn:uuid:" + rid):
        f = await a.next_frame({"id": form, "kind": "registration"})
        assert f["id"] == rid, (form, f)
        f = await a.request(a.send_msg(b.id, "id form", rid=form), rid)
        assert f["kind"] == "ack"
    # The session's own id in another form is still that session (no ECID).
    f = await a.request(a.send_msg(b.id, "cid", client_id="{%s}" % a.id.upper()))
    assert f["kind"] == "ack"
    # Versions 0 to 5 are accepted (acked, nobody there).
    v = list(new_id())
    for version in "012345":
        v[14] = version
        await a.send("".join(v), "v")
    # Rejected: other versions, no hyphens, misplaced hyphens, lone brace, prefix + brace,
    # short, long, non-hex, and the string that crashed the original (urn:uuid: + 23 chars).
    bid = b.id
    rejected = [bid[:14] + c + bid[15:] for c in "6789abcdef"] + [
        bid.replace("-", ""), bid[:8] + bid[9:13] + "-" + bid[8] + bid[13:],
        "{" + bid, bid + "}", "urn:uuid:{%s}" % bid, "URN:UUID:" + bid, bid[:-1], bid + "0",
        bid[:-1] + "g", " " + bid, bid + " ", "urn:uuid:" + bid[:23], "", "{}",
        bid[:8] + "_" + bid[9:],
    ]
    for form in rejected:
        code, _ = await a.error(a.send_msg(form, "never"))
        assert code == "ESYNTAX", form
    assert not [f for f in b.receives() if f["data"]["text"] == "never"]
    await close_all([a, b])


# ---- bad input -----------------------------------------------------------------------------

async def test_huge_frame_and_invalid_utf8(shared_server):
    a = await T3.connect(shared_server)
    b = await T3.connect(shared_server)
    big = await T3.connect(shared_server)
    # Above limits.max_frame (64 KiB): 1009 for that client only.
    await big.ws.send(json.dumps({"kind": "registration", "pad": "x" * 70000}))
    assert await big.closed_code() == 1009
    # Invalid UTF-8 in a text frame: that connection is closed (1007), no reply.
    r = RawWS(shared_server.port)
    assert r.handshake(path="/v1/texto?nogreet=1", subprotocol=None).status == 101
    r.send_frame(OP_TEXT, b'{"kind":"registration","x":"\xff\xfe"}')
    objs, how = r.read_until_close()
    assert not objs and how[0] in ("close", "eof", "reset") and how != ("close", 1000), how
    r.close()
    await a.send(b.id, "still here")
    await b.wait_receive(a.id, "still here")
    assert not a.closed and not b.closed
    await close_all([a, b, big])


async def test_binary_frames(shared_server):
    a = await T3.connect(shared_server)
    # A binary frame is read like a text one; invalid UTF-8 in it becomes U+FFFD.
    rid = new_id()
    f = await a.next_frame(json.dumps({"id": rid, "kind": "registration"}).encode())
    assert f["id"] == rid and f["kind"] == "connection"
    m = a.send_msg(a.id, "", rid=rid)
    raw = json.dumps(m).replace('"text": ""', '"text": "a\xffb"').encode("latin-1")
    await a.ws.send(raw)
    await a.wait_receive(a.id, "a\ufffdb")
    # Replies to binary frames are text frames.
    r = RawWS(shared_server.port)
    assert r.handshake(path="/v1/texto?nogreet=1", subprotocol=None).status == 101
    r.send_frame(OP_BIN, json.dumps({"id": rid, "kind": "registration"}))
    op, payload = r.recv_message()
    assert op == OP_TEXT and check_frame(payload.decode())["id"] == rid
    r.close()
    await a.close()


# ---- with confab.v1 ------------------------------------------------------------------------

async def test_native_dm_to_texto(shared_server):
    t = await T3.connect(shared_server)
    nat = await Client.connect(shared_server, "natalie")
    # A texto session is the core user texto:<UUID> (docs/protocol.md "Identities"): a
    # confab.v1 dm reaches it so.
    reply = await nat.ok("dm", to=f"texto:{t.id}", text="from native")
    assert reply["to"] == f"texto:{t.id}"
    r = await t.wait_receive("guest:natalie", "from native")
    assert r["client_id"] == t.id and UUID4.match(r["id"])
    # A texto client answering "guest:natalie" cannot: its receiver_id must be a UUID.
    assert (await t.error(t.send_msg("guest:natalie", "x")))[0] == "ESYNTAX"
    # The uuid must be the canonical form the session has; a bare UUID is no texto session.
    await nat.err("dm", "offline", to=f"texto:{new_id()}", text="nobody")
    await nat.err("dm", "user_name_invalid", to="texto:{%s}" % t.id, text="x")
    await nat.err("dm", "user_name_invalid", to=t.id, text="x")
    await t.close()
    await nat.err("dm", "offline", to=f"texto:{t.id}", text="gone")
    await close_all([nat])


def test_switch_off(start_server):
    s = start_server({("dialects", "texto"): 0})
    r = RawWS(s.port)
    assert r.handshake(path="/v1/texto", subprotocol=None).status == 404
    r.close()
    assert s.get("/v1/texto").status_code == 404
    r = RawWS(s.port)
    assert r.handshake().status == 101
    r.close()


# ---- two nodes -----------------------------------------------------------------------------

async def node_follows(node, uid):
    """Waits until a direct message to uid from node is delivered somewhere (the recipient's
    node has subscribed to its channel): a confab.v1 dm answers offline until then."""
    c = await Client.connect(node, "probe")
    deadline = asyncio.get_running_loop().time() + T(10)
    while True:
        reply = await c.send_cmd("dm", to=f"texto:{uid}", text="probe")
        if "error" not in reply:
            break
        assert reply["error"]["code"] == "offline", reply
        assert asyncio.get_running_loop().time() < deadline, f"{uid} never followed"
        await asyncio.sleep(0.02)
    await c.close()


async def test_two_nodes(start_server, redis):
    n1, n2 = await start_nodes(start_server, redis, 2)
    a = await T3.connect(n1)
    b = await T3.connect(n2)
    await node_follows(n1, b.id)
    await node_follows(n2, a.id)
    await b.wait_receive("guest:probe", "probe")
    await a.send(b.id, "a to b")
    r = await b.wait_receive(a.id, "a to b")
    assert r["client_id"] == b.id
    await b.send(a.id, "b to a")
    await a.wait_receive(b.id, "b to a")
    # Sending to oneself and to nobody works the same in cluster mode.
    await a.send(a.id, "self")
    await a.wait_receive(a.id, "self")
    await a.send(new_id(), "lost")
    await close_all([a, b])


async def test_ebroker_when_redis_is_down(start_server, redis):
    (n1,) = await start_nodes(start_server, redis, 1)
    a = await T3.connect(n1)
    redis.stop()
    rid = new_id()
    assert await a.error(a.send_msg(new_id(), "x", rid=rid)) == ("EBROKER", rid)
    # The session stays; registration still answers.
    await a.registration()
    await a.close()
