# SPDX-License-Identifier: MIT
"""Process lifecycle: SIGTERM drain, SIGHUP reload, --check-config and the other options,
environment overrides."""
import asyncio
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests
import websockets

from confabtest import (CONFABD, REPO, Client, RawWS, T, base_config, close_all, free_port,
                        render_config)


# --------------------------------------------------------------------------------------------
# SIGTERM

async def test_sigterm_sends_bye_and_1001_then_exits_0(server):
    loop = asyncio.get_running_loop()
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    idle = await Client.connect(server, hello=False)  # a session that never sent anything
    await a.join("lobby")
    await b.join("lobby")
    await b.join("other")
    r = await a.send("lobby", "last words")
    await b.wait_msg("lobby", r["seq"])

    server.sigterm()
    for c in (a, b, idle):
        assert await c.wait_closed(T(15)) == 1001, (c.name, c.objs[-3:])
        byes = c.evs("bye")
        assert len(byes) == 1, c.objs[-5:]
        assert byes[0]["code"] == 1001 and isinstance(byes[0].get("reason"), str), byes
        assert c.objs[-1] is byes[0], "bye must be the last thing before the close"
    code = await loop.run_in_executor(None, server.wait_exit, T(20))
    assert code == 0, f"confabd exited with {code} after SIGTERM"


DRAIN_CONF = {("server", "drain_timeout"): 4, ("limits", "rate"): 1000000,
              ("limits", "burst"): 1000000, ("session", "queue_frames"): 1048576,
              ("session", "queue_bytes"): 1073741824}


@pytest.mark.conf(DRAIN_CONF)
@pytest.mark.deadline(90)
async def test_healthz_503_while_draining(server):
    """A client that does not read keeps data queued: SIGTERM must wait for it (up to
    drain_timeout), answering /healthz with 503 meanwhile, then exit 0."""
    loop = asyncio.get_running_loop()
    room = "drain"
    flooder = await Client.connect(server, "flooder")
    await flooder.join(room)
    stuck = RawWS(server.port, rcvbuf=4096)
    assert stuck.handshake().status == 101
    stuck.request({"op": "hello", "id": 1, "name": "stuck"})
    reply, _ = stuck.request({"op": "join", "id": 2, "room": room})
    assert "error" not in reply, reply
    pad = "d" * 2000
    sent = 0
    while sent < 6000:  # ~12 MB for a client with a 4 KiB receive buffer
        futs = [await flooder.start_cmd("send", room=room, text=f"{sent + i} {pad}")
                for i in range(100)]
        for r in await asyncio.gather(*futs):
            assert "error" not in r, r
        sent += 100
        await flooder.wait_msgs(room, sent, timeout=T(30))
    assert server.get("/healthz").status_code == 200

    server.sigterm()
    statuses = []

    def poll_health():
        deadline = time.monotonic() + T(30)
        while server.alive() and time.monotonic() < deadline:
            try:
                statuses.append(requests.get(server.url("/healthz"), timeout=T(2)).status_code)
            except requests.RequestException as e:
                statuses.append(type(e).__name__)
            if 503 in statuses:
                return
            time.sleep(0.05)
    await loop.run_in_executor(None, poll_health)
    assert 503 in statuses, f"/healthz during the drain answered {statuses[:10]}"
    assert await flooder.wait_closed(T(15)) == 1001
    assert flooder.evs("bye") and flooder.evs("bye")[0]["code"] == 1001
    code = await loop.run_in_executor(None, server.wait_exit, T(30))
    assert code == 0, f"confabd exited with {code} after the drain"
    stuck.close()


# --------------------------------------------------------------------------------------------
# SIGHUP

async def test_sighup_reloads_max_text(server):
    loop = asyncio.get_running_loop()
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    await a.join("r")
    await b.join("r")
    await a.send("r", "x" * 20)
    assert a.hello_reply["limits"]["max_text"] == 4096

    await loop.run_in_executor(None, server.reload, {("limits", "max_text"): 10})
    await a.err("send", "text_too_long", room="r", text="y" * 20)
    r = await a.send("r", "z" * 10)
    e = await b.wait_msg("r", r["seq"])
    assert e["text"] == "z" * 10
    c = await Client.connect(server, "carol")
    assert c.hello_reply["limits"]["max_text"] == 10
    await close_all([a, b, c])


