"""test_hostile_rxbuf.py - lws's per-connection rx buffer is 128 bytes (server.c; docs/benchmarks.md,
idle memory), so a client's frames reach confab in chunks of at most 128 bytes and every longer
message is reassembled in state a session holds only meanwhile (session.c, struct cf_sess_ext).
A client that plays with those sizes gets defined answers: control frames up to the protocol's
125 bytes answered whole, messages of any size up to limits.max_frame delivered whole however
they are chunked or fragmented, and another client's chat and /healthz are unaffected."""
import json
import os
import struct

from confabtest import (OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Client, T,
                        assert_bystander_unaffected, close_all, raw_session, uniq)


def _send_frame_of(room, cid, total):
    """A send command whose JSON text is exactly total bytes, and its text."""
    base = json.dumps({"op": "send", "id": cid, "room": room, "text": ""})
    text = "".join(chr(ord("a") + (i % 26)) for i in range(total - len(base)))
    frame = json.dumps({"op": "send", "id": cid, "room": room, "text": text})
    assert len(frame.encode()) == total
    return frame, text


async def test_ping_of_125_bytes_is_answered_whole(shared_server):
    """RFC 6455 allows 125 bytes of control payload; lws answers a ping from the rx buffer."""
    w = raw_session(shared_server, uniq("rxping"), "rx")
    w.settimeout(T(10))
    for n in (0, 1, 124, 125):
        payload = os.urandom(n)
        w.send_frame(OP_PING, payload)
        while True:
            _, op, data = w.recv_frame()
            if op == OP_PONG:
                break
        assert data == payload, (n, len(data))
    reply, _ = w.request({"op": "ping", "id": 7})
    assert reply.get("op") == "pong", reply
    await assert_bystander_unaffected(shared_server)
    w.close()


async def test_close_with_longest_reason_is_answered(shared_server):
    """A close frame of 125 bytes (code and a 123-byte reason) fits the buffer too."""
    w = raw_session(shared_server, uniq("rxclose"), "rx")
    w.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"r" * 123)
    _, how = w.read_until_close(T(10))
    assert how == ("close", 1000), how
    w.close()
    await assert_bystander_unaffected(shared_server)


async def test_messages_across_rx_chunks_arrive_whole(shared_server):
    """Messages just under, at and over the chunk size and many chunks long, whole frames and
    fragments cut across the chunks, each delivered to another member exactly as sent."""
    room = uniq("rxmsg")
    b = await Client.connect(shared_server, uniq("b"))
    await b.join(room)
    w = raw_session(shared_server, room, "rx")
    w.settimeout(T(10))
    cid = 10
    for total in (100, 127, 128, 129, 143, 144, 145, 255, 256, 257, 1000, 4000):
        for cut in (None, 50, 129):
            cid += 1
            frame, text = _send_frame_of(room, cid, total)
            if cut is None or cut >= total:
                w.send_text(frame)
            else:  # fragments: the first cut bytes, then the rest in two
                data = frame.encode()
                mid = cut + (total - cut) // 2
                w.send_frame(OP_TEXT, data[:cut], fin=False)
                w.send_frame(OP_CONT, data[cut:mid], fin=False)
                w.send_frame(OP_CONT, data[mid:], fin=True)
            while True:
                objs = w.recv_objs()
                assert objs is not None, f"closed with {w.close_code} at {total}/{cut}"
                mine = [o for o in objs if o.get("id") == cid and "ev" not in o]
                if mine:
                    break
            assert "error" not in mine[0], (total, cut, mine[0])
            e = await b.wait_msg(room, mine[0]["seq"])
            assert e["text"] == text, (total, cut)
    await assert_bystander_unaffected(shared_server)
    w.close()
    await close_all([b])
