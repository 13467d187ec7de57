# SPDX-License-Identifier: MIT
"""Bad input in every dialect (confab.v1, seeds 000 to 004), standalone and with the
two sessions that keep talking on two nodes of one Redis: malformed JSON, missing inner
objects, wrong types, messages at and above the dialect's size limit (also in fragments),
invalid UTF-8 of every kind in text frames, binary frames. Each is answered as docs/dialects.md
and docs/protocol.md say; afterwards another session of the same dialect still receives what is
sent to it, no refused session lingers in the room, and /healthz answers 200 (the harness
checks the exit status, and valgrind's verdict with CONFAB_VALGRIND=1).

The per-dialect files test each rule once, standalone; this file checks the close codes
exactly (1009, 1007, where those only required "not 1000"), the forms of invalid UTF-8, the
fragmented cases, and that none of it disturbs sessions on another node."""
import asyncio
import json
import uuid

import pytest
import requests

from confabtest import (OP_BIN, OP_CONT, OP_TEXT, Client, RawWS, T, assert_error, close_all,
                        free_port, uniq)
from test_cluster import node_conf, wait_healthy
from test_dialect_000 import D0, ORIGIN, ws_path
from test_dialect_001 import BAD, C1, check_msg, name
from test_dialect_002 import D2, create, join_path, joined
from test_dialect_003 import T3, UUID4, check_frame, node_follows
from test_dialect_004 import T4, Ttu, ttu_conf

# Invalid UTF-8 in a text message: each closes that connection with 1007 (lws), no reply.
# (name, fragments of the message: the bytes between the dialect's prefix and suffix)
INVALID_UTF8 = [
    ("lone_ff", [b"\xff"]),
    ("continuation_only", [b"\x80"]),
    ("overlong_slash", [b"\xc0\xaf"]),
    ("overlong_3byte", [b"\xe0\x80\xaf"]),
    ("surrogate", [b"\xed\xa0\x80"]),
    ("above_10ffff", [b"\xf4\x90\x80\x80"]),
    ("truncated_then_ascii", [b"\xe2\x82x"]),
    # Split across fragments: a sequence begun in one fragment and broken in the next.
    ("split_then_broken", [b"ok \xe2\x82", b"\x28 rest"]),
]
# Ending the message inside a sequence (no suffix after the bytes).
TRUNCATED_AT_END = [("ends_mid_sequence", [b"abc \xe2\x82"]),
                    ("ends_mid_sequence_fragmented", [b"abc ", b"\xf0\x9f\x98"])]


def healthz(*nodes):
    for n in nodes:
        assert n.get("/healthz").status_code == 200, n.log_text()[-2000:]


def send_fragments(r, parts, opcode=OP_TEXT):
    for i, p in enumerate(parts):
        r.send_frame(opcode if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)


def read_until(r, pred, what, limit=50):
    """Reads messages from a RawWS until one (parsed JSON) satisfies pred; returns it."""
    for _ in range(limit):
        op, payload = r.recv_message()
        assert op != 8, f"closed ({r.close_code}) waiting for {what}"
        for line in payload.decode().split("\n"):
            if line.strip() and pred(json.loads(line)):
                return json.loads(line)
    raise AssertionError(f"{what} not among {limit} messages")


def closed_with(r, code):
    """The connection ends with a close frame `code`; returns the objects read before it."""
    objs, how = r.read_until_close(T(10))
    r.close()
    assert how == ("close", code), (how, objs[-3:])
    return objs


async def in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# ---- the dialects ------------------------------------------------------------------------------
# Each: setup(a, b) makes a session x on node a and y on node b that talk; talk(text) makes x
# send text to y and waits for it at y; raw(node) opens a raw session (handshake done, greeting
# read); prefix() + bytes + suffix is a text message carrying the bytes where the dialect reads
# text; limit is the dialect's message size limit and sized(n) an acceptable message of exactly
# n bytes, whose answer at_limit(r) checks; malformed(a) sends the dialect's malformed input
# and checks each answer; from_raw() is what y received from the raw sessions (raw_texts
# expected); members(node) the user ids in the room (room dialects) for the final check.

