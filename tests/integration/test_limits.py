# SPDX-License-Identifier: MIT
"""Connection-level limits: Origin allowlist, per-IP and total session limits, slow consumers,
handshake timeout, keepalive pings, and 2,000 sessions in one room."""
import asyncio
import re
import json
import socket
import threading
import time

import pytest
import websockets

from confabtest import (ASAN, OP_PING, VALGRIND, Client, RawWS, T, assert_consecutive,
                        assert_json_error, close_all, poll_until, uniq)


def raw_handshake(server, **kw):
    w = RawWS(server.port)
    try:
        return w.handshake(**kw)
    finally:
        w.close()


# --------------------------------------------------------------------------------------------
# Origin

@pytest.mark.conf({("server", "origins"): ["https://good.example"]})
async def test_repeated_log_lines_are_limited(server):
    # Every refused handshake logs a line: 40 of them in a burst must not write 40 lines.
    for i in range(40):
        assert raw_handshake(server, origin=f"https://flood{i}.example").status == 403
    await poll_until(lambda: "were left out" in server.log_text(), T(20),
                     what="the count of left-out lines")
    log = server.log_text()
    written = log.count("> handshake refused: origin") + log.count(">handshake refused: origin")
    assert 1 <= written <= 10, log
    m = re.search(r"(\d+) more messages like \"handshake refused: origin '%s' not allowed\"",
                  log)
    assert m and int(m.group(1)) == 40 - written, log


@pytest.mark.conf({("server", "origins"): ["https://good.example", "https://other.example"]})
async def test_origin_not_allowed_gets_403(server):
    for origin in ("https://evil.example", "https://good.example.evil", "http://good.example",
                   "https://GOOD.example.org"):
        resp = raw_handshake(server, origin=origin)
        assert resp.status == 403, (origin, resp.status, resp.body)
        assert "sec-websocket-accept" not in resp.headers
    # The allowed ones work, both entries of the repeatable key.
    a = await Client.connect(server, "alice", origin="https://good.example")
    b = await Client.connect(server, "bob", origin="https://other.example")
    await a.join("o")
    await b.join("o")
    r = await a.send("o", "allowed")
    await b.wait_msg("o", r["seq"])
    with pytest.raises(websockets.InvalidStatusCode) as ei:
        await Client.connect(server, "mallory", origin="https://evil.example")
    assert ei.value.status_code == 403
    await close_all([a, b])


async def test_empty_origin_list_accepts_any(server):
    c = await Client.connect(server, "anyone", origin="https://whatever.example")
    await c.ok("ping")
    await close_all([c])


# --------------------------------------------------------------------------------------------
# connection limits

@pytest.mark.conf({("server", "max_connections_per_ip"): 2,
                   ("server", "trusted_proxies"): ["127.0.0.1", "::1"]})
async def test_forwarded_for_counts_clients_behind_a_trusted_proxy(server):
    def via_proxy(xff):
        w = RawWS(server.port)
        return w, w.handshake(headers={"X-Forwarded-For": xff}).status

    held = []
    # The rightmost address that is not a trusted proxy is the client; what the client wrote
    # further left (10.9.9.9) counts for nothing.
    for xff in ("10.9.9.9, 203.0.113.5", "203.0.113.5", "198.51.100.7",
                "198.51.100.7, 127.0.0.1"):
        w, status = via_proxy(xff)
        assert status == 101, xff
        held.append(w)
    for xff in ("203.0.113.5", "1.2.3.4, 198.51.100.7"):
        w, status = via_proxy(xff)
        assert status == 429, xff
        held.append(w)
    # Not an address: refused, never counted as the proxy's own address (issue 12, item 8).
    w, status = via_proxy("unknown")
    assert status == 400
    held.append(w)
    for w in held:
        w.close()


