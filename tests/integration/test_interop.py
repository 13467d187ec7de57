# SPDX-License-Identifier: MIT
"""Dialects meeting in the core (docs/dialects.md: "Clients of every dialect meet in the same
rooms: a message sent in one dialect reaches the room members of all of them, each in its own
format, in the one order the bus decided, on every node"), standalone and across two nodes:

- one room shared by confab.v1, seed 000 (disposable-chat) and seed 002 (chatty) clients and
  the REST API: every message rendered in each dialect's own format, exactly once, in the same
  order for everyone; presence events crossing dialects;
- direct messages between confab.v1, seed 003 (texto) and seed 004 (ttu) users.

The per-dialect test files cover each dialect with confab.v1 alone; this one mixes them."""
import asyncio
import re
import time
import uuid

from confabtest import Client, T, assert_consecutive, close_all, free_port, poll_until, uniq
from test_cluster import node_conf, wait_healthy
from test_dialect_000 import D0, ORIGIN
from test_dialect_002 import KSUID, D2, create, joined, left
from test_dialect_003 import T3
from test_dialect_004 import T4, Ttu, ttu_conf

# Seed 000's room rule (docs/dialects.md "Seed 000"): a chatty room id must pass it for 000
# clients to address chatty rooms by id.
ROOM_000 = re.compile(r"^[A-Za-z0-9_-]{3,30}$")
REST = "ops"  # the sender of the REST API's messages
ROUNDS = 4


# ---- one room, three dialects and REST ---------------------------------------------------------

def shown_in_000(uid):
    """A user id as seed 000 shows it: its own connections bare, accounts as account:<name>,
    other spaces' ids as they are."""
    if uid.startswith("disposable:"):
        return uid[len("disposable:"):]
    return uid if ":" in uid else f"account:{uid}"


class Room:
    """The members of one core room, by dialect, and what each must have received."""

    def __init__(self, room):
        self.room = room
        self.native, self.d0, self.d2 = [], [], []
        # sender name -> user id, as confab.v1 shows it (docs/protocol.md "Identities"); the
        # operator's free 'from' is an account-space name.
        self.ids = {REST: REST}

    def add_native(self, c):
        self.native.append(c)
        self.ids[c.name] = c.id

    def add_d0(self, c):
        self.d0.append(c)
        self.ids[c.name] = f"disposable:{c.id}"

    def members(self):
        return self.native + self.d0 + self.d2

    def view(self, c):
        """(sender name, text) of every room message c received, in order, after checking
        that each is rendered in c's dialect exactly as docs/dialects.md says."""
        if isinstance(c, Client):
            msgs = c.msgs(self.room)
            for m in msgs:
                assert set(m) == {"ev", "room", "seq", "ts", "from", "text"}, m
                assert m["from"] == {"id": self.ids[m["from"]["name"]],
                                     "name": m["from"]["name"]}, m
            assert_consecutive(msgs, first=1)
            return [(m["from"]["name"], m["text"]) for m in msgs]
        if isinstance(c, D0):
            out = []
            for f in c.chats():
                name = f["data"]["client"]["name"]
                assert f == {"type": "chat", "data": {
                    "room": {"name": self.room},
                    "client": {"id": shown_in_000(self.ids[name]), "name": name},
                    "text": f["data"]["text"]}}, f
                out.append((name, f["data"]["text"]))
            return out
        out = []
        for f in c.msgs():
            assert set(f) == {"text", "participant"}, f
            out.append((f["participant"], f["text"]))
        return out

    async def wait_all(self, n):
        """Waits until every member has n room messages."""
        for c in self.members():
            if isinstance(c, Client):
                await c.wait_msgs(self.room, n)
            else:
                await c.wait(lambda f, c=c: len(self.view(c)) >= n, f"{n} messages")


async def send_rounds(room, senders, rest_nodes, tag):
    """Every sender (and the REST API of each of rest_nodes) sends ROUNDS messages, all
    without waiting for one another. Returns the set of (sender name, text) sent."""
    loop = asyncio.get_running_loop()
    sent, acks = set(), []
    for i in range(ROUNDS):
        jobs = []
        for c in senders:
            text = f"{tag} {c.name} {i} <&> é"
            sent.add((c.name, text))
            if isinstance(c, Client):
                acks.append(await c.start_cmd("send", room=room, text=text))
            elif isinstance(c, D0):
                jobs.append(c.send(text))
            else:
                jobs.append(c.ws.send(text))
        for k, node in enumerate(rest_nodes):
            text = f"{tag} rest{k} {i}"
            sent.add((REST, text))
            jobs.append(loop.run_in_executor(None, node.post_message, room, text, REST))
        for r in await asyncio.gather(*jobs):
            if r is not None:
                assert r.status_code == 200, r.text
    for a in acks:
        reply = await asyncio.wait_for(a, T(10))
        assert "error" not in reply, reply
    return sent


