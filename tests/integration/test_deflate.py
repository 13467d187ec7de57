# SPDX-License-Identifier: MIT
"""permessage-deflate (RFC 7692) on a listener with deflate=on (docs/dialects.md "Listeners and
mounts", src/net/deflate.c), against the real binary: negotiated there only, chat between
compressed and plain clients both ways (bursts packed into one message, a text at limits.max_text,
a join reply longer than lws compresses in one go), a seed dialect, two nodes, the answers to the
offers lws 4.1.6 would get wrong, and what a hostile client can send compressed: a small frame
inflating past limits.max_frame (1009, memory bounded), data that does not inflate (1002), RSV1
on a continuation (1002), text that inflates to invalid UTF-8 (1007), a reader that stops (4008),
and the frame of a few bytes that aborted lws's own inflater; meanwhile other clients chat and
/healthz answers."""
import asyncio
import json
import os
import struct
import zlib

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from confabtest import (OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, VALGRIND, T, Client,
                        RawWS, assert_bystander_unaffected, assert_consecutive, close_all,
                        free_port, poll_until, uniq)
from test_cluster import node_conf, wait_healthy
from test_dialect_000 import D0, ORIGIN, ws_path
from test_listeners import check_config

PMD = "permessage-deflate"
TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.1: the end of a sync flush, left off the wire


def two_listeners(start_server, conf=None):
    """A server with a plain listener (server.port) and a deflate=on one (server.dport)."""
    p1, p2 = free_port(), free_port()
    c = {("server", "listen"): [f"127.0.0.1:{p1}", f"127.0.0.1:{p2} deflate=on"],
         ("dialects", "disposable_origin"): ORIGIN}
    c.update(conf or {})
    s = start_server(c, port=p1)
    s.dport = p2
    return s


def durl(server, path="/v1/ws"):
    return f"ws://127.0.0.1:{server.dport}{path}"


class DeflateWS(RawWS):
    """A raw client that offers permessage-deflate and keeps what it negotiated: it compresses
    what it sends (with context takeover, as browsers do) and inflates what arrives with RSV1."""

    def __init__(self, port, **kw):
        super().__init__(port, **kw)
        self.inflater = zlib.decompressobj(-15)
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.compressed = 0  # messages that arrived compressed
        self.wire = 0  # their payload bytes on the wire

    def open(self, offer=PMD):
        r = self.handshake(headers={"Sec-WebSocket-Extensions": offer} if offer else None)
        assert r.status == 101, (r.status, r.body)
        return r.headers.get("sec-websocket-extensions")

    def compress(self, data):
        if isinstance(data, str):
            data = data.encode()
        out = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]

    def send_compressed(self, data):
        self.send_frame(OP_TEXT, self.compress(data), rsv=0x40)

    def recv_frame(self):
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        payload = self._read_exact(n)
        self.last_rsv = b0 & 0x70
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self, answer_pings=True):
        parts, first_op, rsv = [], None, 0
        while True:
            fin, op, payload = self.recv_frame()
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op in (OP_PONG, OP_CLOSE):
                if op == OP_CLOSE:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                    self.close_reason = payload[2:]
                    return op, payload
                continue
            if op != OP_CONT:
                first_op, rsv = op, self.last_rsv
            else:
                assert not self.last_rsv, "RSV1 on a continuation frame"
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if rsv & 0x40:
                    self.compressed += 1
                    self.wire += len(data)
                    data = self.inflater.decompress(data + TAIL)
                return first_op, data

    def request_ok(self, obj):
        reply, _ = self.request(obj)
        assert "error" not in reply, reply
        return reply

    def send_json(self, obj):
        self.send_compressed(json.dumps(obj))


def crafted(parts):
    """A raw DEFLATE stream of one fixed-Huffman block, without the flush that would end it:
    literal bytes, and ints for a match of that length at distance 1."""
    bits = [0, 1, 0]  # BFINAL 0, BTYPE 01

    def huff(code, n):
        bits.extend((code >> i) & 1 for i in range(n - 1, -1, -1))

    lengths = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
               115, 131, 163, 195, 227, 258]
    for p in parts:
        if isinstance(p, int):
            i = 28 if p == 258 else max(k for k in range(28) if lengths[k] <= p)
            code = 257 + i
            huff(code - 256, 7) if code < 280 else huff(0xC0 + code - 280, 8)
            extra = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
            bits.extend(((p - lengths[i]) >> b) & 1 for b in range(extra[i]))
            huff(0, 5)  # distance 1
        else:
            for c in p:
                huff(0x30 + c, 8) if c < 144 else huff(0x190 + c - 144, 9)
    bits += [0] * (-len(bits) % 8)
    return bytes(sum(bits[i + j] << j for j in range(8)) for i in range(0, len(bits), 8))