async def test_dual_stack_listener_sees_ipv4_peers_as_ipv4(start_server):
    # On a dual-stack socket (systemd's ListenStream=PORT: one IPv6 socket taking IPv4 too) the
    # kernel reports 127.0.0.1 as ::ffff:127.0.0.1; trusted_proxies = 127.0.0.1 still matches.
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    start_server({("server", "listen"): ["systemd:ws"], ("server", "max_connections_per_ip"): 1,
                  ("server", "trusted_proxies"): ["127.0.0.1"]}, held=[(sock, "ws")])
    sock.close()
    held = []
    for xff, want in (("203.0.113.1", 101), ("203.0.113.2", 101), ("203.0.113.1", 429)):
        w = RawWS(port)
        assert w.handshake(headers={"X-Forwarded-For": xff}).status == want, xff
        held.append(w)
    for w in held:
        w.close()


@pytest.mark.conf({("server", "max_connections_per_ip"): 2})
async def test_forwarded_for_from_an_untrusted_peer_is_ignored(server):
    held = []
    for xff in ("203.0.113.1", "203.0.113.2"):
        w = RawWS(server.port)
        assert w.handshake(headers={"X-Forwarded-For": xff}).status == 101
        held.append(w)
    w = RawWS(server.port)
    assert w.handshake(headers={"X-Forwarded-For": "203.0.113.3"}).status == 429
    held.append(w)
    for w in held:
        w.close()


@pytest.mark.conf({("server", "max_connections_per_ip"): 3})
async def test_per_ip_limit_429(server):
    clients = [await Client.connect(server, f"c{i}") for i in range(3)]
    resp = raw_handshake(server)
    assert_json_error(resp.status, resp.body, 429)
    with pytest.raises(websockets.InvalidStatusCode) as ei:
        await Client.connect(server, "c3")
    assert ei.value.status_code == 429
    # Plain HTTP is not a WebSocket session: still served.
    assert server.get("/healthz").status_code == 200
    # The existing sessions are unaffected.
    for c in clients:
        await c.ok("ping")
    # Closing one frees a slot (bounded poll: the server notices the close asynchronously).
    await clients[0].close()

    async def try_connect():
        try:
            return await Client.connect(server, "c3-again")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 429
            return None
    deadline = time.monotonic() + T(10)
    c = None
    while c is None and time.monotonic() < deadline:
        c = await try_connect()
        if c is None:
            await asyncio.sleep(0.1)
    assert c is not None, "a closed session never freed its per-IP slot"
    await c.ok("ping")
    await close_all(clients[1:] + [c])


@pytest.mark.conf({("server", "max_connections"): 2})
async def test_max_connections_503(server):
    a = await Client.connect(server, "a")
    b = await Client.connect(server, "b")
    resp = raw_handshake(server)
    assert_json_error(resp.status, resp.body, 503)
    await a.ok("ping")
    await b.ok("ping")
    await close_all([a, b])


# --------------------------------------------------------------------------------------------
# descriptor limit

