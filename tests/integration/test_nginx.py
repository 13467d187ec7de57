# SPDX-License-Identifier: MIT
"""confabd behind the real nginx (/usr/sbin/nginx), configured by the shipped site
conf/nginx/confab.conf: wss chat over an upstream of two cluster nodes, idle WebSockets kept
open by confab's pings across nginx's proxy_read_timeout, per-address limits that see the
client's address through X-Forwarded-For, and the site's HTTP policy.

The site is rendered from the shipped file with only what a test machine needs changed (listen
addresses, server_name, certificate paths, upstream servers and, for one test, the read
timeout), and each substitution must match, so the file that gets shipped is the one tested.
nginx runs in the foreground as one process (master_process off) with every path in a temp dir,
started and stopped by PID.
"""
import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
import requests
import websockets

from confabtest import REPO, VALGRIND, Client, T, close_all, free_port, uniq
from test_cluster import start_nodes

NGINX = "/usr/sbin/nginx"
OPENSSL = "/usr/bin/openssl"
SITE = os.path.join(REPO, "conf", "nginx", "confab.conf")
SERVER_NAME = "confab.test"
# confabd must trust nginx (which connects from 127.0.0.1) to use its X-Forwarded-For.
BEHIND_NGINX = {("server", "trusted_proxies"): "127.0.0.1"}


# --------------------------------------------------------------------------------------------
# rendering the shipped site

def _sub(text, pattern, repl, want, flags=re.M):
    out, n = re.subn(pattern, repl, text, flags=flags)
    assert n == want, (f"{SITE}: {n} matches of {pattern!r}, expected {want}: the shipped site "
                       "changed in a way tests/integration/test_nginx.py does not render")
    return out


def render_site(tls_port, http_port, upstreams, cert, key, read_timeout=None):
    """The shipped site with the test's ports, name, certificate and upstream servers."""
    with open(SITE) as f:
        text = f.read()
    # IPv6 may be missing on a test machine; one IPv4 loopback listener per server is enough.
    text = _sub(text, r"^[ \t]*listen[ \t]+\[::\]:(80|443)\b[^;\n]*;[ \t]*\n", "", 2)
    text = _sub(text, r"^([ \t]*listen[ \t]+)443\b", rf"\g<1>127.0.0.1:{tls_port}", 1)
    text = _sub(text, r"^([ \t]*listen[ \t]+)80\b", rf"\g<1>127.0.0.1:{http_port}", 1)
    text = _sub(text, r"^([ \t]*server_name[ \t]+)[^;\n]+;", rf"\g<1>{SERVER_NAME};", 2)
    text = _sub(text, r"^([ \t]*ssl_certificate[ \t]+)[^;\n]+;", rf"\g<1>{cert};", 1)
    text = _sub(text, r"^([ \t]*ssl_certificate_key[ \t]+)[^;\n]+;", rf"\g<1>{key};", 1)

    def upstream(m):
        body = _sub(m.group(2), r"^[ \t]*server[ \t]+[^;\n]+;[ \t]*\n", "", 1)
        return m.group(1) + body + "".join(f"    server {u};\n" for u in upstreams) + m.group(3)
    text = _sub(text, r"(^upstream confab_backend \{\n)(.*?)(^\})", upstream, 1,
                flags=re.M | re.S)
    if read_timeout is not None:
        text = _sub(text, r"^([ \t]*proxy_read_timeout[ \t]+)\w+;",
                    rf"\g<1>{read_timeout}s;", 1)
    return text


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1 and SERVER_NAME: (cert path, key path)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    f"/CN={SERVER_NAME}", "-addext",
                    f"subjectAltName=IP:127.0.0.1,DNS:{SERVER_NAME}", "-keyout", key, "-out",
                    cert], check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.fixture(scope="module")
