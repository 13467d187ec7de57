# SPDX-License-Identifier: MIT
"""Filling a room (issue 14, "Room fill and presence at scale"): many joins into one room in one
loop turn, the member lists of join replies and welcomes (written straight into the frame, and
kept between joins in rooms of 64 users or more), against the real binary.

The server is stopped (SIGSTOP) while the joiners send, so that it finds every join waiting when
it runs again and serves them together: what each member hears must still be every join once, in
the order the server took them, which the members lists of the join replies tell (a joiner's list
holds everyone taken before it)."""
import contextlib
import json
import os
import signal
import urllib.parse

import pytest

from confabtest import OP_TEXT, RawWS, uniq

K = 24
ORIGIN = "http://test.local"


@contextlib.contextmanager
def stopped(server):
    """The server runs nothing inside the block: what clients send meanwhile waits in its
    sockets (on loopback a send is in the receiver's queue when it returns)."""
    server.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.signal(signal.SIGCONT)


class Stream:
    """A RawWS's objects in arrival order, read on demand."""

    def __init__(self, ws):
        self.ws, self.objs = ws, []

    def until(self, pred):
        """Reads until an object matches pred; returns (the objects before it, it)."""
        while True:
            for k, o in enumerate(self.objs):
                if pred(o):
                    before, self.objs = self.objs[:k], self.objs[k + 1:]
                    return before, o
            got = self.ws.recv_objs()
            assert got is not None, f"closed with {self.ws.close_code}"
            self.objs.extend(got)

    def reply(self, cid):
        return self.until(lambda o: o.get("id") == cid and "ev" not in o)

    def barrier(self, cid):
        """Everything queued before a ping sent now, which the server serves after it."""
        self.ws.send_json({"op": "ping", "id": cid})
        before, _ = self.reply(cid)
        return before

    def close(self):
        self.ws.sock.close()


def native(server, name):
    ws = RawWS(server.port)
    assert ws.handshake().status == 101
    st = Stream(ws)
    ws.send_json({"op": "hello", "id": 1, "name": name})
    _, hello = st.reply(1)
    assert hello["op"] == "hello", hello
    return st


def ids(members):
    return sorted(m["id"] for m in members)


def joined(objs, room):
    return [o["user"]["id"] for o in objs if o.get("ev") == "join" and o["room"] == room]


def test_native_joins_in_one_turn_each_heard_once_in_order(server):
    room = uniq("fill")
    w = native(server, "watch")
    w.ws.send_json({"op": "join", "id": 2, "room": room})
    w.reply(2)
    js = [native(server, f"j{i}") for i in range(K)]
    with stopped(server):
        for j in js:
            j.ws.send_json({"op": "join", "id": 2, "room": room})
    replies = []
    for j in js:
        before, r = j.reply(2)
        assert r["op"] == "join" and r["room"] == room, r
        assert not before, before  # the reply comes before any event of the room
        replies.append(r)
    # The order the server took them in: each list holds the watcher, those before, itself.
    order = sorted(range(K), key=lambda i: len(replies[i]["members"]))
    assert [len(replies[i]["members"]) for i in order] == list(range(2, K + 2))
    names = [f"guest:j{i}" for i in order]
    for p, i in enumerate(order):
        assert ids(replies[i]["members"]) == sorted(["guest:watch"] + names[:p + 1])
        events = js[i].barrier(3)
        assert joined(events, room) == names[p + 1:], (p, events)
        assert all(o.get("ev") == "join" for o in events), events
    events = w.barrier(3)
    assert joined(events, room) == names, events
    assert all(o.get("ev") == "join" for o in events), events
    w.ws.send_json({"op": "presence", "id": 4, "room": room})
    _, p = w.reply(4)
    assert ids(p["members"]) == sorted(["guest:watch"] + names)
    for c in [w] + js:
        c.close()


def test_native_join_and_leave_in_one_turn_final_view(server):
    room = uniq("fill")
    w = native(server, "watch")
    w.ws.send_json({"op": "join", "id": 2, "room": room})
    w.reply(2)
    a, b = native(server, "ann"), native(server, "bob")
    with stopped(server):
        a.ws.send_json({"op": "join", "id": 2, "room": room})
        a.ws.send_json({"op": "leave", "id": 3, "room": room})
        b.ws.send_json({"op": "join", "id": 2, "room": room})
    assert a.reply(2)[1]["op"] == "join"
    assert a.reply(3)[1]["op"] == "leave"
    _, jb = b.reply(2)
    def about(c):
        return [(o["ev"], o["user"]["id"]) for o in c.barrier(4) if o.get("ev")]

    heard = about(w)
    assert [e for e in heard if e[1] == "guest:ann"] == [("join", "guest:ann"),
                                                         ("leave", "guest:ann")], heard
    assert [e for e in heard if e[1] == "guest:bob"] == [("join", "guest:bob")], heard
    # What bob hears of ann continues what his list says: her leave if it listed her, else
    # her whole visit in order (his join was taken first) or nothing (hers was over).
    if "guest:ann" in ids(jb["members"]):
        assert about(b) == [("leave", "guest:ann")]
    else:
        assert about(b) in ([], [("join", "guest:ann"), ("leave", "guest:ann")])
    w.ws.send_json({"op": "presence", "id": 5, "room": room})
    assert ids(w.reply(5)[1]["members"]) == ["guest:bob", "guest:watch"]
    for c in (w, a, b):
        c.close()


