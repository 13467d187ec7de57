# SPDX-License-Identifier: MIT
"""Sign-in with the application's tokens (docs/protocol.md "Application tokens"): JWTs minted
by another implementation (Debian's python3-jwt) verified at hello, HS256/RS256/ES256, every
refusal, the account the first sign-in makes (and its offline inbox), the rooms claim, the
per-address bound on refused tokens, and two nodes sharing the accounts through Redis."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from confabtest import (ADMIN_TOKEN, T, Client, Server, ServerStartError,
                        assert_bystander_unaffected, assert_error, uniq)
from test_cluster import node_conf, wait_healthy

SECRET = "an-hs256-secret-of-at-least-32-bytes!!"
PW = "password123"


def write(path, data, mode=0o600):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def hs_conf(tmp_path, extra=None):
    conf = {("auth", "jwt_alg"): "HS256",
            ("auth", "jwt_key_file"): write(str(tmp_path / "jwt.key"), SECRET + "\n")}
    conf.update(extra or {})
    return conf


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def claims(sub, ttl=300, **kw):
    now = int(time.time())
    c = {"sub": sub, "exp": now + ttl, "iat": now}
    c.update(kw)
    return c


async def wait_ev(c, kind, room=None):
    return await c.wait_event(lambda e: e.get("ev") == kind and
                              (room is None or e.get("room") == room), what=f"{kind} event")


def hs(sub, key=SECRET, **kw):
    return jwt.encode(claims(sub, **kw), key, algorithm="HS256")


async def hello(server, token):
    c = await Client.connect(server, hello=False)
    return c, await c.send_cmd("hello", token=token, timeout=T(20))


async def refused(server, token, code="token_invalid", why=None):
    c, r = await hello(server, token)
    try:
        assert_error(r, code)
        if why:
            assert why in r["error"]["message"], r
    finally:
        await c.close()


async def test_hs256_token_signs_in_as_an_account(start_server, tmp_path):
    server = start_server(hs_conf(tmp_path))
    sub = uniq("u")
    c, r = await hello(server, hs(sub, name="Alice Example"))
    assert r["op"] == "hello", r
    assert r["user"] == {"id": sub, "name": "Alice Example"}
    account = r["account"]
    # The account the first sign-in made is the same at the next one, and chats by its id.
    d, r2 = await hello(server, hs(sub))
    assert r2["account"] == account and r2["user"] == {"id": sub, "name": sub}, r2
    g = await Client.connect(server, uniq("guest"))
    room = uniq()
    await c.join(room)
    await g.join(room)
    await c.send_cmd("send", room=room, text="from the app")
    ev = await wait_ev(g, "msg", room=room)
    assert ev["from"] == {"id": sub, "name": "Alice Example"}, ev
    for x in (c, d, g):
        await x.close()


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_public_key_algorithms(start_server, tmp_path, alg):
    key = rsa_key() if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
    server = start_server({("auth", "jwt_alg"): alg,
                           ("auth", "jwt_key_file"): write(str(tmp_path / "pub.pem"),
                                                           pem_public(key), 0o644)})
    sub = uniq("u")
    c, r = await hello(server, jwt.encode(claims(sub), key, algorithm=alg))
    assert r["op"] == "hello" and r["user"]["id"] == sub, r
    await c.close()
    # Another key of the same kind does not verify.
    other = rsa_key() if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
    await refused(server, jwt.encode(claims(sub), other, algorithm=alg), why="signature")


async def test_algorithm_confusion_and_none_are_refused(start_server, tmp_path):
    """RS256 configured: an HS256 token whose secret is the public key's PEM (which libjwt
    would verify with that text as the secret), and an unsigned "none" token, are refused."""
    key = rsa_key()
    pub = pem_public(key)
    server = start_server({("auth", "jwt_alg"): "RS256",
                           ("auth", "jwt_key_file"): write(str(tmp_path / "pub.pem"), pub,
                                                           0o644)})
    sub = uniq("u")
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(sub)).encode())
    sig = b64(hmac.new(pub, f"{head}.{body}".encode(), hashlib.sha256).digest())
    await refused(server, f"{head}.{body}.{sig}", why="HS256")
    none = jwt.encode(claims(sub), None, algorithm="none")
    await refused(server, none)
    # "none" with a signature part glued on, and RS256 in the header over the same bytes.
    head_rs = b64(json.dumps({"alg": "RS256"}).encode())
    await refused(server, f"{head_rs}.{body}.{sig}", why="signature")
    # A crit header this verifier cannot honour.
    crit = jwt.encode(claims(sub), key, algorithm="RS256", headers={"crit": ["exp"]})
    await refused(server, crit, why="crit")
    # The real thing still works.
    c, r = await hello(server, jwt.encode(claims(sub), key, algorithm="RS256"))
    assert r["op"] == "hello", r
    await c.close()


async def test_time_audience_issuer_and_claim_rules(start_server, tmp_path):
    server = start_server(hs_conf(tmp_path, {("auth", "jwt_audience"): "chat.example",
                                             ("auth", "jwt_issuer"): "https://app.example",
                                             ("auth", "jwt_leeway"): 5}))
    good = {"aud": "chat.example", "iss": "https://app.example"}
    sub = uniq("u")
    now = int(time.time())
    await refused(server, hs(sub, ttl=-60, **good), "token_expired")
    await refused(server, hs(sub, nbf=now + 120, **good), why="nbf")
    await refused(server, hs(sub, aud="other.example", iss=good["iss"]), why="audience")
    await refused(server, hs(sub, iss=good["iss"]), why="aud")
    await refused(server, hs(sub, aud=good["aud"], iss="https://evil.example"), why="issuer")
    await refused(server, hs(sub, aud=good["aud"]), why="issuer")
    await refused(server, jwt.encode({"sub": sub, **good}, SECRET, algorithm="HS256"),
                  why="exp")
    await refused(server, hs("guest:x", **good), why="sub")
    await refused(server, hs("guest-abc", **good), why="sub")
    await refused(server, hs("x" * 33, **good), why="sub")
    await refused(server, hs(sub, name="\u202eecila", **good), why="name")
    await refused(server, hs(sub, rooms="lobby", **good), why="rooms")
    await refused(server, hs(sub, key="another-secret-of-at-least-32-bytes!!", **good),
                  why="signature")
    tampered = hs(sub, **good).split(".")
    tampered[1] = tampered[1][:-2] + ("AA" if tampered[1][-2:] != "AA" else "BB")
    await refused(server, ".".join(tampered))
    await refused(server, hs(sub, **good) + "x" * 9000)
    # Inside the leeway, an aud list holding ours, and nbf just passed: accepted.
    c, r = await hello(server, hs(sub, ttl=-2, nbf=now + 2,
                                  aud=["x", "chat.example"], iss=good["iss"]))
    assert r["op"] == "hello", r
    await c.close()
    # Refusals are counted.
    assert server.metric("confab_auth_jwt_refused_total") >= 15


async def test_token_for_password_account_is_refused_and_login_cannot_reach_app_users(
        start_server, tmp_path):
    server = start_server(hs_conf(tmp_path))
    owner = uniq("own")
    c = await Client.connect(server, hello=False)
    r = await c.send_cmd("register", name=owner, password=PW, timeout=T(20))
    assert r["op"] == "register", r
    # The application cannot sign somebody in as an account that has its own password.
    await refused(server, hs(owner), "name_taken")
    # An application user's account has no password: no login reaches it, none registers it.
    app = uniq("app")
    d, h = await hello(server, hs(app))
    assert h["op"] == "hello", h
    assert_error(await c.send_cmd("login", name=app, password=PW, timeout=T(20)), "auth_failed")
    assert_error(await c.send_cmd("register", name=app, password=PW, timeout=T(20)),
                 "name_taken")
    # Guests cannot take its name, and sign-out-everywhere is the application's.
    g = await Client.connect(server, hello=False)
    assert_error(await g.send_cmd("hello", name=app), "auth_required")
    assert_error(await d.send_cmd("logout", all=True), "bad_state")
    for x in (c, d, g):
        await x.close()


async def test_jwt_refused_where_not_configured(server):
    await refused(server, hs(uniq("u")), why="auth.jwt_alg")


async def test_rooms_claim_limits_joins(start_server, tmp_path):
    server = start_server(hs_conf(tmp_path))
    c, r = await hello(server, hs(uniq("u"), rooms=["lobby-jwt", "team-*"]))
    assert r["op"] == "hello", r
    await c.join("lobby-jwt")
    await c.join("team-red")
    assert_error(await c.send_cmd("join", room="lobby"), "forbidden")
    assert_error(await c.send_cmd("join", room="tea"), "forbidden")
    # An empty list: no room at all.
    d, _ = await hello(server, hs(uniq("u"), rooms=[]))
    assert_error(await d.send_cmd("join", room="lobby-jwt"), "forbidden")
    await c.close()
    await d.close()


async def test_offline_app_user_gets_kept_direct_message(start_server, tmp_path):
    server = start_server(hs_conf(tmp_path))
    sub = uniq("u")
    c, _ = await hello(server, hs(sub))
    await c.close()
    g = await Client.connect(server, uniq("g"))
    r = await g.send_cmd("dm", to=sub, text="while you were away")
    assert r.get("queued") is True, r
    c, _ = await hello(server, hs(sub))
    ev = await wait_ev(c, "dm")
    assert ev["text"] == "while you were away" and ev["queued"] is True, ev
    await c.close()
    await g.close()


async def test_refused_tokens_are_bounded_per_address_and_others_unaffected(
        start_server, tmp_path):
    server = start_server(hs_conf(tmp_path, {("auth", "attempts_per_ip"): 5}))
    bad = hs(uniq("u"), key="another-secret-of-at-least-32-bytes!!")
    room = uniq()
    a = await Client.connect(server, uniq("a"))
    b = await Client.connect(server, uniq("b"))
    await a.join(room)
    await b.join(room)
    attacker = await Client.connect(server, hello=False)
    codes = []
    for _ in range(12):
        r = await attacker.send_cmd("hello", token=bad, timeout=T(20))
        codes.append(r["error"]["code"])
    assert codes[:5] == ["token_invalid"] * 5, codes
    assert codes[-1] == "rate_limited", codes
    before = server.metric("confab_auth_jwt_refused_total")
    assert before <= 6, before  # rate_limited tokens are not even checked
    # Meanwhile other clients' chat and /healthz.
    await a.send_cmd("send", room=room, text="still here")
    assert (await wait_ev(b, "msg", room=room))["text"] == "still here"
    await assert_bystander_unaffected(server)
    await attacker.close()
    await a.close()
    await b.close()


def test_bad_keys_are_start_up_errors(tmp_path):
    ec_pub = pem_public(ec.generate_private_key(ec.SECP384R1()))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cases = [({("auth", "jwt_alg"): "HS256",
               ("auth", "jwt_key_file"): write(str(tmp_path / "short"), "short\n")}, "bytes"),
             ({("auth", "jwt_alg"): "none"}, "not one of"),
             ({("auth", "jwt_alg"): "RS256"}, "jwt_key_file"),
             ({("auth", "jwt_alg"): "ES256",
               ("auth", "jwt_key_file"): write(str(tmp_path / "p384"), ec_pub)}, "prime256v1"),
             ({("auth", "jwt_alg"): "RS256",
               ("auth", "jwt_key_file"): write(str(tmp_path / "small"), pem_public(small))},
              "2048"),
             ({("auth", "jwt_alg"): "RS256",
               ("auth", "jwt_key_file"): write(str(tmp_path / "priv"), small.private_bytes(
                   serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                   serialization.NoEncryption()))}, "PEM public key"),
             ({("auth", "jwt_alg"): "HS256", ("auth", "enabled"): 0,
               ("auth", "jwt_key_file"): write(str(tmp_path / "k"), SECRET)}, "auth.enabled")]
    for conf, why in cases:
        s = Server(conf)
        try:
            with pytest.raises(ServerStartError):
                s.start(timeout=T(10))
            assert why in s.log_text(), (conf, s.log_text()[-500:])
        finally:
            s.cleanup()


async def test_two_nodes_share_app_accounts(start_server, redis, tmp_path):
    extra = hs_conf(tmp_path)
    n0 = start_server(node_conf(redis, "node0", extra))
    n1 = start_server(node_conf(redis, "node1", extra))
    await wait_healthy(n0)
    await wait_healthy(n1)
    sub = uniq("u")
    c0, r0 = await hello(n0, hs(sub))
    c1, r1 = await hello(n1, hs(sub))
    assert r0["op"] == r1["op"] == "hello", (r0, r1)
    assert r0["account"] == r1["account"], (r0, r1)
    # A password account registered on one node refuses the application's token on the other.
    owner = uniq("own")
    reg = await c0.send_cmd("register", name=owner, password=PW, timeout=T(20))
    assert reg["op"] == "register", reg
    await refused(n1, hs(owner), "name_taken")
    # Offline at both nodes: a DM through node1 is kept, and delivered at node0's sign-in.
    await c0.close()
    await c1.close()
    g = await Client.connect(n1, uniq("g"))
    r = await g.send_cmd("dm", to=sub, text="kept in redis")
    assert r.get("queued") is True, r
    c0, _ = await hello(n0, hs(sub))
    ev = await wait_ev(c0, "dm")
    assert ev["text"] == "kept in redis", ev
    await c0.close()
    await g.close()


async def test_two_nodes_concurrent_first_sign_ins_make_one_account(start_server, redis, tmp_path):
    extra = hs_conf(tmp_path)
    nodes = [start_server(node_conf(redis, f"node{i}", extra)) for i in range(2)]
    for n in nodes:
        await wait_healthy(n)
    sub = uniq("u")
    pairs = await asyncio.gather(*[hello(nodes[i % 2], hs(sub)) for i in range(6)])
    accounts = {r["account"] for _, r in pairs}
    assert len(accounts) == 1, [r for _, r in pairs]
    for c, _ in pairs:
        await c.close()


async def test_roles_claim_sets_the_users_role(start_server, tmp_path):
    server = start_server(hs_conf(tmp_path))
    room = uniq("team")
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    r = await asyncio.to_thread(server.post, f"/api/v1/rooms/{room}/rules",
                                json={"op": "create", "kind": "private"}, headers=auth)
    assert r.status_code == 200, r.text
    sub = uniq("u")
    c, h = await hello(server, hs(sub, roles={room: "moderator", uniq("norules"): "owner"}))
    assert h["op"] == "hello", h
    info = await c.send_cmd("room", room=room, timeout=T(20))
    assert info["role"] == "moderator", info
    await c.join(room)  # a private room: the role lets the user in
    await c.close()
    # The application decides: the next token's role replaces it.
    c, _ = await hello(server, hs(sub, roles={room: "member"}))
    info = await c.send_cmd("room", room=room, timeout=T(20))
    assert info["role"] == "member", info
    await c.close()
    await refused(server, hs(sub, roles={room: "king"}), why="roles")
    await refused(server, hs(sub, roles=[room]), why="roles")
