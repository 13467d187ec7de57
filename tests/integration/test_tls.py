# SPDX-License-Identifier: MIT
"""Direct TLS ([tls] cert, key, client_ca): wss chat, certificate swap on SIGHUP, mutual TLS,
config errors, and the key and admin token from systemd credentials."""
import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import warnings

import pytest
import requests
import websockets

from confabtest import CONFABD, Client, T, close_all, uniq

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def openssl(*args):
    subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=60)


def make_cert(d, name, ca=None):
    """A P-256 key and certificate for CN=name valid for 127.0.0.1; self-signed, or signed by
    ca = (cert, key). Returns (cert path, key path)."""
    key, crt = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.crt")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    if ca is None:
        openssl("req", "-x509", "-new", "-key", key, "-out", crt, "-days", "2", "-subj",
                f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
                "-addext", "basicConstraints=critical,CA:TRUE")
    else:
        csr = os.path.join(d, f"{name}.csr")
        openssl("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                "-out", crt, "-days", "2")
    return crt, key


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_ctx(trust, cert=None):
    ctx = ssl.create_default_context(cafile=trust)
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def wss(server):
    return f"wss://127.0.0.1:{server.port}/v1/ws"


def presented(server, trust):
    """The certificate a new handshake gets, DER."""
    ctx = client_ctx(trust)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=T(10))
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        return s.getpeercert(binary_form=True)


@pytest.fixture
def certs(tmp_path):
    d = str(tmp_path)
    return {"a": make_cert(d, "server-a"), "b": make_cert(d, "server-b"), "dir": d}


def tls_conf(crt, key, extra=None):
    conf = {("tls", "cert"): crt, ("tls", "key"): key}
    conf.update(extra or {})
    return conf


@pytest.mark.deadline(60)
async def test_wss_chat_https_health_and_plain_refused(start_server, certs):
    crt, key = certs["a"]
    s = start_server(tls_conf(crt, key))
    assert "(TLS)" in s.log_text()
    ctx = client_ctx(crt)
    room = uniq("tls")
    a = await Client.connect(wss(s), "alice", ssl=ctx)
    b = await Client.connect(wss(s), "bob", ssl=ctx)
    await a.join(room)
    await b.join(room)
    r = await a.send(room, "over tls")
    assert (await b.wait_msg(room, r["seq"]))["text"] == "over tls"
    loop = asyncio.get_running_loop()
    h = await loop.run_in_executor(None, lambda: requests.get(
        f"https://127.0.0.1:{s.port}/healthz", verify=crt, timeout=T(10)))
    assert h.status_code == 200
    # TLS 1.1 is refused.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(crt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, OSError)):
        await websockets.connect(wss(s), ssl=old, open_timeout=T(10))
    # Plain HTTP/WebSocket on the TLS port gets no upgrade.
    with pytest.raises(Exception):
        await Client.connect(s.ws_url, "plain", timeout=T(5))
    await close_all([a, b])


@pytest.mark.deadline(90)
async def test_sighup_swaps_certificate_and_keeps_it_on_a_bad_pair(start_server, certs):
    crt, key = certs["a"]
    live_crt, live_key = os.path.join(certs["dir"], "live.crt"), os.path.join(certs["dir"],
                                                                              "live.key")
    shutil.copy(crt, live_crt)
    shutil.copy(key, live_key)
    s = start_server(tls_conf(live_crt, live_key))
    bundle = os.path.join(certs["dir"], "both.pem")
    with open(bundle, "w") as f:
        f.write(open(certs["a"][0]).read() + open(certs["b"][0]).read())
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, presented, s, bundle) == der_of(crt)
    room = uniq("swap")
    old = await Client.connect(wss(s), "old", ssl=client_ctx(bundle))
    await old.join(room)

    # A renewal: new files at the same paths, then SIGHUP.
    shutil.copy(certs["b"][0], live_crt)
    shutil.copy(certs["b"][1], live_key)
    await loop.run_in_executor(None, s.reload)
    assert await loop.run_in_executor(None, presented, s, bundle) == der_of(certs["b"][0])
    new = await Client.connect(wss(s), "new", ssl=client_ctx(bundle))
    await new.join(room)
    r = await old.send(room, "still here")  # the open connection kept its session
    assert (await new.wait_msg(room, r["seq"]))["text"] == "still here"

    # A key that does not match: the reload fails and the running certificate stays.
    shutil.copy(certs["a"][1], live_key)
    await loop.run_in_executor(None, s.reload)
    assert "reload failed" in s.log_text() and "mismatch" in s.log_text()
    assert await loop.run_in_executor(None, presented, s, bundle) == der_of(certs["b"][0])
    await close_all([old, new])


