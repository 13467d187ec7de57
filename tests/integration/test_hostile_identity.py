# SPDX-License-Identifier: MIT
"""Hostile clients against the identity model (docs/protocol.md "Identities", issue 12 items 2,
3, 12 and 14): a name taken through an unauthenticated dialect (a ttu user name, a confab.v1
guest name, a texto UUID) never reads or sends as the account of that name, on one node and on
two; seed 004's CORS allows no credentials; seed 001's channelJoin lists members of other nodes
by their account UUID. Each test checks that the attacker gets a defined answer and that
another client's chat and /healthz are unaffected meanwhile."""
import json
import uuid

import requests

from confabtest import T, Client, assert_error, close_all, free_port, uniq
from test_accounts import PW, hello_token, register
from test_cluster import node_conf, wait_healthy
from test_dialect_001 import C1, bundle, name  # noqa: F401 (bundle is a fixture)
from test_dialect_003 import T3
from test_dialect_004 import T4, Ttu, ttu_conf


def is_dm(text):
    return lambda e: e.get("ev") == "dm" and e.get("text") == text


async def bystanders_chat(server):
    """Another pair of clients still chats, and /healthz still answers 200."""
    room = uniq("bystanders")
    a, b = await Client.connect(server, uniq("by")), await Client.connect(server, uniq("by"))
    await a.join(room)
    await b.join(room)
    await a.send(room, "still here")
    await b.wait_event(lambda e: e.get("ev") == "msg" and e.get("text") == "still here")
    await close_all([a, b])
    assert server.get("/healthz").status_code == 200


def ttu_server(start_server, extra=None):
    main, port = free_port(), free_port()
    conf = {("server", "listen"): [f"127.0.0.1:{main}", ttu_conf(port)]}
    conf.update(extra or {})
    s = start_server(conf, port=main)
    return s, Ttu(s, port)


async def account(server, who):
    """A registered account with one signed-in session: (client, name)."""
    r = await register(server, who)
    assert "error" not in r, r
    c, h = await hello_token(server, r["token"])
    assert h["user"] == {"id": who, "name": who}, h
    return c, r["token"]


async def test_ttu_username_is_not_the_account(start_server):
    """A ttu socket registering `username:alice` is the ttu user alice: it gets neither the
    account alice's offline inbox nor her live direct messages."""
    s, ttu = ttu_server(start_server)
    alice = uniq("alice")
    c, token = await account(s, alice)
    await c.close()
    bob = await Client.connect(s, uniq("bob"))
    # Offline: kept for the account.
    r = await bob.ok("dm", to=alice, text="inbox secret")
    assert r.get("queued") is True, r
    # The attacker registers the name; its defined answer is the ttu user's status.
    thief = await T4.connect(ttu.port, alice)
    await ttu.until_online(alice)
    # A marker through ttu's own /api/send to `alice` reaches the ttu socket: anything the
    # socket got before it (the inbox, when it was the account) is in its frames by then.
    assert ttu.send("mallory", alice, "marker 1").status_code == 200
    await thief.wait_payload("marker 1")
    assert thief.payloads() == ["marker 1"], thief.frames
    assert thief.frames[0] == {"receiver": alice, "sender": "mallory", "payload": "marker 1"}
    # The account gets its inbox when it signs in.
    c, h = await hello_token(s, token)
    ev = await c.wait_event(is_dm("inbox secret"))
    assert ev["queued"] is True and ev["to"] == alice, ev
    # Live: a dm to the account reaches the account's session only.
    await bob.ok("dm", to=alice, text="live secret")
    await c.wait_event(is_dm("live secret"))
    assert ttu.send("mallory", alice, "marker 2").status_code == 200
    await thief.wait_payload("marker 2")
    assert thief.payloads() == ["marker 1", "marker 2"], thief.frames
    # The ttu user is reachable from confab.v1 under its own id, and is not alice.
    await bob.ok("dm", to=f"ttu:{alice}", text="to the ttu user")
    await thief.wait_payload("to the ttu user")
    assert [e["text"] for e in c.evs("dm")] == ["inbox secret", "live secret"]
    await bystanders_chat(s)
    await close_all([c, bob, thief])