async def check_one_order(r, sent, marker_from):
    """Every member got every message once, all in the same order; then a marker sent last is
    the next message everyone gets (no late duplicate)."""
    n = len(sent)
    await r.wait_all(n)
    views = [r.view(c) for c in r.members()]
    first = views[0]
    assert len(first) == n and set(first) == sent, (len(first), n, set(first) ^ sent)
    for c, v in zip(r.members(), views):
        assert v == first, f"{c.name} saw another order:\n{v}\nthan\n{first}"
    if isinstance(marker_from, Client):
        await marker_from.send(r.room, "marker")
    else:
        await marker_from.ws.send("marker")
    await r.wait_all(n + 1)
    for c in r.members():
        assert r.view(c) == first + [(marker_from.name, "marker")], c.name


async def test_one_room_three_dialects(start_server):
    s = start_server({("dialects", "disposable_origin"): ORIGIN})
    room = create(s, "mixed")["id"]
    assert ROOM_000.match(room), room
    r = Room(room)

    nat = await Client.connect(s, uniq("nat"))
    await nat.join(room)
    r.add_native(nat)
    dora = await D0.connect(s, "dora", room)
    r.add_d0(dora)
    # The 000 welcome lists the confab.v1 user; the confab.v1 user sees dora join.
    assert sorted(dora.frames[0]["data"]["room"]["activeClients"], key=lambda x: x["id"]) == \
        sorted([{"id": nat.id, "name": nat.name}, {"id": dora.id, "name": "dora"}],
               key=lambda x: x["id"])
    ev = await nat.wait_event(lambda e: e.get("ev") == "join" and e["user"]["name"] == "dora")
    assert ev == {"ev": "join", "room": room, "user": {"id": f"disposable:{dora.id}",
                                                        "name": "dora"}}

    chaz = await D2.connect(s, "chaz", room)
    r.d2.append(chaz)
    # A chatty participant is the user chatty:<KSUID>: confab.v1 and 000 see the same id.
    ev = await nat.wait_event(lambda e: e.get("ev") == "join" and e["user"]["name"] == "chaz")
    chaz_id = ev["user"]["id"]
    assert chaz_id.startswith("chatty:") and KSUID.match(chaz_id[7:]) and chaz_id[7:] != room, ev
    r.ids["chaz"] = chaz_id
    info = await dora.wait_info("registered", chaz_id)
    assert info["data"] == {"room": {"name": room}, "client": {"id": chaz_id, "name": "chaz"},
                            "action": "registered"}
    # Later joins of the other dialects reach the chatty participant.
    nat2 = await Client.connect(s, uniq("nat"))
    j = await nat2.join(room)
    assert sorted(m["name"] for m in j["members"]) == sorted(
        [nat.name, nat2.name, "dora", "chaz"]), j
    r.add_native(nat2)
    await chaz.wait(lambda f: f == joined(nat2.name), "native join as participant_joined")
    dina = await D0.connect(s, "dina", room)
    r.add_d0(dina)
    await chaz.wait(lambda f: f == joined("dina"), "000 join as participant_joined")
    await dora.wait_info("registered", nat2.id)
    await dora.wait_info("registered", dina.id)
    assert {x["id"] for x in dina.frames[0]["data"]["room"]["activeClients"]} == {
        nat.id, nat2.id, dora.id, chaz_id, dina.id}

    sent = await send_rounds(room, [nat, dora, chaz, nat2, dina], [s], "one")
    await check_one_order(r, sent, chaz)

    # Leaves cross dialects too.
    await dora.close()
    await nat.wait_event(lambda e: e.get("ev") == "leave" and
                         e["user"]["id"] == f"disposable:{dora.id}")
    await chaz.wait(lambda f: f == left("dora"), "000 leave as participant_left")
    await dina.wait_info("unregistered", dora.id)
    await chaz.close()
    ev = await nat.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == chaz_id)
    assert ev["user"] == {"id": chaz_id, "name": "chaz"}
    await dina.wait_info("unregistered", chaz_id)
    await nat2.ok("leave", room=room)
    await dina.wait_info("unregistered", nat2.id)
    await close_all([nat, nat2, dina])