def bomb(size, prefix=b'{"op":"ping","id":1,"pad":"'):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(prefix + b" " * size) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def expect_close(w, code, reason=None):
    """Reads until the server's close frame; returns its code (EOF is a failure)."""
    w.settimeout(T(10))
    while True:
        op, payload = w.recv_message()
        if op == OP_CLOSE:
            assert w.close_code == code, (w.close_code, payload)
            if reason is not None:
                assert w.close_reason == reason, w.close_reason
            return


async def d_session(server, room, name):
    """A confab.v1 session on the deflate listener, hello and join done (websockets' deflate)."""
    c = await Client.connect(durl(server), name, compression="deflate")
    await c.join(room)
    return c


def negotiated(c):
    return [type(e).__name__ for e in c.ws.extensions]


# ---------------------------------------------------------------------------------------------


async def test_negotiated_only_on_deflate_listener(start_server):
    s = two_listeners(start_server)
    plain = await Client.connect(s, uniq("p"), compression="deflate")
    comp = await Client.connect(durl(s), uniq("d"), compression="deflate")
    none = await Client.connect(durl(s), uniq("n"))
    assert "Sec-WebSocket-Extensions" not in plain.ws.response_headers
    assert negotiated(plain) == [] and negotiated(none) == []
    assert comp.ws.response_headers["Sec-WebSocket-Extensions"] == PMD
    assert negotiated(comp) == ["PerMessageDeflate"]
    await close_all([plain, comp, none])

    def offer(port, header):
        w = DeflateWS(port)
        try:
            return w.open(header)
        finally:
            w.close()

    # What browsers offer, and the parameters lws answers.
    assert offer(s.dport, f"{PMD}; client_max_window_bits") == PMD
    assert offer(s.dport, f"x-webkit-deflate-frame, {PMD}") == PMD
    assert offer(s.dport, f"{PMD}; client_no_context_takeover") == \
        f"{PMD}; client_no_context_takeover"
    assert offer(s.dport, f"{PMD}; server_no_context_takeover; client_no_context_takeover") == \
        f"{PMD}; server_no_context_takeover; client_no_context_takeover"
    # A window the server would not keep to (lws ignores server_max_window_bits): declined, as
    # RFC 7692 7.1.2.1 says, and the session goes on uncompressed.
    assert offer(s.dport, f"{PMD}; server_max_window_bits=10") is None
    assert offer(s.dport, f"{PMD}; server_max_window_bits=10, {PMD}") is None
    assert offer(s.dport, "x-webkit-deflate-frame") is None
    assert offer(s.port, PMD) is None

    w = DeflateWS(s.dport)
    assert w.open(f"{PMD}; server_max_window_bits=9") is None
    w.send_frame(OP_TEXT, json.dumps({"op": "ping", "id": 3}))
    op, data = w.recv_message()
    assert json.loads(data)["op"] == "pong" and not w.compressed
    # RSV1 where nothing was negotiated: lws's protocol error.
    w.send_frame(OP_TEXT, w.compress('{"op":"ping"}'), rsv=0x40)
    expect_close(w, 1002)
    w.close()
    await assert_bystander_unaffected(s, [s.port, s.dport])


@pytest.mark.deadline(60)
async def test_chat_between_compressed_and_plain_clients(start_server):
    s = two_listeners(start_server)
    room = uniq("mixed")
    a = await d_session(s, room, uniq("a"))  # compressed
    b = await Client.connect(s, uniq("b"))  # plain
    await b.join(room)
    assert negotiated(a) == ["PerMessageDeflate"]

    r = await a.send(room, "from the compressed side")
    ev = await b.wait_msg(room, r["seq"])
    assert ev["text"] == "from the compressed side"
    r = await b.send(room, "from the plain side")
    ev = await a.wait_msg(room, r["seq"])
    assert ev["text"] == "from the plain side"

    # A text of limits.max_text bytes, both ways (longer than lws compresses in one go).
    big = "".join(chr(0x61 + (i * 7) % 26) for i in range(4096))
    r = await a.send(room, big)
    assert (await b.wait_msg(room, r["seq"]))["text"] == big
    r = await b.send(room, big)
    assert (await a.wait_msg(room, r["seq"]))["text"] == big

    # A burst: the deflate session's queued events go packed, several to a message.
    frames0, first = a.frames, r["seq"] + 1
    futs = [await b.start_cmd("send", room=room, text=f"burst {i} " + "lorem ipsum " * 8)
            for i in range(400)]
    for f in futs:
        assert "error" not in await asyncio.wait_for(f, T(10))
    msgs = await a.wait_until(lambda: (lambda m: len(m) >= 400 and m)(
        [m for m in a.msgs(room) if m["seq"] >= first]), what="the burst")
    assert len(msgs) == 400
    assert_consecutive(msgs, first)
    assert [m["text"] for m in msgs] == [f"burst {i} " + "lorem ipsum " * 8 for i in range(400)]
    assert a.frames - frames0 < 400, a.frames - frames0

    # A late joiner on the deflate listener: the join reply (20 messages of history) is longer
    # than one go, and what follows it still comes in order.
    c = await Client.connect(durl(s), uniq("c"), compression="deflate")
    reply = await c.join(room)
    assert len(reply["history"]) == 20 and reply["history"][-1]["seq"] == msgs[-1]["seq"]
    r = await b.send(room, "after the join")
    assert (await c.wait_msg(room, r["seq"]))["text"] == "after the join"
    await close_all([a, b, c])