@pytest.mark.deadline(60)
async def test_client_ca_requires_a_certificate_it_signed(start_server, certs):
    d = certs["dir"]
    ca = make_cert(d, "client-ca")
    good = make_cert(d, "client-good", ca=ca)
    stranger = make_cert(d, "client-stranger")  # self-signed: not from the CA
    crt, key = certs["a"]
    s = start_server(tls_conf(crt, key, {("tls", "client_ca"): ca[0]}))
    c = await Client.connect(wss(s), "mtls", ssl=client_ctx(crt, good))
    await c.join(uniq("mtls"))
    for who in (None, stranger):
        # TLS 1.3 reports a refused client certificate after the handshake: on the upgrade.
        with pytest.raises(Exception):
            x = await Client.connect(wss(s), "refused", ssl=client_ctx(crt, who), timeout=T(5))
            await x.ok("ping")
    assert s.alive()
    await close_all([c])


def check(conf_path, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CONFAB_")}
    e.pop("NOTIFY_SOCKET", None)
    e.update(env or {})
    return subprocess.run([CONFABD, "--config", conf_path, "--check-config"], capture_output=True,
                          text=True, timeout=T(20), env=e, stdin=subprocess.DEVNULL)


def test_check_config_names_the_tls_problem(tmp_path, certs):
    a_crt, a_key = certs["a"]
    b_crt, b_key = certs["b"]
    cases = [
        (f"cert = {a_crt}\nkey = {b_key}\n", "mismatch"),
        (f"cert = {tmp_path}/missing.crt\nkey = {a_key}\n", "missing.crt"),
        (f"cert = {a_crt}\n", "tls.key is empty"),
        (f"key = {a_key}\n", "tls.cert is empty"),
        (f"cert = {a_crt}\nkey = {a_key}\nclient_ca = {a_key}\n", "tls.client_ca"),
    ]
    for body, want in cases:
        p = tmp_path / "c.conf"
        p.write_text("[server]\nlisten = 127.0.0.1:1\n[tls]\n" + body)
        r = check(str(p))
        assert r.returncode == 1 and want in r.stderr, (body, r.stderr)
    p.write_text(f"[server]\nlisten = 127.0.0.1:1\n[tls]\ncert = {a_crt}\nkey = {a_key}\n")
    assert check(str(p)).returncode == 0


@pytest.mark.deadline(60)
async def test_key_and_admin_token_from_credentials(start_server, certs, tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    shutil.copy(certs["a"][1], creds / "tls-key")
    (creds / "admin-token").write_text("from-credential\n")
    crt = certs["a"][0]
    s = start_server({("tls", "cert"): crt, ("tls", "key"): "", ("server", "admin_token"): ""},
                     env={"CREDENTIALS_DIRECTORY": str(creds)})
    room = uniq("cred")
    c = await Client.connect(wss(s), "reader", ssl=client_ctx(crt))
    await c.join(room)
    loop = asyncio.get_running_loop()

    def post(token):
        return requests.post(f"https://127.0.0.1:{s.port}/api/v1/rooms/{room}/messages",
                             json={"text": "hi"}, verify=crt, timeout=T(10),
                             headers={"Authorization": f"Bearer {token}"})
    assert (await loop.run_in_executor(None, post, "wrong")).status_code == 401
    r = await loop.run_in_executor(None, post, "from-credential")
    assert r.status_code == 200, r.text
    await c.wait_until(lambda: any(e.get("text") == "hi" for e in c.events), what="posted msg")
    # --check-config never prints the secret.
    out = check(s.conf_path, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert out.returncode == 0 and "from-credential" not in out.stdout
    await close_all([c])