async def test_x_username_cannot_send_as_an_account(start_server):
    """POST /api/send with X-Username: alice sends as the ttu user alice, never as the account:
    the account bob sees the sender as ttu:alice, and a bare receiver is a ttu user."""
    s, ttu = ttu_server(start_server)
    alice, bob = uniq("alice"), uniq("bob")
    ca, _ = await account(s, alice)
    cb, _ = await account(s, bob)
    # A bare receiver names a ttu user (nobody here: kept for that ttu user, not for bob).
    r = ttu.send(alice, bob, "forged")
    assert (r.status_code, r.text) == (200, "Send")
    # Another space is named explicitly; the sender is shown as the ttu user it is.
    r = ttu.send(alice, f"account:{bob}", "labelled")
    assert (r.status_code, r.text) == (200, "Send")
    ev = await cb.wait_event(is_dm("labelled"))
    assert ev["from"] == {"id": f"ttu:{alice}", "name": alice}, ev
    assert [e["text"] for e in cb.evs("dm")] == ["labelled"], cb.evs("dm")
    # A sender that tries to claim another space, or carries control characters: 400.
    for bad in (f"account:{alice}", f"guest:{alice}", "al\x1bice", "a\u0085b"):
        r = ttu.send(bad, f"account:{bob}", "x")
        assert r.status_code == 400 and r.text, (bad, r.status_code, r.text)
    # The account alice names the ttu user by its id (no socket: offline, as for a guest).
    assert_error(await ca.send_cmd("dm", to=f"ttu:{alice}", text="hi"), "offline")
    assert ca.evs("dm") == []
    await bystanders_chat(s)
    await close_all([ca, cb])


async def test_api_receive_sender_is_checked(start_server):
    """/api/receive's body `sender` follows the user-name rules and names a ttu user."""
    s, ttu = ttu_server(start_server)
    alice, victim = uniq("alice"), uniq("victim")
    ca, _ = await account(s, alice)
    sock = await T4.connect(ttu.port, victim)
    await ttu.until_online(victim)

    def receive(sender, receiver, payload):
        body = {"receiver": receiver, "payload": payload}
        if sender is not None:
            body["sender"] = sender
        return requests.post(ttu.url("/api/receive"), data=json.dumps(body), timeout=T(10))

    for bad in ("evil\x1b[31m", "\x07", "x\ny", f"account:{alice}", "a\u009bb"):
        r = receive(bad, victim, "spoof")
        assert r.status_code == 400 and r.text, (repr(bad), r.status_code, r.text)
    # A plain name is a ttu user's, also when it is an account's name.
    r = receive(alice, f"account:{alice}", "as the ttu user")
    assert (r.status_code, r.text) == (200, "Receive")
    ev = await ca.wait_event(is_dm("as the ttu user"))
    assert ev["from"] == {"id": f"ttu:{alice}", "name": alice}, ev
    r = receive(None, victim, "anonymous")
    assert (r.status_code, r.text) == (200, "Receive")
    f = await sock.wait_payload("anonymous")
    assert f == {"receiver": victim, "sender": None, "payload": "anonymous"}
    assert sock.payloads() == ["anonymous"], sock.frames
    await bystanders_chat(s)
    await close_all([ca, sock])