def nofile(server):
    """confabd's (soft, hard) RLIMIT_NOFILE, as /proc says it."""
    with open(f"/proc/{server.proc.pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return tuple(int(v) for v in line.split()[3:5])
    raise AssertionError("no Max open files line")


@pytest.mark.skipif(VALGRIND, reason="valgrind keeps descriptors of its own below the limit")
async def test_descriptor_soft_limit_raised_to_the_hard_one(start_server):
    server = start_server(nofile=(64, 20000))
    assert nofile(server) == (20000, 20000)
    assert "descriptor limit" not in server.log_text()
    c = await Client.connect(server, "a")
    await c.ok("ping")
    await c.close()


@pytest.mark.skipif(VALGRIND, reason="valgrind keeps descriptors of its own below the limit")
async def test_descriptor_limit_below_max_connections_is_said(start_server):
    server = start_server({("server", "max_connections"): 1000}, nofile=(256, 256))
    assert nofile(server) == (256, 256)
    assert re.search(r"the descriptor limit is 256 .*server\.max_connections \(1000\)",
                     server.log_text()), server.log_text()
    c = await Client.connect(server, "a")
    await c.ok("ping")
    await c.close()


# --------------------------------------------------------------------------------------------
# slow consumer

# Big messages: the kernel's socket buffers (autotuned, several MB, and how large depends on the
# TCP state of earlier connections) must fill before the queue does, and under valgrind every
# message costs; filling them with few large messages keeps the test fast and its time steady.
SLOW_CONF = {("limits", "rate"): 1000000, ("limits", "burst"): 1000000,
             ("limits", "max_text"): 40000, ("session", "queue_frames"): 64}


@pytest.mark.conf(SLOW_CONF)
@pytest.mark.deadline(120)
async def test_slow_consumer_closed_4008_others_unaffected(server):
    loop = asyncio.get_running_loop()
    room = "flood"
    watchers = [await Client.connect(server, f"watcher{i}") for i in range(2)]
    flooder = await Client.connect(server, "flooder")
    for c in watchers + [flooder]:
        await c.join(room)
    readers = watchers + [flooder]

    # The slow client: tiny receive buffer, joins, then never reads.
    slow = RawWS(server.port, rcvbuf=4096)
    assert slow.handshake().status == 101
    reply, _ = slow.request({"op": "hello", "id": 1, "name": "slowpoke"})
    assert "error" not in reply, reply
    reply, _ = slow.request({"op": "join", "id": 2, "room": room})
    assert "error" not in reply, reply
    base_seq = reply["seq"]

    closes_before = (await loop.run_in_executor(None, server.metrics)).get(
        "confab_slow_consumer_closes_total", 0.0)
    pad = "p" * 30000
    sent, batch, cap = 0, 32, 3000
    rss_limit_kb = (1000 if VALGRIND else 600 if ASAN else 200) * 1024
    peak_rss = 0
    closed_seen = False
    deadline = time.monotonic() + T(60)
    while sent < cap and time.monotonic() < deadline:
        futs = [await flooder.start_cmd("send", room=room, text=f"{sent + i:06d} {pad}")
                for i in range(batch)]
        for r in await asyncio.gather(*futs):
            assert "error" not in r, r
        sent += batch
        # Pace by the fast readers: they never fall more than one batch behind.
        await asyncio.gather(*(c.wait_msgs(room, sent, timeout=T(30)) for c in readers))
        if (sent // batch) % 8 == 0:
            peak_rss = max(peak_rss, server.rss_kb())
            assert peak_rss < rss_limit_kb, (
                f"confabd RSS {peak_rss} kB while flooding after {sent} messages; "
                f"status: {open(f'/proc/{server.pid}/status').read()}; "
                f"metrics: {server.metrics()}")
            m = await loop.run_in_executor(None, server.metrics)
            if m.get("confab_slow_consumer_closes_total", 0.0) > closes_before:
                closed_seen = True
                break
    assert closed_seen, (f"confab_slow_consumer_closes_total did not increase after {sent} "
                         "messages to a client that does not read")
    # Keep going a little: the others still get everything.
    for i in range(100):
        await flooder.send_json({"op": "send", "room": room, "text": f"after {i}"})
    total = sent + 100
    await asyncio.gather(*(c.wait_msgs(room, total, timeout=T(30)) for c in readers))
    for c in readers:
        assert not c.closed, (c.name, c.close_code)
        assert len(c.msgs(room)) == total
        assert_consecutive(c.msgs(room), first=base_seq + 1)
    assert server.rss_kb() < rss_limit_kb

    # The slow client finally reads: what it got is in order, then close 4008 (or EOF).
    objs, how = await loop.run_in_executor(None, slow.read_until_close, T(30))
    msgs = [o for o in objs if o.get("ev") == "msg"]
    if msgs:
        assert_consecutive(msgs, first=base_seq + 1)
    assert len(msgs) < total
    assert how in (("close", 4008), ("eof", None), ("reset", None)), how
    slow.close()
    await close_all(readers)


# --------------------------------------------------------------------------------------------
# timeouts

@pytest.mark.conf({("server", "handshake_timeout"): 1})
async def test_handshake_timeout_closes_idle_connection(server):
    loop = asyncio.get_running_loop()

    # Bounded well above the configured 1 s but below the 10 s default, so that a server that
    # ignores the setting fails.
    def wait_eof(send):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=T(6))
        try:
            if send:
                s.sendall(send)
            t0 = time.monotonic()
            try:
                while True:
                    data = s.recv(4096)
                    if not data:
                        return "eof"
            except ConnectionResetError:
                return "reset"
            except socket.timeout:
                return f"still open after {time.monotonic() - t0:.1f} s"
        finally:
            s.close()
    results = await asyncio.gather(
        loop.run_in_executor(None, wait_eof, b""),
        loop.run_in_executor(None, wait_eof, b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n"))
    assert results[0] in ("eof", "reset"), f"silent connection: {results[0]}"
    assert results[1] in ("eof", "reset"), f"incomplete request: {results[1]}"
    # The server is fine afterwards.
    assert server.get("/healthz").status_code == 200
    c = await Client.connect(server, "later")
    await c.ok("ping")
    await close_all([c])


@pytest.mark.conf({("server", "ping_interval"): 1, ("server", "pong_timeout"): 1})
async def test_keepalive_ping_and_dead_peer_closed(server):
    loop = asyncio.get_running_loop()

    def dead_peer():
        w = RawWS(server.port, timeout=T(15))
        assert w.handshake().status == 101
        w.request({"op": "hello", "id": 1, "name": "dead"})
        # The server pings a silent connection; we never answer.
        pinged = False
        try:
            while True:
                fin, op, payload = w.recv_frame()
                if op == OP_PING:
                    pinged = True
                elif op == 8:  # close
                    return pinged, "close"
        except (EOFError, ConnectionResetError):
            return pinged, "eof"
        except socket.timeout:
            return pinged, "still open"
        finally:
            w.close()

    def live_peer():
        w = RawWS(server.port, timeout=T(15))
        assert w.handshake().status == 101
        w.request({"op": "hello", "id": 1, "name": "alive"})
        pings = 0
        while pings < 4:  # > ping_interval + pong_timeout seconds of answered pings
            fin, op, payload = w.recv_frame()
            if op == OP_PING:
                pings += 1
                w.send_frame(10, payload)
            assert op != 8, "closed a peer that answers pings"
        reply, _ = w.request({"op": "ping", "id": 2})
        w.close()
        return reply

    (pinged, how), reply = await asyncio.gather(loop.run_in_executor(None, dead_peer),
                                                loop.run_in_executor(None, live_peer))
    assert pinged, "the server never pinged a silent connection"
    assert how in ("close", "eof"), f"a peer that never answers pings was {how}"
    assert reply.get("op") == "pong", reply


# --------------------------------------------------------------------------------------------
# load

@pytest.mark.slow
@pytest.mark.deadline(90)
@pytest.mark.conf({("server", "max_connections_per_ip"): 5000,
                   ("server", "max_connections"): 10000})
async def test_2000_connections_one_room(server):
    n, users, room, m = 2000, 20, "stadium", 10
    sem = asyncio.Semaphore(64)

    async def one(i):
        async with sem:
            # 20 users with 100 sessions each: join events go out only for a user's first
            # session, which keeps the Python side fast enough.
            c = await Client.connect(server, f"fan{i % users:02d}", timeout=T(30))
            await c.join(room)
            return c
    clients = await asyncio.gather(*(one(i) for i in range(n)))
    announcer = await Client.connect(server, "announcer")
    await announcer.join(room)
    gauge = server.metric("confab_connections", 0.0)
    assert gauge >= n + 1, f"confab_connections = {gauge} with {n + 1} sessions open"

    futs = [await announcer.start_cmd("send", room=room, text=f"goal {i}") for i in range(m)]
    seqs = [r["seq"] for r in await asyncio.gather(*futs)]
    assert seqs == list(range(seqs[0], seqs[0] + m))
    await asyncio.gather(*(c.wait_msgs(room, m, timeout=T(60)) for c in clients))
    want = [(s, f"goal {i}") for i, s in enumerate(seqs)]
    for c in clients:
        assert not c.closed, c.close_code
        assert [(e["seq"], e["text"]) for e in c.msgs(room)] == want
    p = await announcer.ok("presence", room=room)
    assert sorted(x["id"] for x in p["members"]) == sorted(
        [f"guest:fan{i:02d}" for i in range(users)] + ["guest:announcer"])
    await close_all(clients + [announcer])


def queued_deeper_than(m, depth):
    """How many enqueues found a session's queue deeper than depth (a confab_queue_depth bound)."""
    return m["confab_queue_depth_count"] - m[f'confab_queue_depth_bucket{{le="{depth}"}}']


@pytest.mark.conf({("session", "queue_frames"): 100000, ("session", "queue_bytes"): 64 << 20,
                   ("limits", "rate"): 100000, ("limits", "burst"): 100000,
                   ("limits", "max_text"): 16000})
@pytest.mark.deadline(90)
async def test_slow_steady_reader_gets_everything_intact(server):
    """A reader with a tiny receive buffer that falls behind, then keeps reading, slowly, gets
    every message whole and in order while the server's writes back up behind it."""
    loop = asyncio.get_running_loop()
    room = uniq("steady")
    flooder = await Client.connect(server, "steadyflood")
    await flooder.join(room)
    slow = RawWS(server.port, rcvbuf=4096, timeout=T(30))
    assert slow.handshake().status == 101
    reply, _ = slow.request({"op": "join", "id": 1, "room": room})
    base = reply["seq"]
    # The kernel holds up to tcp_wmem's maximum of the server's writes before any stay queued in
    # the server: send that much and 3 MB more.
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem_max = int(f.read().split()[2])
    pad = "s" * 8000
    n = (wmem_max + (3 << 20)) // len(pad) // 50 * 50 + 50
    # The flooder has at most 50 sends in flight, so at most about 100 events queued (their acks
    # and its own copies): a queue deeper than 256 is the slow reader's.
    deep = 256
    depth_before = queued_deeper_than(await loop.run_in_executor(None, server.metrics), deep)
    backed_up = threading.Event()

    def read_all():
        got = []
        # It reads nothing until the server holds a deep queue for it.
        if not backed_up.wait(T(60)):
            return got
        while len(got) < n:
            fin, op, payload = slow.recv_frame()
            assert fin and op == 1, (fin, op)
            for line in payload.decode().split("\n"):
                o = json.loads(line)
                if o.get("ev") == "msg":
                    got.append(o)
                    time.sleep(0.0005)  # slower than the flood: the server's writes stay queued
        return got

    reader = loop.run_in_executor(None, read_all)
    try:
        for i in range(0, n, 50):  # the flooder is paced only by its acks
            futs = [await flooder.start_cmd("send", room=room, text=f"{i + k:05d} {pad}")
                    for k in range(50)]
            for r in await asyncio.gather(*futs):
                assert "error" not in r, r
            if not backed_up.is_set():
                m = await loop.run_in_executor(None, server.metrics)
                if queued_deeper_than(m, deep) > depth_before:
                    backed_up.set()
        assert backed_up.is_set(), (f"{n} messages sent, and the server never queued more than "
                                    f"{deep} events for a client that read none of them")
    finally:
        backed_up.set()
    got = await reader
    assert [m["seq"] for m in got] == list(range(base + 1, base + n + 1))
    assert [m["text"] for m in got] == [f"{i:05d} {pad}" for i in range(n)]
    slow.close()
    await close_all([flooder])
