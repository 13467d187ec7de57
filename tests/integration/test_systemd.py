# SPDX-License-Identifier: MIT
"""systemd integration that needs no systemd as PID 1: socket activation through
systemd-socket-activate (which passes named listening sockets the way a .socket unit does)."""
import asyncio
import re
import signal
import socket
import time

import pytest

from confabtest import T, Client, close_all, free_port, poll_until


async def test_socket_activation_with_named_sockets(start_server, tmp_path):
    ws, admin = free_port(), free_port()
    local = str(tmp_path / "confab.sock")
    s = start_server({("server", "listen"): ["systemd:ws", "systemd:admin", "systemd:local"]},
                     activate=[(f"127.0.0.1:{ws}", "ws"), (f"127.0.0.1:{admin}", "admin"),
                               (local, "local")])
    s.port = ws
    # systemd-socket-activate starts confabd on the first connection, which waits in the
    # socket's backlog meanwhile: it is served, not refused.
    c = await Client.connect(f"ws://127.0.0.1:{ws}/v1/ws", "first", timeout=T(20))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, s.wait_notify, "READY=1")
    log = s.log_text()
    assert "systemd:ws (socket passed by systemd)" in log, log
    assert "systemd:admin (socket passed by systemd)" in log, log
    await c.join("activated")
    # Both sockets serve.
    other = await Client.connect(f"ws://127.0.0.1:{admin}/v1/ws", "second")
    await other.join("activated")
    await other.send("activated", "via the admin socket")
    m = await c.wait_msg("activated", 1)
    assert m["text"] == "via the admin socket"
    # And the unix socket (HTTP over it: the health probe).
    loop = asyncio.get_running_loop()
    status = await loop.run_in_executor(None, unix_http_status, local, "/healthz")
    assert status == 200
    await c.close()
    await other.close()


def unix_http_status(path, target):
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.settimeout(10)
        u.connect(path)
        u.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while chunk := u.recv(4096):
            data += chunk
    return int(data.split(b" ", 2)[1])


async def test_socket_activation_names_must_match(start_server, request):
    ws = free_port()
    s = start_server({("server", "listen"): ["systemd:websocket"]},
                     activate=[(f"127.0.0.1:{ws}", "ws")])
    loop = asyncio.get_running_loop()

    def poke():
        import socket
        with socket.create_connection(("127.0.0.1", ws), timeout=5):
            pass
    await loop.run_in_executor(None, poke)
    await poll_until(lambda: s.proc.poll() is not None, T(20), what="confabd to exit")
    assert s.proc.returncode == 1
    assert "no (further) socket named 'websocket'" in s.log_text()
    # systemd hears why: ERRNO=2 (ENOENT).
    got = await loop.run_in_executor(None, s.collect_notify, 0.5)
    assert ("ERRNO=2" in [line for _t, line in got]), got
    s.stopped = True
    s.exit_code = 0


async def test_notify_protocol_and_watchdog(start_server):
    # A watchdog of 400 ms: pings every 200 ms from the loop.
    s = start_server({("debug", "stall_on_sigusr2"): 3}, env={"WATCHDOG_USEC": "400000"})
    loop = asyncio.get_running_loop()
    # READY=1 came after "listening" (start() waited for it); STATUS says what it serves.
    assert s.log_text().index("listening on") < s.log_text().index("ready (node")
    c = await Client.connect(s, "counted")
    await c.join("status-room")
    await loop.run_in_executor(
        None, s.wait_notify, re.compile(r"^STATUS=Serving 1 connections in 1 rooms"))
    # Watchdog pings, counted within wide bounds: 2 s at one per 200 ms is about 10.
    got = await loop.run_in_executor(None, s.collect_notify, 2.0)
    pings = [t for t, line in got if line == "WATCHDOG=1"]
    assert 3 <= len(pings) <= 40, got
    # A stuck loop stops them: SIGUSR2 blocks it for 3 s here.
    s.signal(signal.SIGUSR2)
    t0 = time.monotonic()
    got = await loop.run_in_executor(None, s.collect_notify, 2.5)
    stalled = [t for t, line in got if line == "WATCHDOG=1" and t - t0 > 0.5]
    assert not stalled, f"watchdog pings while the loop was blocked: {got}"
    got = await loop.run_in_executor(None, s.collect_notify, 2.5)
    assert any(line == "WATCHDOG=1" for _t, line in got), "pings did not resume"
    assert (await c.ok("ping"))["op"] == "pong"
    # Reload: RELOADING=1 then READY=1, and STATUS tells the result.
    await loop.run_in_executor(None, s.reload)
    await loop.run_in_executor(None, s.wait_notify, re.compile(r"^STATUS=.*; reloaded at "))
    # Stop: STOPPING=1.
    s.sigterm()
    await loop.run_in_executor(None, s.wait_notify, "STOPPING=1")
    await c.wait_closed()