async def test_guest_name_squatting(start_server):
    """A guest that took `carol` before carol registered is guest:carol: the account's direct
    messages and inbox reach only sessions signed in as carol."""
    s = start_server()
    carol = uniq("carol")
    guest = await Client.connect(s, carol)
    assert guest.hello_reply["user"] == {"id": f"guest:{carol}", "name": carol}
    sender = await Client.connect(s, uniq("sender"))
    c, token = await account(s, carol)
    # After registration the name is refused to new guests (the defined answer).
    late = await Client.connect(s, hello=False)
    assert_error(await late.send_cmd("hello", name=carol), "auth_required")
    await late.close()
    await sender.ok("dm", to=carol, text="live")
    await c.wait_event(is_dm("live"))
    await c.close()
    r = await sender.ok("dm", to=carol, text="kept")
    assert r.get("queued") is True, r  # the guest does not count as carol being online
    # A marker to the guest's own id: whatever reached the guest before is there by now.
    await sender.ok("dm", to=f"guest:{carol}", text="marker")
    await guest.wait_event(is_dm("marker"))
    assert [e["text"] for e in guest.evs("dm")] == ["marker"], guest.evs("dm")
    c, _ = await hello_token(s, token)
    ev = await c.wait_event(is_dm("kept"))
    assert ev["queued"] is True
    # The guest keeps its session, under its own id.
    room = uniq("r")
    await guest.join(room)
    await c.join(room)
    await guest.send(room, "still a guest")
    ev = await c.wait_event(lambda e: e.get("ev") == "msg" and e.get("text") == "still a guest")
    assert ev["from"] == {"id": f"guest:{carol}", "name": carol}, ev
    await bystanders_chat(s)
    await close_all([guest, sender, c])


async def test_account_named_like_a_texto_session(start_server):
    """With limits.max_name above 36 an account can carry a texto session's UUID as its name;
    it is still not that session: texto sends to the UUID reach the texto session only."""
    s = start_server({("limits", "max_name"): 40})
    victim, peer = await T3.connect(s), await T3.connect(s)
    c, _ = await account(s, victim.id)
    await peer.send(victim.id, "for the texto session")
    await victim.wait_receive(peer.id, "for the texto session")
    # A ping's pong comes after anything already queued to the account's session.
    await c.ok("ping")
    assert c.evs("dm") == [], c.evs("dm")
    # The account's dm by the bare UUID is to an account (none online: queued for it, or
    # refused), never to the texto session; texto's UUID needs its space.
    await c.send_cmd("dm", to=victim.id, text="not you")
    await c.ok("dm", to=f"texto:{victim.id}", text="for texto")
    await victim.wait_receive(f"account:{victim.id}", "for texto")
    assert [f["data"]["text"] for f in victim.receives()] == ["for the texto session",
                                                             "for texto"]
    await bystanders_chat(s)
    await close_all([victim, peer, c])


async def test_ttu_cors_allows_no_credentials(start_server):
    """Seed 004 echoes any Origin but never with Access-Control-Allow-Credentials."""
    s, ttu = ttu_server(start_server)
    evil = "https://evil.example"
    r = requests.options(ttu.url("/api/send"), headers={
        "Origin": evil, "Access-Control-Request-Method": "POST"}, timeout=T(10))
    assert r.status_code == 204
    assert r.headers.get("Access-Control-Allow-Origin") == evil
    assert "Access-Control-Allow-Credentials" not in r.headers, dict(r.headers)
    for path in ("/api/status/x", "/"):
        r = requests.get(ttu.url(path), headers={"Origin": evil}, timeout=T(10))
        assert r.status_code == 200
        assert "Access-Control-Allow-Credentials" not in r.headers, (path, dict(r.headers))
    r = ttu.send("calvin", uniq("nobody"), "x", headers={"Origin": evil})
    assert r.status_code == 200
    assert "Access-Control-Allow-Credentials" not in r.headers, dict(r.headers)
    await bystanders_chat(s)


# ---- two nodes -------------------------------------------------------------------------------