def tls_cert():
    d = tempfile.mkdtemp(prefix="confab-cert-")
    try:
        yield make_cert(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# nginx

class Nginx:
    """One nginx, in the foreground as a single process, everything in a temp dir."""

    def __init__(self, upstreams, cert, key, read_timeout=None):
        self.dir = tempfile.mkdtemp(prefix="confab-nginx-")
        self.upstreams, self.cert, self.key = upstreams, cert, key
        self.read_timeout = read_timeout
        self.error_log = os.path.join(self.dir, "error.log")
        self.proc = None
        self.tls_port = self.http_port = None

    def write_config(self):
        d = self.dir
        with open(os.path.join(d, "confab-site.conf"), "w") as f:
            f.write(render_site(self.tls_port, self.http_port, self.upstreams, self.cert,
                                self.key, self.read_timeout))
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        # What /etc/nginx/nginx.conf would say, minus everything that lives outside d.
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/confab-site.conf;
}}
""")

    def start(self):
        for _attempt in range(3):  # another process may take a free port first
            self.tls_port, self.http_port = free_port(), free_port()
            self.write_config()
            with open(self.error_log, "ab") as log:
                self.proc = subprocess.Popen(
                    [NGINX, "-p", self.dir + "/", "-c", os.path.join(self.dir, "nginx.conf"),
                     "-e", self.error_log], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                if self._accepts(self.tls_port) and self._accepts(self.http_port):
                    return self
                time.sleep(0.02)
            self.stop()
            if "in use" not in self.log_text():
                break
        raise AssertionError(f"nginx did not start:\n{self.log_text()}")

    @staticmethod
    def _accepts(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # fast shutdown: WebSockets are cut
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    # -- clients
    def ssl_context(self):
        return ssl.create_default_context(cafile=self.cert)

    @property
    def wss_url(self):
        return f"wss://127.0.0.1:{self.tls_port}/v1/ws"

    def https(self, path):
        return f"https://127.0.0.1:{self.tls_port}{path}"

    def get(self, path, **kw):
        kw.setdefault("timeout", T(10))
        return requests.get(self.https(path), verify=self.cert, **kw)


@pytest.fixture
def start_nginx(request, tls_cert):
    """Factory: start_nginx([confabd Server, ...], read_timeout=None) -> running Nginx whose
    upstream holds those servers."""
    started = []
    # Shown with the confabd logs when the test fails (see conftest.py).
    request.node._extra_logs = getattr(request.node, "_extra_logs", [])

    def start(servers, read_timeout=None):
        n = Nginx([f"127.0.0.1:{s.port}" for s in servers], *tls_cert, read_timeout)
        started.append(n)
        request.node._extra_logs.append((f"nginx #{len(started) - 1} error.log", n.log_text))
        return n.start()

    yield start
    for n in started:
        n.cleanup()


async def wss_client(url, name, ssl_ctx=None, local=None, extra_headers=None):
    """Client.connect, plus TLS, a chosen source address and extra request headers."""
    kw = dict(subprotocols=["confab.v1"], max_size=None, compression=None, ping_interval=None,
              open_timeout=T(10), close_timeout=T(5), max_queue=None)
    if ssl_ctx is not None:
        kw["ssl"] = ssl_ctx
    if local is not None:
        kw["local_addr"] = (local, 0)
    if extra_headers:
        kw["extra_headers"] = extra_headers
    c = Client(await websockets.connect(url, **kw), name)
    c.hello_reply = await c.ok("hello", name=name)
    return c


async def via_nginx(nginx, name, **kw):
    return await wss_client(nginx.wss_url, name, nginx.ssl_context(), **kw)


async def refused_status(url, ssl_ctx=None, **kw):
    """The HTTP status of a refused WebSocket handshake (fails if it was accepted)."""
    try:
        c = await wss_client(url, "refused", ssl_ctx, **kw)
    except websockets.InvalidStatusCode as e:
        return e.status_code
    await close_all([c])
    raise AssertionError(f"the handshake to {url} with {kw!r} was accepted")


# --------------------------------------------------------------------------------------------
# the shipped file itself

def test_site_loads_into_debians_nginx_conf(tls_cert):
    """The site, as shipped (only the certificate paths pointed at files that exist), passes
    `nginx -t` inside Debian's own /etc/nginx/nginx.conf, where a sysadmin drops it, with
    whatever dynamic modules (libnginx-mod-*) this machine enables."""
    d = tempfile.mkdtemp(prefix="confab-nginx-t-")
    try:
        with open(SITE) as f:
            site = f.read()
        site = _sub(site, r"^([ \t]*ssl_certificate[ \t]+)[^;\n]+;", rf"\g<1>{tls_cert[0]};", 1)
        site = _sub(site, r"^([ \t]*ssl_certificate_key[ \t]+)[^;\n]+;",
                    rf"\g<1>{tls_cert[1]};", 1)
        with open(os.path.join(d, "confab"), "w") as f:
            f.write(site)
        with open("/etc/nginx/nginx.conf") as f:
            main = f.read()
        # Debian's file, with the site in place of sites-enabled/* and its paths in d.
        main = _sub(main, r"^([ \t]*include[ \t]+)/etc/nginx/sites-enabled/\*;",
                    rf"\g<1>{d}/confab;", 1)
        main = re.sub(r"^([ \t]*(?:pid|error_log|access_log)[ \t]+)/[^;\n]+;",
                      lambda m: f"{m.group(1)}{d}/{m.group(1).split()[0]}.out;", main,
                      flags=re.M)
        main = main.replace("http {", f"http {{\n\tclient_body_temp_path {d}/body;\n"
                            f"\tproxy_temp_path {d}/proxy;\n\tfastcgi_temp_path {d}/fcgi;\n"
                            f"\tuwsgi_temp_path {d}/uwsgi;\n\tscgi_temp_path {d}/scgi;", 1)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(main)
        # No -p: the prefix stays nginx's own, against which Debian's modules-enabled/*.conf
        # name their modules (load_module modules/ngx_*.so), as on a server with any
        # libnginx-mod-* package installed; every path that nginx -t writes is in d.
        r = subprocess.run([NGINX, "-t", "-c", os.path.join(d, "nginx.conf"),
                            "-e", os.path.join(d, "error.out")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "[warn]" not in r.stderr and "[emerg]" not in r.stderr, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_shipped_read_timeout_is_above_the_ping_interval():
    """An idle WebSocket survives nginx only if confabd pings more often than nginx's
    proxy_read_timeout: the shipped defaults of the two files must agree."""
    with open(SITE) as f:
        m = re.findall(r"^[ \t]*proxy_read_timeout[ \t]+(\d+)s;", f.read(), re.M)
    with open(os.path.join(REPO, "conf", "confab.conf")) as f:
        p = re.findall(r"^ping_interval = (\d+)$", f.read(), re.M)
    assert len(m) == 1 and len(p) == 1, (m, p)
    assert int(m[0]) >= 2 * int(p[0]), (f"proxy_read_timeout {m[0]}s is not well above "
                                        f"server.ping_interval {p[0]}")


# --------------------------------------------------------------------------------------------
# through nginx

@pytest.mark.deadline(60)
async def test_wss_chat_across_two_upstream_nodes(start_server, redis, start_nginx):
    """An upstream of two confabd in cluster mode: clients that nginx sent to different nodes
    chat in one room over wss, both ways."""
    nodes = await start_nodes(start_server, redis, 2, BEHIND_NGINX)
    nginx = start_nginx(nodes)
    # Round robin: connect until both nodes have a client (the second connection at the
    # latest, a few more to be safe).
    clients, on = [], {}
    for i in range(6):
        c = await via_nginx(nginx, f"user{i}")
        clients.append(c)
        on.setdefault(c.hello_reply["node"], c)
        if len(on) == 2:
            break
    assert sorted(on) == ["node0", "node1"], [c.hello_reply["node"] for c in clients]
    a, b = on["node0"], on["node1"]
    room = uniq("wss")
    await a.join(room)
    await b.join(room)
    sent = []
    for i in range(3):
        sent.append((await a.send(room, f"a{i}"))["seq"])
        sent.append((await b.send(room, f"b{i}"))["seq"])
    want = [(s, t) for s, t in zip(sent, ["a0", "b0", "a1", "b1", "a2", "b2"])]
    for c in (a, b):
        msgs = await c.wait_msgs(room, 6)
        assert [(m["seq"], m["text"]) for m in msgs] == want, c.name
        ids = [x.hello_reply["user"]["id"] for x in (a, b)]  # guest:<name>
        assert [m["from"]["id"] for m in msgs] == ids * 3
    await close_all(clients)


async def test_site_http_endpoints(start_server, start_nginx):
    """/healthz and the web client through https; /metrics not served; http redirects."""
    s = start_server(BEHIND_NGINX)
    nginx = start_nginx([s])
    loop = asyncio.get_running_loop()

    def check():
        r = nginx.get("/healthz")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok"
        assert r.headers.get("Strict-Transport-Security", "").startswith("max-age=")
        assert "nginx/" not in r.headers.get("Server", "")  # server_tokens off
        r = nginx.get("/")
        assert r.status_code == 200 and "<html" in r.text.lower(), r.status_code
        r = nginx.get("/metrics")
        assert r.status_code == 403, r.status_code
        assert "confab_" not in r.text
        assert s.get("/metrics").status_code == 200  # confabd itself still serves it
        r = requests.get(f"http://127.0.0.1:{nginx.http_port}/v1/ws?x=1",
                         allow_redirects=False, timeout=T(10))
        assert r.status_code == 301, r.status_code
        assert r.headers["Location"] == f"https://{SERVER_NAME}/v1/ws?x=1"
    await loop.run_in_executor(None, check)


# nginx closes a WebSocket on which confabd sent nothing for this long (seconds). confabd, with
# ping_interval = 1 (the least it takes), pings every 2 s: its once-a-second tick finds the
# session silent for 1 s only on the second tick after the previous pong. Under valgrind its
# timers run late: a wider margin.
READ_TIMEOUT = 6 if VALGRIND else 4


@pytest.mark.deadline(60)
async def test_idle_client_outlives_proxy_read_timeout(start_server, start_nginx):
    """A client that says nothing for 3x nginx's proxy_read_timeout is still connected, and
    chats, because confabd's pings keep the upstream side busy. The control: behind a confabd
    that pings too seldom, nginx does cut an idle client after that timeout, so the timeout
    is in force and it is the pings that keep the first one open."""
    pinging = start_server({**BEHIND_NGINX, ("server", "ping_interval"): 1,
                            ("server", "pong_timeout"): 5})
    silent = start_server({**BEHIND_NGINX, ("server", "ping_interval"): 600})
    n1 = start_nginx([pinging], read_timeout=READ_TIMEOUT)
    n2 = start_nginx([silent], read_timeout=READ_TIMEOUT)
    room = uniq("idle")
    idle = await via_nginx(n1, "idle")
    await idle.join(room)
    control = await via_nginx(n2, "control")
    await control.join(room)
    t0 = time.monotonic()
    # The control is cut after about READ_TIMEOUT; bounded well above it.
    await control.wait_closed(timeout=T(READ_TIMEOUT * 3 + 5))
    cut_after = time.monotonic() - t0
    assert cut_after >= READ_TIMEOUT * 0.8, f"the control was closed after {cut_after:.1f} s"
    # The pinged client has been idle all along; it stays so for 3x the timeout in all.
    await asyncio.sleep(max(0.0, READ_TIMEOUT * 3 - (time.monotonic() - t0)))
    assert not idle.closed, (idle.close_code, idle.close_reason)
    other = await via_nginx(n1, "other")
    await other.join(room)
    r = await idle.send(room, "still here")
    m = await other.wait_msg(room, r["seq"])
    assert m["text"] == "still here"
    r = await other.send(room, "hello idle")
    m = await idle.wait_msg(room, r["seq"])
    assert m["text"] == "hello idle"
    await close_all([idle, other, control])


@pytest.mark.deadline(60)
async def test_per_ip_limit_sees_the_client_address_through_nginx(start_server, start_nginx):
    """max_connections_per_ip counts the address nginx got the connection from (the rightmost
    X-Forwarded-For entry), not nginx's own, nor what the client wrote into X-Forwarded-For.
    One upstream server: per-address counts are per confabd process, so with two nginx would
    spread one address's connections over both counts."""
    s = start_server({**BEHIND_NGINX, ("server", "max_connections_per_ip"): 2})
    nginx = start_nginx([s])
    held = [await via_nginx(nginx, f"two-{i}", local="127.0.0.2") for i in range(2)]
    # The third from 127.0.0.2 is refused, with confabd's status passed through by nginx.
    assert await refused_status(nginx.wss_url, nginx.ssl_context(), local="127.0.0.2") == 429
    # Another client address through the same nginx (whose own 127.0.0.1 has more than 2
    # connections to confabd by now) is counted on its own.
    held.append(await via_nginx(nginx, "three", local="127.0.0.3"))
    held.append(await via_nginx(nginx, "three-b", local="127.0.0.3"))
    # Writing another address into X-Forwarded-For does not help: nginx appends the real one,
    # and confabd takes the rightmost address that is not a trusted proxy.
    for forged in ("127.0.0.9", "127.0.0.1", "127.0.0.9, 127.0.0.1"):
        assert await refused_status(nginx.wss_url, nginx.ssl_context(), local="127.0.0.2",
                                    extra_headers={"X-Forwarded-For": forged}) == 429, forged
    # Directly to confabd, from a peer that is not a trusted proxy, the header is ignored: the
    # connections count under 127.0.0.4 whatever each one claims.
    for i, forged in enumerate(("127.0.0.10", "127.0.0.11")):
        held.append(await wss_client(s.ws_url, f"four-{i}", local="127.0.0.4",
                                     extra_headers={"X-Forwarded-For": forged}))
    assert await refused_status(s.ws_url, local="127.0.0.4",
                                extra_headers={"X-Forwarded-For": "127.0.0.12"}) == 429
    # The sessions held are all fine.
    for c in held:
        await c.ok("ping")
    await close_all(held)


@pytest.mark.deadline(60)
async def test_per_ip_limit_behind_nginx_on_a_dual_stack_socket(start_server, start_nginx):
    """confab@.socket listens on port 8080 of every address, IPv6 included: nginx's IPv4
    connections reach confabd as ::ffff:127.0.0.1, which trusted_proxies = 127.0.0.1 (as the
    site's comments give it) must still match."""
    port = free_port()
    s = start_server({("server", "listen"): "systemd:ws", ("server", "max_connections_per_ip"): 1,
                      ("server", "trusted_proxies"): ["127.0.0.1"]},
                     activate=[(str(port), "ws")])  # [::]:port, like ListenStream=8080
    s.port = port
    nginx = start_nginx([s])
    # The first connection starts confabd (it waits in the socket's backlog meanwhile).
    held = [await via_nginx(nginx, "two", local="127.0.0.2")]
    held.append(await via_nginx(nginx, "three", local="127.0.0.3"))
    assert await refused_status(nginx.wss_url, nginx.ssl_context(), local="127.0.0.2") == 429
    for c in held:
        await c.ok("ping")
    await close_all(held)