# ---- direct messages: confab.v1, texto, ttu ----------------------------------------------------

def dm_conf(main, ttu_port, extra=None):
    # limits.max_name 40: user names may be UUIDs (36 bytes), so that confab.v1 and ttu users
    # named like a texto session exist, whom texto sends must not reach (docs/protocol.md
    # "Identities").
    conf = {("server", "listen"): [f"127.0.0.1:{main}", ttu_conf(ttu_port)],
            ("dialects", "disposable_origin"): ORIGIN, ("limits", "max_name"): 40}
    conf.update(extra or {})
    return conf


def is_dm(text):
    return lambda e: e.get("ev") == "dm" and e.get("text") == text




async def test_direct_messages_across_dialects(start_server):
    """Direct messages between confab.v1, texto and ttu users, each addressed in its identity
    space (docs/protocol.md "Identities"): `texto:<uuid>`, `ttu:<name>`, `guest:<name>`. A
    UUID that names a texto session in texto names no ttu or confab.v1 user (issue 12: the
    spaces never resolve to each other)."""
    main, tport = free_port(), free_port()
    s = start_server(dm_conf(main, tport), port=main)
    ttu = Ttu(s, tport)
    nat = await Client.connect(s, uniq("nat"))
    nat_u = await Client.connect(s, str(uuid.uuid4()))  # a confab.v1 guest named by a UUID
    tx = await T3.connect(s)
    tu_name, tu_uuid = uniq("tu"), str(uuid.uuid4())
    tu = await T4.connect(tport, tu_name)
    tuu = await T4.connect(tport, tu_uuid)  # a ttu user named by a UUID
    await ttu.until_online(tu_name)
    await ttu.until_online(tu_uuid)

    # texto -> a UUID: a texto session only, never the ttu or confab.v1 user of that name
    # (acked, as every texto send: fire and forget).
    await tx.send(tu_uuid, "texto to ttu")
    await tx.send(nat_u.name, "texto to native")
    # ttu -> texto: the receiver names texto's space; the sender is the ttu user.
    r = ttu.send(tu_name, f"texto:{tx.id}", "ttu to texto")
    assert (r.status_code, r.text) == (200, "Send")
    f = await tx.wait_receive(f"ttu:{tu_name}", "ttu to texto")
    assert f["client_id"] == tx.id and f["kind"] == "receive"
    # confab.v1 -> texto and ttu, ttu -> confab.v1 in one go, and texto -> texto.
    await nat.ok("dm", to=f"texto:{tx.id}", text="native to texto")
    await nat.ok("dm", to=f"ttu:{tu_name}", text="native to ttu")
    assert ttu.send(tu_uuid, nat.id, "ttu to native").status_code == 200
    tx2 = await T3.connect(s)
    await tx2.send(tx.id, "texto to texto")
    await tx.wait_receive(nat.id, "native to texto")
    await tx.wait_receive(tx2.id, "texto to texto")
    f = await tu.wait_payload("native to ttu")
    assert f == {"receiver": tu_name, "sender": nat.id, "payload": "native to ttu"}
    ev = await nat.wait_event(is_dm("ttu to native"))
    assert ev["from"] == {"id": f"ttu:{tu_uuid}", "name": tu_uuid} and ev["to"] == nat.id, ev
    # Each exactly once, nothing to the others: a marker to each of tuu and nat_u shows that
    # the texto sends to their names did not reach them.
    assert ttu.send("mark", tu_uuid, "marker").status_code == 200
    await tuu.wait_payload("marker")
    await nat.ok("dm", to=nat_u.id, text="marker")
    await nat_u.wait_event(is_dm("marker"))
    assert [x["data"]["text"] for x in tx.receives()] == [
        "ttu to texto", "native to texto", "texto to texto"]
    assert tu.payloads() == ["native to ttu"] and tuu.payloads() == ["marker"]
    assert [e["text"] for e in nat.evs("dm")] == ["ttu to native"]
    assert [e["text"] for e in nat_u.evs("dm")] == ["marker"]

    # A seed 000 session renders no direct messages: a texto send to its UUID is acked and not
    # delivered, a confab.v1 dm finds no session that renders it; the 000 client gets nothing
    # (its next frame is the chat it sends afterwards).
    room = uniq("dm0").replace("-", "_")
    d = await D0.connect(s, "dora", room)
    n = len(d.frames)
    await tx.send(d.id, "texto to 000")
    reply = await nat.send_cmd("dm", to=f"disposable:{d.id}", text="native to 000")
    assert "error" not in reply or reply["error"]["code"] == "offline", reply
    await d.send("after")
    await d.wait_chat("after")
    assert len(d.frames) == n + 1, d.frames[n:]
    await close_all([nat, nat_u, tx, tx2, tu, tuu, d])