async def test_ttu_username_is_not_the_account_two_nodes(start_server, redis):
    """The ttu user alice on node B and the account alice on node A: each one's direct
    messages and inbox stay its own across Redis (user:<id>, inbox:<id>)."""
    nodes = []
    for i in range(2):
        main, port = free_port(), free_port()
        n = start_server(node_conf(redis, f"n{i}", {
            ("server", "listen"): [f"127.0.0.1:{main}", ttu_conf(port)]}), port=main)
        n.ttu = Ttu(n, port)
        nodes.append(n)
    for n in nodes:
        await wait_healthy(n)
    a, b = nodes
    alice = uniq("alice")
    c, token = await account(a, alice)
    await c.close()
    bob = await Client.connect(a, uniq("bob"))
    r = await bob.ok("dm", to=alice, text="inbox secret")
    assert r.get("queued") is True, r
    thief = await T4.connect(b.ttu.port, alice)
    await a.ttu.until_online(alice)
    assert b.ttu.send("mallory", alice, "marker 1").status_code == 200
    await thief.wait_payload("marker 1")
    assert thief.payloads() == ["marker 1"], thief.frames
    c, _ = await hello_token(b, token)
    ev = await c.wait_event(is_dm("inbox secret"))
    assert ev["queued"] is True
    await bob.ok("dm", to=alice, text="live secret")
    await c.wait_event(is_dm("live secret"))
    assert a.ttu.send("mallory", alice, "marker 2").status_code == 200
    await thief.wait_payload("marker 2")
    assert thief.payloads() == ["marker 1", "marker 2"], thief.frames
    # X-Username alice through node A: seen by the account as the ttu user.
    assert a.ttu.send(alice, f"guest:{bob.name}", "hi bob").status_code == 200
    ev = await bob.wait_event(is_dm("hi bob"))
    assert ev["from"] == {"id": f"ttu:{alice}", "name": alice}, ev
    for n in nodes:
        await bystanders_chat(n)
    await close_all([c, bob, thief])


async def test_guest_name_squatting_two_nodes(start_server, redis):
    """The guest carol on node B, the account carol registered and signed in on node A: the
    account's direct messages and inbox reach only the account, through Redis."""
    nodes = [start_server(node_conf(redis, f"n{i}")) for i in range(2)]
    for n in nodes:
        await wait_healthy(n)
    a, b = nodes
    carol = uniq("carol")
    guest = await Client.connect(b, carol)
    assert guest.id == f"guest:{carol}"
    sender = await Client.connect(b, uniq("sender"))
    c, token = await account(a, carol)
    await sender.ok("dm", to=carol, text="live")
    await c.wait_event(is_dm("live"))
    await c.close()
    # Offline everywhere but for the guest: kept for the account (Redis inbox:<carol>).
    for _ in range(200):
        r = await sender.ok("dm", to=carol, text="kept")
        if r.get("queued"):
            break  # until node A has noticed the close (a live dm is delivered, not lost)
    assert r.get("queued") is True, r
    await sender.ok("dm", to=f"guest:{carol}", text="marker")
    await guest.wait_event(is_dm("marker"))
    assert [e["text"] for e in guest.evs("dm")] == ["marker"], guest.evs("dm")
    c, _ = await hello_token(b, token)
    ev = await c.wait_event(is_dm("kept"))
    assert ev["queued"] is True
    for n in nodes:
        await bystanders_chat(n)
    await close_all([guest, sender, c])


async def test_001_channel_join_lists_other_nodes_by_uuid(start_server, bundle, redis):  # noqa: F811
    """Seed 001 on two nodes, the real client's flow (signIn, then channelJoin at once): a
    member signed in through the other node is listed with its account UUID and name."""
    nodes = []
    for i in range(2):
        p1, p2 = free_port(), free_port()
        n = start_server(node_conf(redis, f"n{i}", {("server", "listen"): [
            f"127.0.0.1:{p1}", f"127.0.0.1:{p2} dialects=redis_chat www={bundle}"]}), port=p1)
        n.p001 = p2
        nodes.append(n)
    for n in nodes:
        await wait_healthy(n)
    a = await C1.connect(nodes[0].p001, "a")
    await a.sign(name("a"))
    await a.join()
    b = await C1.connect(nodes[1].p001, "b")
    await b.sign(name("b"))
    jb = await b.join()
    users = {u["UUID"]: u["Username"] for u in jb["users"]}
    assert users.get(a.uuid) == a.user and users.get(b.uuid) == b.user, jb["users"]
    assert a.user not in users, jb["users"]
    # A name no account may have (':' tags the other identity spaces) gets signIn's error.
    x = await C1.connect(nodes[1].p001)
    await x.error({"type": "signIn", "signIn": {"username": "ttu:x", "password": PW}}, 4)
    for n in nodes:
        await bystanders_chat(n)
    await close_all([a, b, x])