class NativeD:
    name = "native"
    raw_texts = []
    limit = 65536

    async def setup(self, a, b):
        self.room = uniq("bad")
        self.x = await Client.connect(a, uniq("x"))
        self.y = await Client.connect(b, uniq("y"))
        await self.x.join(self.room)
        await self.y.join(self.room)

    async def talk(self, text):
        r = await self.x.send(self.room, text)
        m = await self.y.wait_msg(self.room, r["seq"])
        assert m["text"] == text and m["from"]["id"] == self.x.id, m

    def raw(self, node):
        r = RawWS(node.port)
        assert r.handshake().status == 101
        reply, _ = r.request({"op": "hello", "id": 1, "name": uniq("raw")})
        assert "error" not in reply, reply
        reply, _ = r.request({"op": "join", "id": 2, "room": self.room})
        assert "error" not in reply, reply
        return r

    suffix = b'"}'

    def prefix(self):
        return b'{"op":"send","id":5,"room":"' + self.room.encode() + b'","text":"'

    def sized(self, n):
        base = b'{"op":"ping","id":9,"pad":""}'
        return base[:-2] + b"p" * (n - len(base)) + b'"}'

    async def at_limit(self, r):
        read_until(r, lambda o: o.get("id") == 9 and o.get("op") == "pong", "pong")

    def from_raw(self):
        return [m["text"] for m in self.y.msgs(self.room) if m["from"]["id"] != self.x.id]

    async def malformed(self, a):
        c = self.x
        room = self.room
        cases = [
            ('{"op":"send","id":1,"room":"%s","text":"x"' % room, "bad_json", None),
            ('{"op":"send","id":2,"room":"%s"}' % room, "bad_request", 2),  # no text
            ('{"id":3}', "bad_request", 3),  # no op
            ('{"op":"send","id":4,"room":"%s","text":{"t":1}}' % room, "bad_request", 4),
            ('{"op":"join","id":6,"room":["%s"]}' % room, "bad_request", 6),
            ('{"op":["send"],"id":7}', "bad_request", 7),
            ("[]", "bad_json", None),
        ]
        for text, code, cid in cases:
            if cid is None:
                await c.send_raw(text)
                reply = await c.next_noid_reply()
            else:
                reply = await c.request_raw(text, cid)
            assert_error(reply, code, cid)
        await c.send_raw(json.dumps({"op": "send", "room": room, "text": "bin"}).encode())
        assert_error(await c.next_noid_reply(), "bad_request")

    async def members(self, node):
        p = await self.y.ok("presence", room=self.room)
        return sorted(m["id"] for m in p["members"])

    def good(self):
        return sorted([self.x.id, self.y.id])

    async def close(self):
        await close_all([self.x, self.y])


class D000:
    name = "000"
    raw_texts = ["\ufffd"]  # the binary frame below
    limit = 512
    EMPTY = {"type": "error", "data": {"text": "'text' must not be empty"}}
    OVER = {"type": "error", "data": {"text": "'text' must not contain over 300 characters"}}

    async def setup(self, a, b):
        self.room = uniq("bad").replace("-", "_")
        self.x = await D0.connect(a, "xavier", self.room)
        self.y = await D0.connect(b, "yvonne", self.room)
        await self.x.wait_info("registered", self.y.id)

    async def talk(self, text):
        await self.x.send(text)
        await self.y.wait_chat(text, self.x.id)

    def raw(self, node):
        r = RawWS(node.port)
        assert r.handshake(path=ws_path("raw", self.room), subprotocol=None,
                           origin=ORIGIN).status == 101
        read_until(r, lambda o: o["type"] == "welcome", "welcome")
        return r

    suffix = b'"}'

    def prefix(self):
        return b'{"text":"'

    def sized(self, n):
        return b'{"text":"' + b"z" * (n - 11) + b'"}'

    async def at_limit(self, r):
        # 501 bytes of text: the frame is taken, the text is too long.
        read_until(r, lambda o: o == self.OVER, "the over-300 error")

    def from_raw(self):
        return [f["data"]["text"] for f in self.y.chats() if f["data"]["client"]["name"] == "raw"]

    async def malformed(self, a):
        c = self.x
        n = len(c.errors())
        # Go's json.Unmarshal into struct{Text string}, its error ignored: all of these are
        # the empty text (docs/dialects.md "Seed 000", "Frames from the client").
        bad = ['{"text":"unterminated', '{"text":', "{", "null", '"text"', "true",
               '{"text":null}', '{"text":{"inner":"x"}}', '{"text":["x"]}', '{"text":1.5}',
               '{"data":{"text":"x"}}', '{"type":"chat","data":{"text":"x"}}']
        for f in bad:
            await c.ws.send(f)
        await c.ws.send(b'{"text":""}')
        errs = await c.wait_error(n + len(bad) + 1)
        assert errs[n:] == [self.EMPTY["data"]["text"]] * (len(bad) + 1), errs[n:]
        # A binary frame with bytes that are not UTF-8 is text with U+FFFD (no 1007).
        await c.ws.send(b'{"text":"bin \xff\xfe"}')
        await self.y.wait_chat("bin \ufffd\ufffd", c.id)

    async def members(self, node):
        probe = await D0.connect(node, "probe", self.room)
        ids = sorted(x["id"] for x in probe.frames[0]["data"]["room"]["activeClients"]
                     if x["id"] != probe.id)
        await probe.close()
        return ids

    def good(self):
        return sorted([self.x.id, self.y.id])

    async def close(self):
        await close_all([self.x, self.y])