async def test_server_messages_are_compressed(start_server):
    s = two_listeners(start_server)
    room = uniq("wire")
    w = DeflateWS(s.dport)
    assert w.open() == PMD
    w.request_ok({"op": "hello", "id": 1, "name": uniq("w")})
    w.request_ok({"op": "join", "id": 2, "room": room})
    text = "the same words again and again " * 20
    for i in range(5):
        assert s.post_message(room, text).status_code in (200, 201)
        op, data = w.recv_message()
        ev = json.loads(data)
        assert ev["ev"] == "msg" and ev["text"] == text, ev
    # Every message arrived compressed (RSV1), in fewer bytes than it inflated to, and the
    # server kept its window from one message to the next (the inflater did too).
    assert w.compressed >= 7, w.compressed
    assert w.wire < 5 * len(text) / 4, w.wire
    # And what the client sends compressed, in frames longer than one read of the socket
    # (lws hands each in several chunks, RSV1 on all of them) and in fragments.
    pad = os.urandom(25000).hex()
    w.send_compressed(json.dumps({"op": "ping", "id": 3, "pad": pad}))
    assert json.loads(w.recv_message()[1])["id"] == 3
    data = w.compress(json.dumps({"op": "ping", "id": 4, "pad": pad}))
    w.send_frame(OP_TEXT, data[:20000], fin=False, rsv=0x40)
    w.send_frame(OP_CONT, data[20000:])
    assert json.loads(w.recv_message()[1])["id"] == 4
    w.close()


@pytest.mark.parametrize("params", [
    dict(server_no_context_takeover=True),
    dict(client_no_context_takeover=True),
    dict(server_no_context_takeover=True, client_no_context_takeover=True),
])
async def test_no_context_takeover_offers(start_server, params):
    """lws 4.1.6 applies these parameters as a client would (server_no_context_takeover resets
    its inflater, client_no_... its compressor); deflate.c swaps them. Without the swap a client
    that was promised server_no_context_takeover cannot inflate the second message."""
    s = two_listeners(start_server)
    room = uniq("nct")
    a = await Client.connect(durl(s), uniq("a"), compression=[
        ClientPerMessageDeflateFactory(**params)])
    b = await Client.connect(durl(s), uniq("b"), compression="deflate")
    header = a.ws.response_headers["Sec-WebSocket-Extensions"]
    for k in params:
        assert k in header, header
    await a.join(room)
    await b.join(room)
    for i in range(10):
        r = await a.send(room, f"similar message number {i} with the same words")
        assert (await b.wait_msg(room, r["seq"]))["text"].endswith("the same words")
        r = await b.send(room, f"similar reply number {i} with the same words")
        assert (await a.wait_msg(room, r["seq"]))["text"].endswith("the same words")
    assert not a.closed and not b.closed
    await close_all([a, b])


async def test_seed_dialect_on_deflate_listener(start_server):
    s = two_listeners(start_server)
    room = uniq("seed").replace("-", "_")
    ws = await websockets.connect(durl(s, ws_path("deflated", room)), origin=ORIGIN,
                                  compression="deflate", ping_interval=None, max_size=None,
                                  open_timeout=T(10), close_timeout=T(5))
    assert ws.response_headers["Sec-WebSocket-Extensions"] == PMD
    d = D0(ws, "deflated")
    await d.wait(lambda f: len(d.frames) >= 2, "welcome and registered")
    plain = await Client.connect(s, uniq("p"))
    await plain.join(room)
    await d.send("hello from seed 000, compressed")
    ev = await plain.wait_event(lambda e: e.get("ev") == "msg" and e.get("room") == room)
    assert ev["text"] == "hello from seed 000, compressed"
    await plain.send(room, "and back")
    await d.wait_chat("and back")
    await d.close()
    await plain.close()


