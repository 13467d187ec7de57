# SPDX-License-Identifier: MIT
"""Edit and delete (docs/protocol.md "edit", "delete"): corrections ordered in the room's log,
seen live by the members, folded into the history a join, `history`, a resume and the REST API
give, who may correct what and for how long, the answers a hostile client gets, seed clients
that are shown nothing, and all of it across two nodes."""
from confabtest import T, Client, assert_bystander_unaffected, close_all, uniq
from test_dialect_000 import D0, SHARED_CONF as D0_CONF
from test_rules import account, err, guest_, ok, two_nodes, wait_ev


def evs(c, room, ev):
    return [e for e in c.events if e.get("ev") == ev and e.get("room") == room]


def by_seq(history):
    return {e["seq"]: e for e in history}


def assert_corrected(history, kept, edit, deleted, text):
    """history shows message kept with text and "edited", no message deleted, and both fixes
    as events."""
    h = by_seq(history)
    assert h[kept]["ev"] == "msg" and h[kept]["text"] == text and "edited" in h[kept], history
    assert deleted not in h, history
    assert h[edit["seq"]]["ev"] == "edit" and h[edit["seq"]]["ref"] == kept, history
    assert [e for e in history if e["ev"] == "delete" and e["ref"] == deleted], history


async def test_edit_and_delete_reach_members_and_history(server):
    alice, bob = await account(server), await account(server)
    room = uniq("r")
    for c in (alice, bob):
        await c.join(room)
    m1 = await alice.send(room, "helo")
    m2 = await alice.send(room, "oops")
    ed = await ok(alice, "edit", room=room, seq=m1["seq"], text="hello")
    assert ed["seq"] == m2["seq"] + 1 and ed["room"] == room, ed
    dl = await ok(alice, "delete", room=room, seq=m2["seq"])
    assert dl["seq"] == ed["seq"] + 1, dl
    e = await wait_ev(bob, lambda e: evs(bob, room, "delete"), "delete event")
    e = evs(bob, room, "edit")[0]
    assert e["ref"] == m1["seq"] and e["text"] == "hello" and e["seq"] == ed["seq"], e
    assert e["from"]["id"] == alice.uid, e
    d = evs(bob, room, "delete")[0]
    assert d["ref"] == m2["seq"] and "text" not in d, d
    # The corrected view: a new member's join, the history command, a resume and REST.
    carl = await account(server)
    j = await carl.join(room)
    assert_corrected(j["history"], m1["seq"], ed, m2["seq"], "hello")
    h = await ok(carl, "history", room=room)
    assert_corrected(h["messages"], m1["seq"], ed, m2["seq"], "hello")
    r = server.get(f"/api/v1/rooms/{room}/history")
    assert r.status_code == 200, r.text
    assert_corrected(r.json()["messages"], m1["seq"], ed, m2["seq"], "hello")
    await ok(bob, "leave", room=room)
    j = await bob.join(room, since=m2["seq"], epoch=j["epoch"])
    assert [x["ev"] for x in j["history"]] == ["edit", "delete"] and not j["gap"], j
    # A page of history counts what it shows: one message before the delete is the edited one.
    h = await ok(carl, "history", room=room, before=ed["seq"], limit=1)
    assert [x["seq"] for x in h["messages"]] == [m1["seq"]], h
    # Corrected once only: a deleted message cannot be edited or deleted again.
    await err(alice, "not_found", "edit", room=room, seq=m2["seq"], text="x")
    await err(alice, "not_found", "delete", room=room, seq=m2["seq"])
    await close_all([alice, bob, carl])


async def test_who_may_correct_what(start_server):
    server = start_server({("rooms", "edit_window"): 0})
    owner, mod, carol = await account(server), await account(server), await account(server)
    room = uniq("r")
    await ok(owner, "create", room=room)
    for c in (owner, mod, carol):
        await c.join(room)
    await ok(owner, "role", room=room, user=mod.uid, role="moderator")
    m = await carol.send(room, "spam")
    # edit_window 0: authors correct nothing; a moderator still deletes any message.
    await err(carol, "edit_window", "edit", room=room, seq=m["seq"], text="x")
    await err(carol, "edit_window", "delete", room=room, seq=m["seq"])
    await err(mod, "forbidden", "edit", room=room, seq=m["seq"], text="ham")
    d = await ok(mod, "delete", room=room, seq=m["seq"])
    ev = await wait_ev(carol, lambda e: evs(carol, room, "delete"), "moderator's delete")
    assert evs(carol, room, "delete")[0]["from"]["id"] == mod.uid, ev
    # Only the fix's own seq is taken: it is no message to correct.
    await err(owner, "not_found", "delete", room=room, seq=d["seq"])
    await err(owner, "not_found", "delete", room=room, seq=d["seq"] + 100)
    await close_all([owner, mod, carol])


async def test_other_users_and_guests_correct_nothing(server):
    alice, bob = await account(server), await account(server)
    guest = await guest_(server)
    room = uniq("r")
    for c in (alice, bob, guest):
        await c.join(room)
    m = await alice.send(room, "mine")
    g = await guest.send(room, "a guest's")
    # An open room without rules has no moderators: only the author corrects.
    await err(bob, "forbidden", "edit", room=room, seq=m["seq"], text="yours")
    await err(bob, "forbidden", "delete", room=room, seq=m["seq"])
    # A guest's name passes to its next holder: guests correct nothing, not even their own.
    await err(guest, "auth_required", "edit", room=room, seq=g["seq"], text="x")
    await err(guest, "auth_required", "delete", room=room, seq=m["seq"])
    h = await ok(bob, "history", room=room)
    assert [x["text"] for x in h["messages"]] == ["mine", "a guest's"], h
    await close_all([alice, bob, guest])