class D001:
    name = "001"
    raw_texts = ["\ufffd"]  # the binary frame below
    limit = 65536  # limits.max_frame

    async def setup(self, a, b):
        # The raw sessions act as one account through its access key: no password hash each.
        r = await C1.connect(a.rc)
        self.raw_uuid = (await r.sign(name("raw")))["userUUID"]
        self.raw_key = r.key
        await r.close()
        self.x = await C1.connect(a.rc, "x")
        self.y = await C1.connect(b.rc, "y")
        await self.x.sign(name("x"))
        await self.y.sign(name("y"))
        await self.x.join()
        await self.y.join()
        # Before malformed() reads x's next frames as the answers to its requests.
        await self.x.wait(lambda f: f["type"] == "sys" and f.get("user", {}).get("Username") ==
                          self.y.user, "y's sys channelJoin")

    async def talk(self, text):
        await self.x.say(text)
        check_msg(await self.y.got(text), text, self.x)
        await self.x.got(text)  # the sender's own copy: no frame arrives after it unasked

    def raw(self, node):
        r = RawWS(node.rc)
        assert r.handshake(path="/ws", subprotocol=None).status == 101
        read_until(r, lambda o: o["type"] == "ready", "ready")
        r.send_frame(OP_TEXT, json.dumps({"type": "channelJoin", "userUUID": self.raw_uuid,
                                          "accessKey": self.raw_key,
                                          "channelJoin": {"recipientUUID": ""}}).encode())
        read_until(r, lambda o: o["type"] == "sys" and o.get("userUUID") == self.raw_uuid and
                   "SUUID" in o, "own sys channelJoin")
        return r

    suffix = b'"}}'

    def prefix(self):
        return b'{"type":"channelMessage","channelMessage":{"recipientUUID":"","message":"'

    def sized(self, n):
        base = b'{"type":"users","pad":""}'
        return base[:-2] + b"p" * (n - len(base)) + b'"}'

    async def at_limit(self, r):
        read_until(r, lambda o: o["type"] == "users", "users")

    def from_raw(self):
        return [m["Message"] for m in self.y.msgs() if m["SenderUUID"] == self.raw_uuid]

    async def malformed(self, a):
        c = self.x
        cases = BAD + [
            # Over limits.max_text (4096 bytes): 104, nothing sent.
            ((self.prefix() + b"x" * 4097 + self.suffix).decode(), 104),
            # A password never comes back in the payload.
            ('{"type": "signIn", "signIn": {"username": "", "password": "s3cret-pw"}}', 4),
            ('{"type": "signUp", "signUp": {"username": 5, "password": "s3cret-pw"}}', 1),
        ]
        for req, code in cases:
            e = await c.error(req, code)
            assert isinstance(e["error"], str) and e["error"], (req, e)
            # The payload is the request as parsed, without passwords; null for no object.
            try:
                want = json.loads(req)
            except ValueError:
                want = None
            if not isinstance(want, dict):
                want = None
            for k in ("signIn", "signUp"):
                if want and isinstance(want.get(k), dict):
                    want[k].pop("password", None)
            assert e["payload"] == want, (req, e)
        # A binary request is read as text, invalid UTF-8 in it as U+FFFD (no 1007).
        await c.send(self.prefix() + b"bin \xff\xfe" + self.suffix)
        check_msg(await self.y.got("bin \ufffd\ufffd"), "bin \ufffd\ufffd", c)
        assert [m["Message"] for m in self.y.msgs()] == ["before", "bin \ufffd\ufffd"]

    async def members(self, node):
        c = await Client.connect(node, uniq("probe"))
        j = await c.join("public")
        await c.close()
        return sorted(m["id"] for m in j["members"] if m["id"] != c.id)

    def good(self):
        return sorted([self.x.user, self.y.user])  # an account's user id is its name

    async def close(self):
        await close_all([self.x, self.y])


