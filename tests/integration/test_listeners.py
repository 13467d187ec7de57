# SPDX-License-Identifier: MIT
"""Per-listener mounts (server.listen "ADDR dialects=... www=...") and the seeds' environment
aliases (SERVER_PORT, PORT, SERVER_ADDRESS, DEBUG, LOG_DEBUG), against the real binary
(docs/dialects.md, "Listeners and mounts" and "Environment aliases")."""
import asyncio
import json
import os
import subprocess
from types import SimpleNamespace

import pytest
import requests
import websockets

from confabtest import (CONFABD, WWW_DIR, Client, T, base_config, free_port, poll_until_sync,
                        render_config, uniq)
from test_dialect_003 import T3

TEXTO_PAGE = "<!doctype html><title>texto</title><script src=texto.js></script>\n"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CONFAB_") and k not in (
               "PORT", "SERVER_PORT", "SERVER_ADDRESS", "DEBUG", "LOG_DEBUG")}
    env.update(extra)
    return env


def check_config(tmp_path, listen, env=None, args=()):
    """confabd --check-config on a file whose server.listen is listen (None: no listen key)."""
    values = base_config(8080)
    values[("server", "listen")] = listen
    path = tmp_path / "confab.conf"
    path.write_text(render_config(values))
    return subprocess.run([CONFABD, "--config", str(path), "--check-config", *args],
                          capture_output=True, text=True, timeout=T(20),
                          env=clean_env(**(env or {})), stdin=subprocess.DEVNULL)


def get(port, path, **kw):
    kw.setdefault("timeout", T(10))
    return requests.get(f"http://127.0.0.1:{port}{path}", **kw)


async def ws_status(port, path):
    """The HTTP status a WebSocket upgrade to path gets (101 when it is accepted)."""
    try:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}{path}", open_timeout=T(10),
                                      close_timeout=T(5), ping_interval=None)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


@pytest.fixture
def texto_www(tmp_path):
    d = tmp_path / "texto-www"
    d.mkdir()
    (d / "index.html").write_text(TEXTO_PAGE)
    (d / "texto.js").write_text("console.log('texto');\n")
    return str(d)