async def test_direct_messages_with_the_default_name_limit(start_server):
    """With limits.max_name 32 a UUID is no user name, but confab.v1's dm and a ttu send still
    address a texto session as `texto:<uuid>` (docs/protocol.md "Identities")."""
    main, tport = free_port(), free_port()
    s = start_server(dm_conf(main, tport, {("limits", "max_name"): None}), port=main)
    ttu = Ttu(s, tport)
    tx = await T3.connect(s)
    nat = await Client.connect(s, uniq("nat"))
    r = ttu.send("tim", f"texto:{tx.id}", "from ttu")
    assert (r.status_code, r.text) == (200, "Send")
    await tx.wait_receive("ttu:tim", "from ttu")
    # Not a canonical UUID (upper case), and a bare UUID is too long for a ttu name: refused.
    r = ttu.send("tim", f"texto:{tx.id.upper()}", "refused")
    assert r.status_code == 400 and r.text, (r.status_code, r.text)
    r = ttu.send("tim", tx.id, "refused")
    assert r.status_code == 400 and r.text, (r.status_code, r.text)
    # A ttu socket cannot register a UUID either: the frame is ignored.
    u = str(uuid.uuid4())
    tu = await T4.connect(tport, u)
    await tu.register("tim")
    await ttu.until_online("tim")
    assert ttu.status(u).text == f"{u} is offline"
    await nat.ok("dm", to=f"texto:{tx.id}", text="allowed")
    await tx.wait_receive(nat.id, "allowed")
    assert [x["data"]["text"] for x in tx.receives()] == ["from ttu", "allowed"]
    await close_all([tx, nat, tu])


# ---- two nodes -----------------------------------------------------------------------------------

async def two_nodes(start_server, redis):
    """Two nodes on one Redis, each with the default listener and a ttu listener."""
    nodes = []
    for i in range(2):
        main, tport = free_port(), free_port()
        s = start_server(node_conf(redis, f"node{i}", dm_conf(main, tport)), port=main)
        s.ttu = Ttu(s, tport)
        nodes.append(s)
    for s in nodes:
        await wait_healthy(s)
    return nodes


async def until_delivered(call, ok, what, timeout=None):
    """Repeats call() until ok(result): a node subscribes to a user's channel a moment after
    the user's session opened (docs/dialects.md, texto "Keepalive, closes, cluster")."""
    deadline = time.monotonic() + (timeout or T(10))
    while True:
        r = await call()
        if ok(r):
            return r
        assert time.monotonic() < deadline, f"{what}: last result {r!r}"
        await asyncio.sleep(0.02)


async def registered_again(sock, name, ttu):
    """Registers a ttu socket as a user who is online already: the registration has no answer,
    so it goes through a name of its own first and waits until that is offline (moved)."""
    probe = uniq("probe")
    await sock.register(probe)
    await ttu.until_online(probe)
    await sock.register(name)
    await ttu.until_online(probe, online=False)


async def test_one_room_three_dialects_two_nodes(start_server, redis):
    a, b = await two_nodes(start_server, redis)
    room = create(a, "mixed")["id"]
    r = Room(room)
    # Members of each dialect on each node, joined one after another: each sees the next.
    na = await Client.connect(a, uniq("na"))
    await na.join(room)
    r.add_native(na)
    db = await D0.connect(b, "dbee", room)
    r.add_d0(db)
    assert {"id": na.id, "name": na.name} in db.frames[0]["data"]["room"]["activeClients"]
    await na.wait_event(lambda e: e.get("ev") == "join" and
                        e["user"]["id"] == f"disposable:{db.id}")
    cb = await D2.connect(b, "cbee", room)
    r.d2.append(cb)
    ev = await na.wait_event(lambda e: e.get("ev") == "join" and e["user"]["name"] == "cbee")
    r.ids["cbee"] = ev["user"]["id"]
    await db.wait_info("registered", r.ids["cbee"])
    da = await D0.connect(a, "dace", room)
    r.add_d0(da)
    assert {x["id"] for x in da.frames[0]["data"]["room"]["activeClients"]} == {
        na.id, db.id, r.ids["cbee"], da.id}
    await cb.wait(lambda f: f == joined("dace"), "dace (node a) joined")
    ca = await D2.connect(a, "cace", room)
    r.d2.append(ca)
    ev = await na.wait_event(lambda e: e.get("ev") == "join" and e["user"]["name"] == "cace")
    r.ids["cace"] = ev["user"]["id"]
    nb = await Client.connect(b, uniq("nb"))
    await nb.join(room)
    r.add_native(nb)
    for c in (ca, cb):
        await c.wait(lambda f: f == joined(nb.name), "nb (node b) joined")
    for c in (da, db):
        await c.wait_info("registered", r.ids["cace"])
        await c.wait_info("registered", nb.id)

    sent = await send_rounds(room, [na, da, ca, nb, db, cb], [a, b], "two")
    await check_one_order(r, sent, nb)

    # Leaves reach the other node in every dialect.
    await cb.close()
    await na.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == r.ids["cbee"])
    await da.wait_info("unregistered", r.ids["cbee"])
    await ca.wait(lambda f: f == left("cbee"), "cbee (node b) left")
    await da.close()
    await nb.wait_event(lambda e: e.get("ev") == "leave" and
                        e["user"]["id"] == f"disposable:{da.id}")
    await db.wait_info("unregistered", da.id)
    await ca.wait(lambda f: f == left("dace"), "dace (node a) left")
    await close_all([na, nb, db, ca])