class D002:
    name = "002"
    raw_texts = ["s" * 4096]  # the message at the limit
    limit = 4096  # limits.max_text: a frame is the text

    async def setup(self, a, b):
        self.room = (await in_thread(create, a))["id"]
        self.x = await D2.connect(a, "xavier", self.room)
        self.y = await D2.connect(b, "yvonne", self.room)
        await self.x.wait(lambda f: f == joined("yvonne"), "yvonne joined")

    async def talk(self, text):
        await self.x.ws.send(text)
        await self.y.wait_msg(text, "xavier")

    def raw(self, node):
        r = RawWS(node.port)
        assert r.handshake(path=join_path("raw", self.room), subprotocol=None).status == 101
        read_until(r, lambda o: o == joined("raw"), "own participant_joined")
        return r

    suffix = b" end"

    def prefix(self):
        return b"text "

    def sized(self, n):
        return b"s" * n

    async def at_limit(self, r):
        read_until(r, lambda o: o == {"text": "s" * self.limit, "participant": "raw"},
                   "the message at the limit")

    def from_raw(self):
        return [m["text"] for m in self.y.msgs() if m["participant"] == "raw"]

    async def malformed(self, a):
        # No JSON here: whatever the text frame holds is the text, verbatim; a NUL ends it;
        # binary frames are ignored (docs/dialects.md "Seed 002", "Frames from the client").
        for f in ('{"text":', "{}", "null", '{"text":{"inner":1}}', "ab\x00cd", "\x00"):
            await self.x.ws.send(f)
        await self.x.ws.send(b"binary, ignored")
        await self.x.ws.send(b"\xff\xfe")
        await self.x.ws.send("after")
        await self.y.wait_msg("after", "xavier")
        got = [m["text"] for m in self.y.msgs()]
        want = ['{"text":', "{}", "null", '{"text":{"inner":1}}', "ab", "", "after"]
        assert got == ["before"] + want, got

    async def members(self, node):
        c = await Client.connect(node, uniq("probe"))
        j = await c.join(self.room)
        await c.close()
        return sorted(m["name"] for m in j["members"] if m["id"] != c.id)

    def good(self):
        return ["xavier", "yvonne"]  # their ids (KSUIDs) are never shown to them

    async def close(self):
        await close_all([self.x, self.y])


class D003:
    name = "003"
    raw_texts = []
    limit = 65536

    async def setup(self, a, b):
        self.x = await T3.connect(a)
        self.y = await T3.connect(b)
        if a is not b:
            await node_follows(a, self.y.id)
            await self.y.wait_receive("guest:probe", "probe")

    async def talk(self, text):
        await self.x.send(self.y.id, text)
        await self.y.wait_receive(self.x.id, text)

    def raw(self, node):
        r = RawWS(node.port)
        assert r.handshake(path="/v1/texto?nogreet=1", subprotocol=None).status == 101
        return r

    suffix = b'"}'

    def prefix(self):
        return b'{"kind":"registration","id":"' + str(uuid.uuid4()).encode() + b'","x":"'

    def sized(self, n):
        base = b'{"kind":"registration","id":"' + str(uuid.uuid4()).encode() + b'","p":""}'
        return base[:-2] + b"p" * (n - len(base)) + b'"}'

    async def at_limit(self, r):
        op, payload = r.recv_message()
        assert check_frame(payload.decode())["kind"] == "connection"

    def from_raw(self):
        return [f["data"]["text"] for f in self.y.receives() if f["data"]["sender_id"] not in
                (self.x.id, "guest:probe")]

    async def malformed(self, a):
        c, y = self.x, self.y
        rid = str(uuid.uuid4())
        syntax = ['{"kind":"send"', "{", "[]", "null",
                  json.dumps({"id": rid, "client_id": c.id, "kind": "send"}),  # no data
                  json.dumps({"id": rid, "client_id": c.id, "kind": "send",
                              "data": {"receiver_id": {"id": y.id}, "text": "x"}}),
                  json.dumps({"id": rid, "client_id": c.id, "kind": "send",
                              "data": {"receiver_id": y.id, "text": {"t": "x"}}}),
                  json.dumps({"id": [rid], "kind": "registration"}),
                  json.dumps({"id": rid, "kind": {"k": "registration"}})]
        for f in syntax:
            code, eid = await c.error(f)
            assert code == "ESYNTAX" and UUID4.match(eid) and eid != rid, (f, code, eid)
        m = c.send_msg(y.id, "x", rid=rid, client_id=y.id)
        assert await c.error(m) == ("ECID", rid)
        code, _ = await c.error(b"binary \xff not json")
        assert code == "ESYNTAX"
        assert not [f for f in y.receives() if f["data"]["text"] == "x"]

    async def close(self):
        await close_all([self.x, self.y])