@pytest.mark.deadline(60)
async def test_listeners_serve_what_they_mount(start_server, texto_www):
    p1, p2, p3 = free_port(), free_port(), free_port()
    s = start_server({("server", "listen"): [
        f"127.0.0.1:{p1}",
        f"127.0.0.1:{p2} dialects=texto www={texto_www}",
        f"127.0.0.1:{p3} dialects=disposable_chat",
    ]}, port=p1)
    log = s.log_text()
    assert f"listening on 127.0.0.1:{p2} dialects=texto www={texto_www}" in log, log

    # The texto listener: its page at /, /v1/texto, /healthz for probes; nothing else.
    r = get(p2, "/")
    assert r.status_code == 200 and r.text == TEXTO_PAGE, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("text/html")
    r = get(p2, "/texto.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
    assert get(p2, "/app.js").status_code == 404  # the web client is not there
    r = get(p2, "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    for path in ("/metrics", "/api/v1/rooms", "/health", "/ping", "/ws"):
        assert get(p2, path).status_code == 404, path
    assert requests.post(f"http://127.0.0.1:{p2}/chat?name=x", timeout=T(10)).status_code == 404
    assert await ws_status(p2, "/v1/ws") == 404
    assert await ws_status(p2, "/ws?name=alice&room=lobby") == 404
    assert get(p2, "/v1/texto").status_code == 400  # texto's own refusal of a plain GET

    # The disposable-chat listener: no static directory, /health and /ws only.
    assert get(p3, "/").status_code == 404
    assert get(p3, "/health").status_code == 200
    assert get(p3, "/healthz").status_code == 200
    assert get(p3, "/metrics").status_code == 404
    assert await ws_status(p3, "/v1/texto") == 404
    assert await ws_status(p3, "/v1/ws") == 404
    assert await ws_status(p3, "/ws?name=alice&room=lobby") == 101

    # The default listener is unchanged: web client, API, every dialect.
    r = get(p1, "/")
    assert r.status_code == 200
    with open(os.path.join(WWW_DIR, "index.html")) as f:
        assert r.text == f.read()
    assert get(p1, "/metrics").status_code == 200
    assert get(p1, "/api/v1/rooms").status_code == 200
    assert get(p1, "/ping").status_code == 200
    assert get(p1, "/health").status_code == 200
    assert await ws_status(p1, "/ws?name=alice&room=lobby") == 101
    assert await ws_status(p1, "/v1/texto") == 101
    c = await Client.connect(f"ws://127.0.0.1:{p1}/v1/ws", name="natalie")
    await c.close()

    # One core behind both: a texto client on each listener, a direct message between them.
    a = await T3.connect(SimpleNamespace(port=p2))
    b = await T3.connect(SimpleNamespace(port=p1))
    try:
        await a.send_obj({"client_id": a.id, "id": "6f1f4a49-0f7b-4a5c-9d6e-0a1b2c3d4e5f",
                          "kind": "send", "data": {"receiver_id": b.id, "text": "hi"}})
        got = await b.wait(lambda f: f["kind"] == "receive", "receive")
        assert got["data"] == {"sender_id": a.id, "text": "hi"}, got
    finally:
        await a.close()
        await b.close()


def test_check_config_refuses_a_path_claimed_twice(tmp_path):
    # 000 and 001 both want /ws.
    entry = "127.0.0.1:5000 dialects=disposable_chat,redis_chat"
    r = check_config(tmp_path, ["127.0.0.1:8080", entry])
    assert r.returncode == 1, r.stdout
    assert f"server.listen '{entry}'" in r.stderr, r.stderr
    assert "both claim /ws" in r.stderr, r.stderr
    # And a confabd started with it does not start.
    path = tmp_path / "confab.conf"
    r = subprocess.run([CONFABD, "--config", str(path)], capture_output=True, text=True,
                       timeout=T(20), env=clean_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and entry in r.stderr, r.stderr


@pytest.mark.parametrize("entry,why", [
    ("127.0.0.1:5000 dialects=native,bogus", "unknown dialect 'bogus'"),
    ("127.0.0.1:5000 dialects=native,ttu", "dialect native and dialect ttu both claim"),
    ("127.0.0.1:5000 root=/srv", "unknown listener option 'root'"),
])
def test_check_config_refuses_bad_mounts(tmp_path, entry, why):
    r = check_config(tmp_path, entry)
    assert r.returncode == 1, r.stdout
    assert f"server.listen '{entry}': {why}" in r.stderr, r.stderr


def test_check_config_accepts_mounts(tmp_path, texto_www):
    entries = ["127.0.0.1:8080", f"127.0.0.1:5000 dialects=texto www={texto_www}",
               "unix:/run/confab/a.sock dialects=native+texto www=/srv/texto",
               "systemd:ws dialects=chatty"]
    r = check_config(tmp_path, entries)
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("listen = ")] == \
        [f"listen = {e}" for e in entries]


def test_check_config_alias_precedence(tmp_path):
    def listen_of(r):
        assert r.returncode == 0, r.stderr
        return [ln[9:] for ln in r.stdout.splitlines() if ln.startswith("listen = ")]

    # No listen in the file: SERVER_PORT > PORT > SERVER_ADDRESS, each said on stderr.
    r = check_config(tmp_path, None, env={"SERVER_ADDRESS": "127.0.0.1:5555"})
    assert listen_of(r) == ["127.0.0.1:5555"]
    r = check_config(tmp_path, None, env={"SERVER_ADDRESS": "127.0.0.1:5555", "PORT": "5000"})
    assert listen_of(r) == [":5000"]
    assert "SERVER_ADDRESS ignored: PORT takes precedence" in r.stderr, r.stderr
    r = check_config(tmp_path, None, env={"PORT": "5000", "SERVER_PORT": "6000"})
    assert listen_of(r) == [":6000"]
    assert "server.listen = :6000 from the environment variable SERVER_PORT" in r.stderr
    # The file's listen, CONFAB_SERVER_LISTEN and --listen all win over the aliases.
    r = check_config(tmp_path, "127.0.0.1:7000", env={"PORT": "5000"})
    assert listen_of(r) == ["127.0.0.1:7000"]
    assert "PORT ignored: the configuration file sets server.listen" in r.stderr, r.stderr
    r = check_config(tmp_path, None, env={"PORT": "5000",
                                          "CONFAB_SERVER_LISTEN": "127.0.0.1:7001"})
    assert listen_of(r) == ["127.0.0.1:7001"]
    r = check_config(tmp_path, None, env={"PORT": "5000"}, args=("--listen", "127.0.0.1:7002"))
    assert listen_of(r) == ["127.0.0.1:7002"]
    assert "PORT ignored: the command line sets server.listen" in r.stderr, r.stderr
    # A port that is none is an error naming the variable.
    r = check_config(tmp_path, None, env={"PORT": "http"})
    assert r.returncode == 1 and "PORT: 'http' is not a port number" in r.stderr, r.stderr


def test_port_aliases_bind_when_the_file_has_no_listen(start_server):
    port, other = free_port(), free_port()
    s = start_server({("server", "listen"): None}, port=port,
                     env={"PORT": str(other), "SERVER_PORT": str(port)})
    assert s.get("/healthz").status_code == 200
    log = s.log_text()
    assert f"server.listen = :{port} from the environment variable SERVER_PORT" in log, log
    assert "PORT ignored: SERVER_PORT takes precedence" in log, log
    with pytest.raises(requests.ConnectionError):
        get(other, "/healthz", timeout=T(2))

    port2 = free_port()
    s2 = start_server({("server", "listen"): None}, port=port2, env={"PORT": str(port2)})
    assert s2.get("/healthz").status_code == 200
    assert f"from the environment variable PORT (every address)" in s2.log_text()


def test_port_alias_is_ignored_when_the_file_has_listen(start_server):
    other = free_port()
    s = start_server(env={"PORT": str(other)})
    assert s.get("/healthz").status_code == 200
    assert "PORT ignored: the configuration file sets server.listen" in s.log_text()
    with pytest.raises(requests.ConnectionError):
        get(other, "/healthz", timeout=T(2))


async def test_debug_alias_gives_debug_logs(start_server):
    s = start_server({("log", "level"): None}, env={"DEBUG": "true"})
    assert "log.level = debug from the environment variable DEBUG" in s.log_text()
    c = await Client.connect(s, name="dbg")
    await c.close()
    # Debug lines carry syslog priority 7: a session opening is one.
    poll_until_sync(lambda: "<7>" in s.log_text(), T(10), what="a debug line")


async def test_debug_alias_not_a_bool_warns(start_server):
    s = start_server({("log", "level"): None}, env={"DEBUG": "yes", "LOG_DEBUG": "False"})
    assert "DEBUG='yes' is not a boolean" in s.log_text()
    c = await Client.connect(s, name="nodbg")
    await c.close()
    assert s.get("/healthz").status_code == 200
    assert "<7>" not in s.log_text()