async def test_a_service_manager_that_stops_reading_does_not_stop_the_loop(start_server):
    """The kernel queues 10 datagrams on a notify socket (net.unix.max_dgram_qlen); a manager
    that stops reading must not stop confabd: its STATUS= and WATCHDOG=1 lines are dropped and
    counted, /healthz and chat go on, and once the manager reads again it gets the status."""
    s = start_server(env={"WATCHDOG_USEC": "400000"})
    loop = asyncio.get_running_loop()
    s.pause_notify()
    # Fill the queue as a manager that fell behind would leave it.
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    queued = 0
    try:
        while queued < 1000:
            filler.sendto(b"X_FILLER=1", s.notify_path)
            queued += 1
    except BlockingIOError:
        pass
    filler.close()
    assert queued < 1000, "the notify socket's queue never filled"
    # Watchdog pings every 200 ms now find it full: counted, not waited for.
    await poll_until(lambda: s.metric("confab_sd_notify_dropped_total", 0) >= 3, T(10),
                     what="dropped notify lines")
    a = await Client.connect(s, "still")
    b = await Client.connect(s, "serving")
    for c in (a, b):
        await c.join("manager-stuck")
    r = await a.send("manager-stuck", "the loop turns")
    assert (await b.wait_msg("manager-stuck", r["seq"]))["text"] == "the loop turns"
    assert (await loop.run_in_executor(None, s.get, "/healthz")).status_code == 200
    # The manager reads again: the status that was dropped arrives.
    s.resume_notify()
    await loop.run_in_executor(
        None, s.wait_notify, re.compile(r"^STATUS=Serving 2 connections in 1 rooms"))
    await close_all([a, b])


@pytest.mark.deadline(120)
async def test_restart_behind_held_socket_refuses_no_connection(start_server):
    """What a .socket unit gives across `systemctl restart confab`: the listening socket stays
    open in a process that outlives confabd (here the test), so connection attempts while one
    confabd drains and the next starts wait in its queue and are served by the next one."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen(128)
    port = held.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/v1/ws"
    conf = {("server", "listen"): ["systemd:ws"]}
    loop = asyncio.get_running_loop()
    try:
        first = start_server(conf, held=[(held, "ws")])
        old = await Client.connect(url, "before")
        await old.join("restart")
        first.sigterm()
        # STOPPING=1 comes as the drain starts, in the loop iteration that stops accepting.
        await loop.run_in_executor(None, first.wait_notify, "STOPPING=1")
        during = [asyncio.ensure_future(Client.connect(url, f"draining{i}", timeout=T(60)))
                  for i in range(10)]
        await old.wait_closed()
        assert await loop.run_in_executor(None, first.wait_exit, T(30)) == 0
        between = [asyncio.ensure_future(Client.connect(url, f"between{i}", timeout=T(60)))
                   for i in range(10)]
        # Nobody serves the port now; the attempts wait in the held socket's queue.
        await asyncio.sleep(0.2)
        assert not any(t.done() for t in during + between), "served with no confabd running"
        start_server(conf, held=[(held, "ws")])
        clients = await asyncio.gather(*during, *between)
        for c in clients:
            await c.join("restart")
        r = await clients[0].send("restart", "after the restart")
        await clients[-1].wait_msg("restart", r["seq"])
        await close_all(clients)
    finally:
        held.close()


def journal_entries(sock):
    """Native journal datagrams received so far, as dicts (simple KEY=value lines)."""
    out = []
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return out
        out.append(dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line))


@pytest.mark.deadline(60)
async def test_client_events_reach_journald_with_fields(start_server, tmp_path):
    jdir = tmp_path / "run-systemd"
    (jdir / "journal").mkdir(parents=True)
    jsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    jsock.bind(str(jdir / "journal" / "socket"))
    jsock.setblocking(False)
    try:
        s = start_server({("server", "max_connections_per_ip"): 1,
                          ("limits", "rate"): 1, ("limits", "burst"): 1,
                          ("limits", "rate_close_after"): 2}, journal_dir=str(jdir))
        c = await Client.connect(s, "flooder")
        await c.join("journal")
        # 20 refused handshakes from one address: the repeat limit lets 10 lines through.
        for _ in range(20):
            try:
                extra = await Client.connect(s, "second", timeout=T(10))
            except Exception:
                continue
            await extra.close()
            raise AssertionError("a second connection from 127.0.0.1 was accepted")
        # Sends over the rate until the session is closed with 4029.
        for i in range(4):
            await c.send_json({"op": "send", "id": 100 + i, "room": "journal", "text": "x"})
        await c.wait_closed()
        assert c.close_code == 4029

        def entries_by_event():
            got = {}
            for e in journal_entries(jsock):
                got.setdefault(e.get("CONFAB_EVENT"), []).append(e)
            return got
        got = {}

        def have_both():
            for k, v in entries_by_event().items():
                got.setdefault(k, []).extend(v)
            return "ip_limit" in got and "rate_limit_close" in got
        await poll_until(have_both, T(10), what="journal entries")
        refused = got["ip_limit"]
        assert 1 <= len(refused) <= 10, refused
        e = refused[0]
        assert e["CONFAB_CLIENT_IP"] == "127.0.0.1" and e["PRIORITY"] == "6", e
        assert e["SYSLOG_IDENTIFIER"] == "confabd" and "max_connections_per_ip" in e["MESSAGE"]
        (closed,) = got["rate_limit_close"]
        assert closed["CONFAB_SESSION"].isdigit() and closed["CONFAB_CLIENT_IP"] == "127.0.0.1"
        assert "4029" in closed["MESSAGE"]
        # Those lines went to the journal instead of stderr; the rest still goes to stderr.
        log = s.log_text()
        assert "rate limit abuse" not in log and "listening on" in log
    finally:
        jsock.close()