async def test_direct_messages_across_dialects_two_nodes(start_server, redis):
    a, b = await two_nodes(start_server, redis)
    na = await Client.connect(a, uniq("na"))
    nb_u = await Client.connect(b, str(uuid.uuid4()))
    tb = await T3.connect(b)
    tu_name, tu_uuid = uniq("tu"), str(uuid.uuid4())
    tua = await T4.connect(a.ttu.port, tu_name)
    tuu = await T4.connect(a.ttu.port, tu_uuid)
    # Each node follows its users (PUBSUB NUMSUB of the users' channels, seen from the
    # other node).
    await b.ttu.until_online(tu_name)
    await b.ttu.until_online(tu_uuid)
    for uid in (f"texto:{tb.id}", nb_u.id):
        await poll_until(lambda: a.get(f"/api/v1/users/{uid}").json()["online"], T(10),
                         what=f"{uid} online")

    # confab.v1 on a -> texto on b.
    await na.ok("dm", to=f"texto:{tb.id}", text="native a to texto b")
    await tb.wait_receive(na.id, "native a to texto b")
    # texto on b -> the UUIDs of a ttu user on a and a confab.v1 guest on b: neither (texto
    # reaches texto sessions only).
    await tb.send(tu_uuid, "texto b to ttu a")
    await tb.send(nb_u.name, "texto b to native b")
    # ttu POSTed on a -> texto on b; ttu POSTed on b -> confab.v1 on a.
    assert a.ttu.send(tu_name, f"texto:{tb.id}", "ttu a to texto b").status_code == 200
    await tb.wait_receive(f"ttu:{tu_name}", "ttu a to texto b")
    r = b.ttu.send(tu_name, na.id, "ttu b to native a")
    assert (r.status_code, r.text) == (200, "Send")
    ev = await na.wait_event(is_dm("ttu b to native a"))
    assert ev["from"] == {"id": f"ttu:{tu_name}", "name": tu_name}
    # confab.v1 on b -> ttu on a, and the ttu socket's second session on b gets it too.
    tub = await T4.connect(b.ttu.port)
    await registered_again(tub, tu_name, b.ttu)
    await until_delivered(lambda: nb_u.send_cmd("dm", to=f"ttu:{tu_name}",
                                                text="native b to ttu"),
                          lambda r: "error" not in r, "dm to ttu")
    for c in (tua, tub):
        f = await c.wait_payload("native b to ttu")
        assert f == {"receiver": tu_name, "sender": nb_u.id, "payload": "native b to ttu"}
    # Each exactly once; markers show the texto sends to the UUIDs reached nobody.
    assert a.ttu.send("mark", tu_uuid, "marker").status_code == 200
    await tuu.wait_payload("marker")
    await na.ok("dm", to=nb_u.id, text="marker")
    await nb_u.wait_event(is_dm("marker"))
    assert [x["data"]["text"] for x in tb.receives()] == [
        "native a to texto b", "ttu a to texto b"]
    assert tua.payloads() == ["native b to ttu"] and tuu.payloads() == ["marker"]
    assert [e["text"] for e in na.evs("dm")] == ["ttu b to native a"]
    assert [e["text"] for e in nb_u.evs("dm")] == ["marker"]
    await close_all([na, nb_u, tb, tua, tuu, tub])