class D004:
    name = "004"
    raw_texts = []
    limit = 65536

    async def setup(self, a, b):
        self.ta, self.tb = a.ttu, b.ttu
        self.yname = uniq("yv")
        self.y = await T4.connect(self.tb.port, self.yname)
        await self.ta.until_online(self.yname)

    async def talk(self, text):
        r = await in_thread(lambda: self.ta.send("xavier", self.yname, text))
        assert (r.status_code, r.text) == (200, "Send")
        await self.y.wait_payload(text)

    def raw(self, node):
        r = RawWS(node.ttu.port)
        assert r.handshake(path="/ws", subprotocol=None).status == 101
        return r

    suffix = b""

    def prefix(self):
        return b"username:"

    def sized(self, n):
        self.big = uniq("big")
        head = f"username:{self.big}:".encode()
        return head + b"p" * (n - len(head))

    async def at_limit(self, r):
        # Taken: registers the name before the second ':' (there is no reply to read).
        await self.ta.until_online(self.big)

    def from_raw(self):
        return [f["payload"] for f in self.y.frames if f["sender"] != "xavier"]

    async def malformed(self, a):
        # Frames that are no valid registration are ignored, the socket stays as it was
        # (docs/dialects.md "Seed 004", "Mapping onto the core").
        zname = uniq("zed")
        z = await T4.connect(self.ta.port, zname)
        await self.ta.until_online(zname)
        for f in ("username", "username:", "username::x", "user:" + self.yname, "hello",
                  "username: lead", "username:trail ", "username:a\x01b",
                  "username:" + "n" * 41, '{"username":"x"}'):
            await z.ws.send(f)
        await z.ws.send(b"username:binary")
        r = await in_thread(lambda: self.ta.send("xavier", zname, "z still registered"))
        assert r.status_code == 200, r.text
        await z.wait_payload("z still registered")
        await self.talk("still registered")
        for gone in ("lead", "trail", "n" * 41, "binary", "x"):
            assert self.ta.status(gone).text == f"{gone} is offline", gone
        assert z.payloads() == ["z still registered"]
        await z.close()
        y, name = self.y, self.yname
        # The HTTP side: bodies that are not what the seed's model reads are 400 with a
        # reason (413 over 64 KiB), and nothing is delivered.
        t = self.ta
        for body in ("not json", "[]", '{"receiver":"%s"}' % name, '{"payload":"p"}',
                     '{"receiver":"%s","payload":{"inner":1}}' % name,
                     '{"receiver":"%s","payload":["p"]}' % name,
                     '{"receiver":{"n":"%s"},"payload":"p"}' % name,
                     '{"receiver":null,"payload":"p"}'):
            for path in ("/api/send", "/api/receive"):
                r = await in_thread(lambda: requests.post(
                    t.url(path), data=body, headers={"X-Username": "xavier"}, timeout=T(10)))
                # /api/send: 400 with a reason (docs/dialects.md); /api/receive (the
                # seed's broker hook) says no more than that it refuses.
                ok = r.status_code == 400 if path == "/api/send" else 400 <= r.status_code < 500
                assert ok and r.text, (path, body, r.status_code, r.text)
        r = await in_thread(lambda: requests.post(
            t.url("/api/send"), data=b"x" * 70000, headers={"X-Username": "xavier"},
            timeout=T(10)))
        assert r.status_code == 413, (r.status_code, r.text)
        await self.talk("after the bad bodies")
        assert y.payloads() == ["before", "still registered", "after the bad bodies"]

    async def close(self):
        await close_all([self.y])