async def test_hostile_corrections_get_defined_errors(start_server):
    server = start_server({("limits", "rate"): 1, ("limits", "burst"): 5})
    mallory = await account(server)
    room = uniq("r")
    await mallory.join(room)
    m = await mallory.send(room, "x")
    for kw, code in [({}, "bad_request"), ({"seq": "1"}, "bad_request"),
                     ({"seq": -1}, "bad_request"), ({"seq": 2**60}, "bad_request"),
                     ({"seq": m["seq"], "text": ""}, "text_too_long"),
                     ({"seq": m["seq"], "text": "y" * 5000}, "text_too_long"),
                     ({"seq": m["seq"], "text": 5}, "bad_request"),
                     ({"seq": m["seq"]}, "bad_request")]:
        await err(mallory, code, "edit", room=room, **kw)
    await err(mallory, "not_joined", "edit", room=uniq("x"), seq=1, text="y")
    await err(mallory, "bad_request", "delete", room=room)
    # Corrections cost send tokens: a flood is rate limited, and answered.
    codes = set()
    for i in range(10):
        r = await mallory.send_cmd("edit", room=room, seq=m["seq"], text=f"v{i}", timeout=T(20))
        codes.add(r.get("error", {}).get("code", r.get("op")))
    assert "rate_limited" in codes and codes <= {"edit", "rate_limited"}, codes
    await assert_bystander_unaffected(server)
    await close_all([mallory])


async def test_seed_clients_are_shown_the_corrected_history_only(start_server):
    server = start_server(D0_CONF)
    alice = await account(server)
    room = uniq("seed")[:20].replace(":", "-")
    await alice.join(room)
    v = await D0.connect(server, "visitor", room)
    m = await alice.send(room, "first")
    await ok(alice, "edit", room=room, seq=m["seq"], text="first, edited")
    await ok(alice, "delete", room=room, seq=m["seq"])
    await alice.send(room, "after")
    await v.wait_chat("after")
    # Seed 000 has no way to show a correction: its client gets the messages only.
    assert [f["data"]["text"] for f in v.chats()] == ["first", "after"], v.frames
    await close_all([alice])


async def test_two_nodes_corrections_everywhere(start_server, redis):
    n0, n1 = await two_nodes(start_server, redis)
    alice, bob = await account(n0), await account(n1)
    room = uniq("r")
    await alice.join(room)
    await bob.join(room)
    m1 = await alice.send(room, "helo")
    m2 = await alice.send(room, "oops")
    ed = await ok(alice, "edit", room=room, seq=m1["seq"], text="hello")
    await ok(alice, "delete", room=room, seq=m2["seq"])
    await wait_ev(bob, lambda e: evs(bob, room, "delete"), "delete on the other node")
    assert evs(bob, room, "edit")[0]["text"] == "hello"
    # The other node holds the corrected history: a message after it is delivered in order.
    after = await bob.send(room, "after")
    await alice.wait_msg(room, after["seq"])
    # A node that did not follow the room reads the log from Redis and folds it the same way.
    room2 = uniq("r")
    await alice.join(room2)
    a1 = await alice.send(room2, "helo")
    a2 = await alice.send(room2, "oops")
    ed2 = await ok(alice, "edit", room=room2, seq=a1["seq"], text="hello")
    await ok(alice, "delete", room=room2, seq=a2["seq"])
    # REST on n1 from Redis: a page older than the fixes is corrected by them too.
    r = n1.get(f"/api/v1/rooms/{room2}/history", params={"before": ed2["seq"]})
    assert r.status_code == 200, r.text
    assert [(x["seq"], x["text"], "edited" in x) for x in r.json()["messages"]] == \
        [(a1["seq"], "hello", True)], r.json()
    r = n1.get(f"/api/v1/rooms/{room2}/history")
    assert_corrected(r.json()["messages"], a1["seq"], ed2, a2["seq"], "hello")
    carl = await account(n1)
    j = await carl.join(room2)
    assert_corrected(j["history"], a1["seq"], ed2, a2["seq"], "hello")
    # Corrections are checked on the node that takes them: bob's edit of alice's message.
    await carl.send(room2, "carl's")
    await err(carl, "forbidden", "edit", room=room2, seq=a1["seq"], text="mine now")
    await close_all([alice, bob, carl])


async def test_two_nodes_an_ack_means_the_node_holds_the_message(start_server, redis):
    """Redis's reply to a publish and the message itself reach a node on two links, in either
    order: the sender's next command on the same node (read up to it, edit it, read the
    history) must find the message its ack named, as standalone."""
    n0, n1 = await two_nodes(start_server, redis)
    alice, bob = await account(n0), await account(n1)
    room = uniq("r")
    await alice.join(room)
    await bob.join(room)  # the room is followed on both nodes, with traffic from the other
    for i in range(40):
        if i % 4 == 0:
            await bob.send(room, f"from n1 {i}")
        s = await alice.send(room, f"m{i}")
        op = ("read", "edit", "history")[i % 3]
        if op == "read":
            await ok(alice, "read", room=room, seq=s["seq"])
        elif op == "edit":
            await ok(alice, "edit", room=room, seq=s["seq"], text=f"m{i}!")
        else:
            h = await ok(alice, "history", room=room, limit=1)
            assert h["messages"][-1]["seq"] >= s["seq"], (s, h)
    await close_all([alice, bob])