# --- hostile clients ------------------------------------------------------------------------


@pytest.mark.deadline(60)
async def test_compressed_message_past_max_frame_closes_1009(start_server):
    s = two_listeners(start_server, {("limits", "max_frame"): 65536})
    rss0 = s.rss_kb()
    # 64 MiB of spaces in 64 KiB: one frame, and the same split in 1 KiB fragments.
    for fragmented in (False, True):
        w = DeflateWS(s.dport)
        assert w.open() == PMD
        data = bomb(64 << 20)
        assert len(data) < 128 * 1024
        if fragmented:
            pieces = [data[i:i + 1024] for i in range(0, len(data), 1024)]
            for i, p in enumerate(pieces):
                try:
                    w.send_frame(OP_CONT if i else OP_TEXT, p, fin=i == len(pieces) - 1,
                                 rsv=0 if i else 0x40)
                except (BrokenPipeError, ConnectionResetError):
                    break
        else:
            w.send_frame(OP_TEXT, data, rsv=0x40)
        expect_close(w, 1009, b"message too big")
        w.close()
    # The inflated whole was never held: the server grew by far less than 64 MiB (valgrind's
    # own memory is in the RSS there).
    if not VALGRIND:
        assert s.rss_kb() - rss0 < 16 * 1024, (rss0, s.rss_kb())
    assert s.metric("confab_frame_too_big_total", 0) == 2

    # At the limit exactly it is a message; one byte more is not.
    prefix = b'{"op":"ping","id":5,"pad":"'
    at_max = 65536 - len(prefix) - 2
    w = DeflateWS(s.dport)
    w.open()
    w.send_compressed(prefix + b" " * at_max + b'"}')
    op, reply = w.recv_message()
    assert json.loads(reply)["op"] == "pong"
    w.send_compressed(prefix + b" " * (at_max + 1) + b'"}')
    expect_close(w, 1009)
    w.close()
    await assert_bystander_unaffected(s, [s.port, s.dport])


async def test_frame_that_aborted_lws_inflater(start_server):
    """lws 4.1.6's inflater (which deflate.c never uses) fails assert(priv->rx.avail_out) and
    aborts the process when a message's last input byte leaves more output pending than its
    128-byte buffer and 5 bytes hold: this 6-byte frame did it. Now it is a message like any
    other (not JSON: the dialect answers so)."""
    s = two_listeners(start_server)
    for parts in ([b"a", 258, 200], [b"a", 258, 258, 100], [b"a" * 127, 200]):
        w = DeflateWS(s.dport)
        assert w.open() == PMD
        w.send_frame(OP_TEXT, crafted(parts), rsv=0x40)
        op, reply = w.recv_message()
        assert json.loads(reply)["error"]["code"] == "bad_json", reply
        w.close()
    assert s.alive()
    await assert_bystander_unaffected(s, [s.port, s.dport])


async def test_data_that_does_not_inflate_closes_1002(start_server):
    s = two_listeners(start_server)
    cases = [
        [(OP_TEXT, b"\xff\xff\xff\xff\x00", 0x40, True)],  # an invalid block type
        [(OP_TEXT, os.urandom(32) + b"\xff", 0x40, True)],
        # An empty final block (BFINAL), then more of the message in a second frame.
        [(OP_TEXT, b"\x03\x00", 0x40, False), (OP_CONT, b"\x4b\x04\x00", 0, True)],
    ]
    for frames in cases:
        w = DeflateWS(s.dport)
        assert w.open() == PMD
        for op, payload, rsv, fin in frames:
            w.send_frame(op, payload, fin=fin, rsv=rsv)
        expect_close(w, 1002, b"bad compressed data")
        w.close()
    # RSV1 says a message is compressed on its first frame only (RFC 7692 6.1).
    w = DeflateWS(s.dport)
    w.open()
    data = w.compress('{"op":"ping","id":1}')
    w.send_frame(OP_TEXT, data[:4], fin=False, rsv=0x40)
    w.send_frame(OP_CONT, data[4:], rsv=0x40)
    expect_close(w, 1002, b"bad rsv")
    w.close()
    await assert_bystander_unaffected(s, [s.port, s.dport])