def d0_path(name, room):
    return "/ws?" + urllib.parse.urlencode({"name": name, "room": room})


def d0_frames(ws, until):
    """Seed 000 frames until one matches until (included): each frame is one JSON object."""
    out = []
    while True:
        op, payload = ws.recv_message()
        assert op == OP_TEXT, (op, payload)
        out.append(json.loads(payload))  # one event per frame: "a\nb" does not parse
        if until(out[-1]):
            return out


@pytest.mark.conf({("dialects", "disposable_origin"): ORIGIN})
def test_000_joins_in_one_turn_one_event_per_frame(server):
    room = "fill" + os.urandom(4).hex()
    w = RawWS(server.port)
    assert w.handshake(d0_path("watch", room), None, ORIGIN).status == 101
    first = d0_frames(w, lambda f: f["type"] == "info")
    assert [f["type"] for f in first] == ["welcome", "info"]
    js = [RawWS(server.port) for _ in range(K)]  # connected: the kernel accepts for it
    with stopped(server):
        keys = [j.send_upgrade(d0_path(f"j{i:02d}", room), None, ORIGIN)
                for i, j in enumerate(js)]
    for j, key in zip(js, keys):
        assert j.read_upgrade(key).status == 101
    w.send_json({"text": "done"})  # published after every join: the end of what they hear

    def done(f):
        return f["type"] == "chat" and f["data"]["text"] == "done"

    heard = [d0_frames(j, done) for j in js]
    welcomes = [h[0] for h in heard]
    assert all(x["type"] == "welcome" for x in welcomes)
    order = sorted(range(K), key=lambda i: len(welcomes[i]["data"]["room"]["activeClients"]))
    sizes = [len(welcomes[i]["data"]["room"]["activeClients"]) for i in order]
    assert sizes == list(range(2, K + 2))
    names = [f"j{i:02d}" for i in order]

    def registered(frames):
        return [f["data"]["client"]["name"] for f in frames
                if f["type"] == "info" and f["data"]["action"] == "registered"]

    for p, i in enumerate(order):
        listed = sorted(c["name"] for c in welcomes[i]["data"]["room"]["activeClients"])
        assert listed == sorted(["watch"] + names[:p + 1])
        # Its own registered right after its welcome, then each later joiner's, once.
        assert registered(heard[i][1:]) == names[p:], heard[i]
        assert [f["type"] for f in heard[i][1:]] == ["info"] * (K - p) + ["chat"]
    seen = d0_frames(w, done)
    assert registered(seen) == names
    assert [f["type"] for f in seen] == ["info"] * K + ["chat"]
    for c in [w] + js:
        c.sock.close()


# Names JSON escapes, in a room small enough to write its list each time and large enough
# (64 users) to keep it between joins; seen by confab.v1 and seed 000 alike.
ODD = 'q"\\\u00e9\u65e5\U0001F600'


@pytest.mark.conf({("dialects", "disposable_origin"): ORIGIN})
def test_member_lists_escape_names_small_and_large_rooms(server):
    room = "esc" + os.urandom(4).hex()
    members = []
    expect = set()
    for i in range(70):
        c = native(server, f"{ODD}{i}")
        c.ws.send_json({"op": "join", "id": 2, "room": room})
        _, r = c.reply(2)
        expect.add((f"guest:{ODD}{i}", f"{ODD}{i}"))
        assert {(m["id"], m["name"]) for m in r["members"]} == expect, i
        members.append(c)
    # A user goes, another comes: the kept list follows.
    gone = members.pop(5)
    gone.ws.send_json({"op": "leave", "id": 3, "room": room})
    gone.reply(3)
    gone.close()
    expect.discard((f"guest:{ODD}5", f"{ODD}5"))
    last = native(server, f"{ODD}x")
    last.ws.send_json({"op": "join", "id": 2, "room": room})
    expect.add((f"guest:{ODD}x", f"{ODD}x"))
    assert {(m["id"], m["name"]) for m in last.reply(2)[1]["members"]} == expect
    last.ws.send_json({"op": "presence", "id": 4, "room": room})
    assert {(m["id"], m["name"]) for m in last.reply(4)[1]["members"]} == expect
    # Seed 000 shows the guests by their address, with the same names.
    d = RawWS(server.port)
    assert d.handshake(d0_path('d0"\\', room), None, ORIGIN).status == 101
    welcome = d0_frames(d, lambda f: True)[0]
    listed = {(c["id"], c["name"]) for c in welcome["data"]["room"]["activeClients"]}
    assert {x for x in listed if x[1] != 'd0"\\'} == expect
    assert len(listed) == len(expect) + 1
    for c in members + [last]:
        c.close()
    d.sock.close()