async def test_sighup_with_invalid_config_keeps_old_one(server):
    loop = asyncio.get_running_loop()
    a = await Client.connect(server, "alice")
    await a.join("r")
    # A valid change plus an unknown key: the whole file must be refused, nothing applied.
    values = server.config_values()
    values[("limits", "max_text")] = 10
    with open(server.conf_path, "w") as f:
        f.write(render_config(values) + "[limits]\nno_such_key_xyz = 1\n")
    server.signal(signal.SIGHUP)

    def reload_done():
        deadline = time.monotonic() + T(15)
        while time.monotonic() < deadline:
            if "no_such_key_xyz" in server.log_text():
                return True
            try:
                server.wait_notify("READY=1", 0.2)
                return True
            except Exception:
                pass
            if not server.alive():
                return False
        return False
    assert await loop.run_in_executor(None, reload_done), \
        "no READY=1 and no log line about the bad config after SIGHUP"
    assert server.alive(), "confabd died on a bad config reload"
    r = await a.send("r", "x" * 20)
    assert r["seq"] >= 1
    c = await Client.connect(server, "carol")
    assert c.hello_reply["limits"]["max_text"] == 4096
    await close_all([a, c])


async def test_sighup_non_reloadable_key_needs_restart(server):
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, server.reload, {("limits", "max_frame"): 8192,
                                                     ("limits", "max_text"): 100})
    c = await Client.connect(server, "carol")
    assert c.hello_reply["limits"]["max_frame"] == 65536
    assert c.hello_reply["limits"]["max_text"] == 100  # reloadable: applied
    r = await c.request({"op": "ping", "id": 1, "pad": "x" * 20000})
    assert r.get("op") == "pong", r
    await close_all([c])


async def test_sighup_reloads_origins(server):
    loop = asyncio.get_running_loop()
    c = await Client.connect(server, "a", origin="https://evil.example")
    await loop.run_in_executor(None, server.reload,
                               {("server", "origins"): ["https://good.example"]})
    with pytest.raises(websockets.InvalidStatusCode) as ei:
        await Client.connect(server, "b", origin="https://evil.example")
    assert ei.value.status_code == 403
    d = await Client.connect(server, "c", origin="https://good.example")
    await d.ok("ping")
    await close_all([c, d])


# --------------------------------------------------------------------------------------------
# command line

def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFAB_")}
    env.update(extra)
    env.pop("NOTIFY_SOCKET", None)
    return env


def run(*args, env=None):
    return subprocess.run([CONFABD, *args], capture_output=True, text=True, timeout=T(20),
                          env=env or clean_env(), stdin=subprocess.DEVNULL)


@pytest.fixture
def confdir(tmp_path):
    return tmp_path


def write(tmp_path, text, name="confab.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_check_config_accepts_shipped_file():
    r = run("--config", os.path.join(REPO, "conf", "confab.conf"), "--check-config")
    assert r.returncode == 0, r.stderr


def test_check_config_accepts_generated_file(confdir):
    path = write(confdir, render_config(base_config(free_port())))
    r = run("--config", path, "--check-config")
    assert r.returncode == 0, r.stderr


GOOD_HEAD = "# a comment\n[server]\nlisten = 127.0.0.1:1\n\n[limits]\n"  # lines 1-5
CHECK_CASES = [
    # (id, text after GOOD_HEAD, line numbers that may be named)
    ("unknown_key", "max_txt = 10\n", {6}),
    ("not_a_number", "max_text = banana\n", {6}),
    ("trailing_junk", "rate = 10x\n", {6}),
    ("out_of_range_low", "max_text = 0\n", {6}),
    ("out_of_range_high", "rate = 99999999999\n", {6}),
    ("unknown_section_with_key", "rate = 5\n[nosuch]\nkey = 1\n", {7, 8}),
    ("unknown_empty_section", "rate = 5\n[nosuch]\n[rooms]\nmax_rooms = 10\n", {7}),
    ("bad_log_level", "rate = 5\n[log]\nlevel = loud\n", {8}),
    ("bad_octal", "rate = 5\n[server]\nunix_mode = 999\n", {8}),
    ("syntax_error", "rate = 5\nthis is not ini\n", {7}),
]


@pytest.mark.parametrize("body,lines", [c[1:] for c in CHECK_CASES],
                         ids=[c[0] for c in CHECK_CASES])
def test_check_config_rejects_with_line_number(confdir, body, lines):
    path = write(confdir, GOOD_HEAD + body)
    r = run("--config", path, "--check-config")
    assert r.returncode == 1, (r.returncode, r.stderr)
    msg = r.stderr.replace(path, "<path>")
    found = {int(n) for n in re.findall(r"(?<![\d.])(\d+)(?![\d.])", msg)}
    assert found & lines, f"stderr names none of the lines {sorted(lines)}: {r.stderr!r}"


def test_check_config_rejects_inconsistent_values(confdir):
    path = write(confdir, "[rooms]\nhistory = 10\njoin_history = 20\n")
    r = run("--config", path, "--check-config")
    assert r.returncode == 1, r.stderr
    assert "join_history" in r.stderr


def test_missing_config_file(confdir):
    path = str(confdir / "does-not-exist.conf")
    r = run("--config", path, "--check-config")
    assert r.returncode != 0
    assert "does-not-exist.conf" in r.stderr


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        version = re.search(r"project\(confab\s+VERSION\s+([0-9.]+)", f.read()).group(1)
    assert version in r.stdout, r.stdout
    r = run("--help")
    assert r.returncode == 0, r.stderr
    assert "--config" in r.stdout and "--check-config" in r.stdout, r.stdout
    r = run("--no-such-option")
    assert r.returncode != 0


async def test_listen_option_replaces_config(start_server):
    other = free_port()
    s = start_server(args=["--listen", f"127.0.0.1:{other}"])
    c = await Client.connect(f"ws://127.0.0.1:{other}/v1/ws", "x")
    await c.ok("ping")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=T(5)).close()
    await close_all([c])


