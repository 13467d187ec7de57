# SPDX-License-Identifier: MIT
"""Hostile clients, floods: commands and control frames sent as fast as a socket takes them by
a client that reads nothing, and connections opened and dropped in a burst. Each attacker gets a
defined answer, the server's memory and descriptors stay bounded, and a bystander's chat and
/healthz go on meanwhile."""
import asyncio
import json
import os
import socket

from confabtest import (ASAN, OP_PING, OP_PONG, VALGRIND, Client, RawWS, T, close_all, poll_until,
                        uniq)

# What a flood may add to confabd's RSS. The bound is the point of the test, not a timing:
# without backpressure 20,000 unread replies of ~100 bytes would be several MB.
RSS_SLACK_KB = (64 if VALGRIND else 32 if ASAN else 4) * 1024
FLOOD = 2000 if VALGRIND else 20000


async def bystanders(server, room):
    a = await Client.connect(server, uniq("alice"))
    b = await Client.connect(server, uniq("bob"))
    await a.join(room)
    await b.join(room)
    return a, b


async def chat_still_works(server, a, b, room, text):
    loop = asyncio.get_running_loop()
    r = await a.send(room, text)
    ev = await b.wait_msg(room, r["seq"])
    assert ev["text"] == text
    health = await loop.run_in_executor(None, lambda: server.get("/healthz"))
    assert health.status_code == 200, health.text


def attacker(server, name):
    w = RawWS(server.port, rcvbuf=4096)
    assert w.handshake().status == 101
    w.send_json({"op": "hello", "id": 1, "name": name})
    return w


async def test_command_flood_from_a_client_that_reads_nothing_is_closed_4008(server):
    """Commands with large replies (history), as fast as the socket takes them, from a client
    with a 4 KiB receive buffer that reads nothing: its replies fill its queue
    (session.queue_bytes), and it is closed with 4008 rather than making confabd hold them;
    what it reads before the close is a prefix of its replies, in order."""
    loop = asyncio.get_running_loop()
    room = uniq("floodroom")
    a, b = await bystanders(server, room)
    # History makes each reply about 40 KiB: unread, 20,000 of them would be 800 MB.
    for i in range(10):
        await a.send(room, f"{i} " + "h" * 4000)
    rss0 = server.rss_kb()
    closes0 = server.metric("confab_slow_consumer_closes_total")
    w = attacker(server, uniq("flooder"))
    w.send_json({"op": "join", "id": 2, "room": room})
    ids = list(range(10, 10 + FLOOD))

    def flood():
        w.settimeout(T(2))
        try:
            for i in ids:
                w.send_json({"op": "history", "id": i, "room": room})
        except (socket.timeout, ConnectionError):
            pass  # the server stopped reading, or closed

    await loop.run_in_executor(None, flood)
    await chat_still_works(server, a, b, room, "during the flood")
    # The commands the socket took are still being read when the flood stops (slowly under
    # valgrind, 128 bytes a turn): the close comes when their replies fill the queue.
    await poll_until(
        lambda: server.metric("confab_slow_consumer_closes_total") == closes0 + 1, T(30),
        what="the slow-consumer close")
    assert server.rss_kb() - rss0 < RSS_SLACK_KB, (server.rss_kb(), rss0)

    objs, how = await loop.run_in_executor(None, w.read_until_close, T(30))
    got = [o["id"] for o in objs if "id" in o and "ev" not in o]
    assert got == ([1, 2] + ids)[:len(got)]
    assert how in (("close", 4008), ("eof", None), ("reset", None)), how
    w.close()
    await chat_still_works(server, a, b, room, "after the flood")
    await close_all([a, b])


async def test_ping_frame_flood_gets_pongs_and_holds_nothing(server):
    """WebSocket pings as fast as the socket takes them, none of the pongs read: lws keeps one
    pending pong, so nothing piles up; the client gets pongs (at most one per ping, each with a
    ping's payload) and its session still answers commands."""
    loop = asyncio.get_running_loop()
    room = uniq("pingroom")
    a, b = await bystanders(server, room)
    rss0 = server.rss_kb()
    w = attacker(server, uniq("pinger"))
    payload = os.urandom(100)

    def flood():
        w.settimeout(T(2))
        sent = 0
        try:
            for _ in range(FLOOD):
                w.send_frame(OP_PING, payload)
                sent += 1
        except socket.timeout:
            pass
        return sent

    sent = await loop.run_in_executor(None, flood)
    await chat_still_works(server, a, b, room, "during the ping flood")
    assert server.rss_kb() - rss0 < RSS_SLACK_KB, (server.rss_kb(), rss0)

    def drain():
        # After the flood: a command, and read up to its reply counting pongs.
        w.settimeout(T(30))
        w.send_json({"op": "ping", "id": 99})
        pongs, reply = 0, None
        while reply is None:
            _fin, op, data = w.recv_frame()
            if op == OP_PONG:
                assert data == payload
                pongs += 1
            elif op == 1:
                for line in data.decode().split("\n"):
                    o = json.loads(line) if line.strip() else {}
                    if o.get("id") == 99:
                        reply = o
            else:
                assert op != 8, f"closed: {data!r}"
        return pongs, reply

    pongs, reply = await loop.run_in_executor(None, drain)
    assert reply["op"] == "pong", reply
    assert 1 <= pongs <= sent
    w.close()
    await chat_still_works(server, a, b, room, "after the ping flood")
    await close_all([a, b])


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_connection_burst_leaves_no_descriptor_behind(server):
    """300 connections from one address opened and dropped without a close frame, some in the
    middle of the handshake, some after a join: every descriptor comes back, the connection
    gauge returns to what it was, and a bystander chats throughout."""
    loop = asyncio.get_running_loop()
    room = uniq("burstroom")
    a, b = await bystanders(server, room)
    fds0 = fd_count(server.pid)
    conns0 = server.metric("confab_connections")

    def burst(n):
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=T(5))
            if i % 3 == 0:
                s.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: webso")
            elif i % 3 == 1:
                w = RawWS.__new__(RawWS)
                w.sock, w.buf, w.port, w.close_code = s, b"", server.port, None
                if w.handshake().status == 101:
                    w.send_json({"op": "join", "id": 1, "room": room})
            # SO_LINGER 0: a reset, the rudest way to go.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()

    n = 60 if VALGRIND else 300
    await loop.run_in_executor(None, burst, n)
    await chat_still_works(server, a, b, room, "during the burst")

    async def settled():
        return (fd_count(server.pid) <= fds0 and
                server.metric("confab_connections") == conns0)
    deadline = loop.time() + T(20)
    while not await settled():
        assert loop.time() < deadline, (
            f"fds {fd_count(server.pid)} (before {fds0}), connections "
            f"{server.metric('confab_connections')} (before {conns0})")
        await asyncio.sleep(0.05)  # polling /proc and /metrics for the settled state
    await chat_still_works(server, a, b, room, "after the burst")
    await close_all([a, b])