async def test_compressed_text_that_is_not_utf8_closes_1007(start_server):
    s = two_listeners(start_server)
    for payload, reason in ((b'{"op":"ping","x":"\xff"}', b"bad utf8"),
                            (b'{"op":"ping","x":"\xed\xa0\x80"}', b"bad utf8"),
                            (b'{"op":"ping"}\xe2\x82', b"partial utf8")):
        w = DeflateWS(s.dport)
        w.open()
        w.send_compressed(payload)
        expect_close(w, 1007, reason)
        w.close()
    # Split inside a character across compressed fragments: valid, answered.
    w = DeflateWS(s.dport)
    w.open()
    msg = '{"op":"ping","id":4,"x":"caf\u00e9 \U0001f600"}'.encode()
    data = w.compress(msg)
    for i in range(len(data)):
        w.send_frame(OP_CONT if i else OP_TEXT, data[i:i + 1], fin=i == len(data) - 1,
                     rsv=0 if i else 0x40)
    op, reply = w.recv_message()
    assert json.loads(reply)["id"] == 4
    w.close()
    await assert_bystander_unaffected(s, [s.port, s.dport])


@pytest.mark.deadline(120)
async def test_compressed_reader_that_stops_closes_4008(start_server):
    """A session that negotiated deflate and stops reading is still bounded by session.queue_*:
    what lws holds of its compressed writes counts (CF_DEFLATE_HELD). Random text, so that the
    compressed stream outgrows the kernel's socket buffers too."""
    text_max = 60000
    s = two_listeners(start_server, {("session", "queue_frames"): 64,
                                     ("session", "queue_bytes"): 1 << 20,
                                     ("limits", "max_text"): text_max,
                                     ("limits", "max_frame"): text_max + 4096,
                                     ("rooms", "join_history"): 0,
                                     ("rooms", "presence_events_max"): 0})
    room = uniq("slow")
    stuck = DeflateWS(s.dport, rcvbuf=4096)
    assert stuck.open() == PMD
    stuck.request_ok({"op": "hello", "id": 1, "name": uniq("stuck")})
    stuck.request_ok({"op": "join", "id": 2, "room": room})
    reader = await d_session(s, room, uniq("reader"))
    sender = await Client.connect(s, uniq("sender"))
    await sender.join(room)
    n, first = 200, None
    texts = [os.urandom(text_max * 3 // 4 - 8).hex()[:text_max - 8] for _ in range(8)]
    for i in range(n):
        r = await sender.send(room, f"{i:05d} {texts[i % 8]}")
        first = first or r["seq"]
    msgs = await reader.wait_until(lambda: (lambda m: len(m) >= n and m)(
        [m for m in reader.msgs(room) if m["seq"] >= first]), T(60), what="the flood")
    assert_consecutive(msgs, first)
    assert [m["text"] for m in msgs] == [f"{i:05d} {texts[i % 8]}" for i in range(n)]
    await poll_until(lambda: s.metric("confab_slow_consumer_closes_total", 0) >= 1, T(10),
                     what="the stuck reader's 4008")
    assert s.metric("confab_slow_consumer_closes_total") == 1  # the reader kept up
    assert not reader.closed
    stuck.close()
    await close_all([reader, sender])
    await assert_bystander_unaffected(s, [s.port, s.dport])


@pytest.mark.deadline(60)
async def test_two_nodes_compressed_and_plain(start_server, redis):
    p = free_port()
    a_node = start_server(node_conf(redis, "n0", {
        ("server", "listen"): [f"127.0.0.1:{p} deflate=on"]}), port=p)
    b_node = start_server(node_conf(redis, "n1"))
    for n in (a_node, b_node):
        await wait_healthy(n)
    room = uniq("pair")
    a = await Client.connect(a_node, uniq("a"), compression="deflate")
    b = await Client.connect(b_node, uniq("b"), compression="deflate")
    assert negotiated(a) == ["PerMessageDeflate"] and negotiated(b) == []
    await a.join(room)
    await b.join(room)
    for i in range(20):
        r = await a.send(room, f"node 0 says {i}")
        assert (await b.wait_msg(room, r["seq"]))["text"] == f"node 0 says {i}"
        r = await b.send(room, f"node 1 says {i}")
        assert (await a.wait_msg(room, r["seq"]))["text"] == f"node 1 says {i}"
    await close_all([a, b])


def test_check_config(tmp_path):
    r = check_config(tmp_path, "127.0.0.1:8080 deflate=on")
    assert r.returncode == 0, r.stderr
    r = check_config(tmp_path, ["127.0.0.1:8080", "127.0.0.1:8081 deflate=yes"])
    assert r.returncode != 0
    assert "server.listen '127.0.0.1:8081 deflate=yes': deflate= is on or off, not 'yes'" in \
        r.stderr, r.stderr