DIALECTS = [NativeD, D000, D001, D002, D003, D004]


def conf(main, tport, rcport):
    return {("server", "listen"): [f"127.0.0.1:{main}", ttu_conf(tport),
                                   f"127.0.0.1:{rcport} dialects=redis_chat"],
            ("dialects", "disposable_origin"): ORIGIN}


async def start(start_server, redis_factory, mode):
    if mode == "standalone":
        main, tport, rcport = free_port(), free_port(), free_port()
        s = start_server(conf(main, tport, rcport), port=main)
        s.ttu = Ttu(s, tport)
        s.rc = rcport
        return s, s
    redis = redis_factory()
    nodes = []
    for i in range(2):
        main, tport, rcport = free_port(), free_port(), free_port()
        s = start_server(node_conf(redis, f"node{i}", conf(main, tport, rcport)), port=main)
        s.ttu = Ttu(s, tport)
        s.rc = rcport
        nodes.append(s)
    for s in nodes:
        await wait_healthy(s)
    return nodes


@pytest.mark.parametrize("mode", ["standalone", "two_nodes"])
@pytest.mark.parametrize("dialect", DIALECTS, ids=[d.name for d in DIALECTS])
@pytest.mark.deadline(60)
async def test_bad_input(start_server, redis_factory, dialect, mode):
    a, b = await start(start_server, redis_factory, mode)
    d = dialect()
    await d.setup(a, b)
    await d.talk("before")

    # Malformed input, answered as specified; the sessions stay.
    await d.malformed(a)
    await d.talk("after malformed input")
    healthz(a, b)

    # The size limit: a message of exactly the limit in fragments is taken; one byte more is
    # 1009, in one frame or in fragments each under the limit.
    r = d.raw(a)
    exact = d.sized(d.limit)
    assert len(exact) == d.limit
    send_fragments(r, [exact[i:i + 1000] for i in range(0, d.limit, 1000)])
    await d.at_limit(r)
    r.close()
    for fragments in (False, True):
        r = d.raw(a)
        big = d.sized(d.limit + 1)
        try:
            if fragments:
                send_fragments(r, [big[i:i + 1000] for i in range(0, len(big), 1000)])
            else:
                r.send_frame(OP_TEXT, big)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading: its close frame must still arrive
        closed_with(r, 1009)
    await d.talk("after oversized messages")
    healthz(a, b)

    # Invalid UTF-8 in text messages: 1007, no answer, nothing of it delivered.
    for why, parts in INVALID_UTF8 + TRUNCATED_AT_END:
        suffix = b"" if (why, parts) in TRUNCATED_AT_END else d.suffix
        msg = list(parts)
        msg[0] = d.prefix() + msg[0]
        msg[-1] = msg[-1] + suffix
        r = d.raw(a)
        try:
            send_fragments(r, msg)
        except (BrokenPipeError, ConnectionResetError):
            pass
        objs = closed_with(r, 1007)
        assert not [o for o in objs if "error" in o or o.get("kind") in ("error", "connection")
                    or o.get("type") in ("error", "chat", "channelMessage") or "text" in o or
                    o.get("id") == 5], (why, objs)
    # The same bytes in a binary frame are no 1007 (ignored, or read as text with U+FFFD).
    r = d.raw(a)
    r.send_frame(OP_BIN, d.prefix() + b"\xff" + d.suffix)
    r.send_close(1000)
    closed_with(r, 1000)
    await d.talk("after invalid UTF-8")
    healthz(a, b)
    assert d.from_raw() == d.raw_texts, d.from_raw()

    # No refused session is left in the room: each was a user of its own, and left.
    if hasattr(d, "members"):
        for node in (a, b):
            deadline = asyncio.get_running_loop().time() + T(10)
            while True:
                ids = await d.members(node)
                if ids == d.good():
                    break
                assert asyncio.get_running_loop().time() < deadline, (node.port, ids)
                await asyncio.sleep(0.05)
    await d.close()