async def test_environment_overrides_config(start_server):
    s = start_server(env={"CONFAB_LIMITS_MAX_TEXT": "10", "CONFAB_SERVER_NODE_ID": "env-node"})
    c = await Client.connect(s, "envy")
    assert c.hello_reply["limits"]["max_text"] == 10
    assert c.hello_reply["node"] == "env-node"
    await c.join("e")
    await c.err("send", "text_too_long", room="e", text="x" * 11)
    await c.send("e", "x" * 10)
    await close_all([c])


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


async def test_unix_and_ipv6_listeners(start_server, tmp_path):
    """server.listen takes several listeners at once: IPv4, [IPv6] and unix:/path (with
    server.unix_mode); the same rooms are reachable through all of them."""
    path = tmp_path / "confab.sock"
    six = _ipv6_loopback()
    args = ["--listen", f"127.0.0.1:{free_port()}", "--listen", f"unix:{path}"]
    if six:
        v6port = free_port()
        args += ["--listen", f"[::1]:{v6port}"]
    s = start_server({("server", "unix_mode"): "0600"}, args=args)
    v4 = args[1]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"

    # HTTP over the unix socket.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.settimeout(T(10))
        u.connect(str(path))
        u.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            chunk = u.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:100]

    # One room, three ways in.
    room = "everywhere"
    a = await Client.connect(f"ws://{v4}/v1/ws", "via4")
    ws = await websockets.unix_connect(str(path), "ws://localhost/v1/ws",
                                       subprotocols=["confab.v1"], ping_interval=None)
    b = Client(ws, "viaunix")
    await b.ok("hello", name="viaunix")
    clients = [a, b]
    if six:
        c = await Client.connect(f"ws://[::1]:{v6port}/v1/ws", "via6")
        clients.append(c)
    for c in clients:
        await c.join(room)
    r = await b.send(room, "from the unix socket")
    for c in clients:
        e = await c.wait_msg(room, r["seq"])
        assert e["text"] == "from the unix socket"
    await close_all(clients)


# --------------------------------------------------------------------------------------------
# [state] dir

def test_state_dir_created_standalone(server):
    """The harness points state.dir at a directory that does not exist yet: confabd creates it,
    0750, before it accepts anyone."""
    st = os.stat(os.path.join(server.dir, "state"))
    assert st.st_mode & 0o777 == 0o750


def test_unusable_state_dir_refuses_to_start(confdir):
    """Standalone mode without a writable state directory would lose accounts and queued
    messages at the next restart: confabd says which path and exits 1 before listening."""
    blocker = confdir / "not-a-dir"
    blocker.write_text("")
    port = free_port()
    values = base_config(port)
    values[("state", "dir")] = str(blocker / "state")
    conf = confdir / "confab.conf"
    conf.write_text(render_config(values))
    r = run("--config", str(conf))
    assert r.returncode == 1, r.stderr
    assert str(blocker / "state") in r.stderr, r.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=T(2)).close()
    # --check-config does not touch the directory.
    assert run("--config", str(conf), "--check-config").returncode == 0
