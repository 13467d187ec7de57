# SPDX-License-Identifier: MIT
"""Bad input: every error code of docs/protocol.md, while another member keeps chatting;
close codes 1009, 1007 and 4029 (rate limit)."""
import asyncio
import json

import pytest

from confabtest import (OP_CONT, OP_TEXT, Client, T, assert_consecutive, assert_error,
                        close_all, raw_session, uniq)

SHARED_CONF = {}  # the base config: limits.max_text 4096, max_name 32, 32 rooms per session


async def duo(server):
    """A misbehaving client `a` and a good one `b` in a fresh room."""
    room = uniq("err")
    a = await Client.connect(server, uniq("bad"))
    b = await Client.connect(server, uniq("good"))
    await a.join(room)
    await b.join(room)
    return a, b, room


async def still_chatting(a, b, room):
    """a's connection is usable and both still exchange messages in room; the room's sequence
    has no hole (a refused command consumed no seq)."""
    p = await a.send_cmd("ping")
    assert p.get("op") == "pong", p
    r1 = await b.send(room, "still here?")
    r2 = await a.send(room, "yes")
    assert r2["seq"] == r1["seq"] + 1
    for c in (a, b):
        await c.wait_msg(room, r2["seq"])
        assert_consecutive(c.msgs(room), first=1)


async def expect_reply(c, text, cid):
    if cid is None:
        await c.send_raw(text)
        return await c.next_noid_reply()
    return await c.request_raw(text, cid)


def J(**kw):
    return json.dumps(kw)


# (id, make(room) -> frame text, expected error code, id the reply must echo or None)
BAD_INPUT = [
    ("truncated_json", lambda r: '{"op":"ping","id":1', "bad_json", None),
    ("trailing_garbage", lambda r: '{"op":"ping"} x', "bad_json", None),
    ("not_json", lambda r: "hello there", "bad_json", None),
    ("empty_frame", lambda r: "", "bad_json", None),
    ("array", lambda r: '[{"op":"ping","id":1}]', "bad_json", None),
    ("string", lambda r: '"ping"', "bad_json", None),
    ("number", lambda r: "42", "bad_json", None),
    ("null", lambda r: "null", "bad_json", None),
    ("missing_op", lambda r: J(id=101), "bad_request", 101),
    ("op_number", lambda r: J(op=5, id=102), "bad_request", 102),
    ("op_null", lambda r: J(op=None, id=103), "bad_request", 103),
    ("op_object", lambda r: J(op={"x": 1}, id=104), "bad_request", 104),
    ("unknown_op", lambda r: J(op="frobnicate", id=105), "unknown_op", 105),
    ("op_wrong_case", lambda r: J(op="PING", id=106), "unknown_op", 106),
    ("id_string", lambda r: J(op="ping", id="7"), "bad_request", None),
    ("id_negative", lambda r: J(op="ping", id=-1), "bad_request", None),
    ("id_fraction", lambda r: J(op="ping", id=1.5), "bad_request", None),
    ("id_2pow53", lambda r: J(op="ping", id=2**53), "bad_request", None),
    ("join_room_missing", lambda r: J(op="join", id=110), "bad_request", 110),
    ("join_room_number", lambda r: J(op="join", id=111, room=5), "bad_request", 111),
    ("join_since_string", lambda r: J(op="join", id=112, room=r + "-x", since="3"),
     "bad_request", 112),
    ("join_since_negative", lambda r: J(op="join", id=113, room=r + "-x", since=-1),
     "bad_request", 113),
    ("join_epoch_string", lambda r: J(op="join", id=114, room=r + "-x", since=1, epoch="e"),
     "bad_request", 114),
    ("send_text_missing", lambda r: J(op="send", id=120, room=r), "bad_request", 120),
    ("send_text_number", lambda r: J(op="send", id=121, room=r, text=5), "bad_request", 121),
    ("send_text_null", lambda r: J(op="send", id=122, room=r, text=None), "bad_request", 122),
    ("send_room_missing", lambda r: J(op="send", id=123, text="x"), "bad_request", 123),
    ("send_nonce_number", lambda r: J(op="send", id=124, room=r, text="x", nonce=5),
     "bad_request", 124),
    ("send_nonce_65_bytes", lambda r: J(op="send", id=125, room=r, text="x", nonce="n" * 65),
     "bad_request", 125),
    ("history_limit_string", lambda r: J(op="history", id=130, room=r, limit="5"),
     "bad_request", 130),
    ("history_before_string", lambda r: J(op="history", id=131, room=r, before="x"),
     "bad_request", 131),
    ("history_limit_negative", lambda r: J(op="history", id=132, room=r, limit=-1),
     "bad_request", 132),
    ("leave_room_list", lambda r: J(op="leave", id=140, room=[r]), "bad_request", 140),
    ("presence_room_missing", lambda r: J(op="presence", id=141), "bad_request", 141),
    ("text_empty", lambda r: J(op="send", id=150, room=r, text=""), "text_too_long", 150),
    ("text_4097_bytes", lambda r: J(op="send", id=151, room=r, text="x" * 4097),
     "text_too_long", 151),
    ("text_4098_utf8_bytes", lambda r: J(op="send", id=152, room=r, text="\u00e9" * 2049),
     "text_too_long", 152),
    ("send_not_joined", lambda r: J(op="send", id=160, room=r + "-other", text="x"),
     "not_joined", 160),
    ("leave_not_joined", lambda r: J(op="leave", id=161, room=r + "-other"), "not_joined", 161),
    ("history_not_joined", lambda r: J(op="history", id=162, room=r + "-other"),
     "not_joined", 162),
    ("presence_not_joined", lambda r: J(op="presence", id=163, room=r + "-other"),
     "not_joined", 163),
    ("already_joined", lambda r: J(op="join", id=170, room=r), "already_joined", 170),
]


@pytest.mark.parametrize("make,code,cid", [p[1:] for p in BAD_INPUT],
                         ids=[p[0] for p in BAD_INPUT])
async def test_bad_input_gets_error_and_chat_goes_on(shared_server, make, code, cid):
    a, b, room = await duo(shared_server)
    await still_chatting(a, b, room)
    reply = await expect_reply(a, make(room), cid)
    assert_error(reply, code, cid)
    if cid is None and "id" in reply:
        # An id that is not a valid id cannot be echoed as one.
        assert reply["id"] is None or isinstance(reply["id"], int), reply
    await still_chatting(a, b, room)
    assert not a.closed
    await close_all([a, b])


BAD_ROOMS = [
    ("empty", ""),
    ("65_bytes", "r" * 65),
    ("65_utf8_bytes", "\u00e9" * 32 + "r"),
    ("ctrl_01", "a\x01b"),
    ("newline", "a\nb"),
    ("tab", "a\tb"),
    ("ctrl_1f", "a\x1fb"),
    ("del_7f", "a\x7fb"),
    ("c1_85", "a\u0085b"),
]


@pytest.mark.parametrize("name", [p[1] for p in BAD_ROOMS], ids=[p[0] for p in BAD_ROOMS])
async def test_bad_room_name(shared_server, name):
    a, b, room = await duo(shared_server)
    reply = await a.send_cmd("join", room=name)
    assert_error(reply, "room_name_invalid", reply["id"])
    await still_chatting(a, b, room)
    await close_all([a, b])


GOOD_ROOMS = ["r" * 64, "\u00e9" * 32, "with space", "emoji \U0001F389", "a/b?c#d%e", "x"]


async def test_room_name_limits_accepted(shared_server):
    a = await Client.connect(shared_server, uniq("u"))
    b = await Client.connect(shared_server, uniq("u"))
    for name in GOOD_ROOMS:
        await a.join(name)
        await b.join(name)
        r = await a.send(name, f"in {name}")
        assert (await b.wait_msg(name, r["seq"]))["room"] == name
    await close_all([a, b])


BAD_NAMES = [
    ("empty", ""),
    ("33_bytes", "n" * 33),
    ("33_utf8_bytes", "\u00e9" * 16 + "n"),
    ("leading_space", " alice"),
    ("trailing_space", "alice "),
    ("ctrl_01", "a\x01b"),
    ("tab", "a\tb"),
    ("newline", "a\nb"),
    ("del_7f", "a\x7fb"),
    ("c1_80", "a\u0080b"),
    ("c1_9f", "a\u009fb"),
]


@pytest.mark.parametrize("name", [p[1] for p in BAD_NAMES], ids=[p[0] for p in BAD_NAMES])
async def test_bad_user_name(shared_server, name):
    room = uniq("names")
    b = await Client.connect(shared_server, uniq("good"))
    await b.join(room)
    a = await Client.connect(shared_server, hello=False)
    reply = await a.send_cmd("hello", name=name)
    assert_error(reply, "user_name_invalid", reply["id"])
    # The failed hello changed nothing: a hello is still allowed.
    good = uniq("fixed")
    h = await a.ok("hello", name=good)
    assert h["user"]["name"] == good
    await a.join(room)
    r = await a.send(room, "named now")
    e = await b.wait_msg(room, r["seq"])
    assert e["from"] == {"id": f"guest:{good}", "name": good}
    await close_all([a, b])


async def test_user_name_wrong_type(shared_server):
    a = await Client.connect(shared_server, hello=False)
    assert_error(await a.send_cmd("hello", name=42), "bad_request")
    assert (await a.ok("hello", name="typed"))["user"]["name"] == "typed"
    await close_all([a])


@pytest.mark.parametrize("name", ["n" * 32, "\u00e9" * 16, "a b", "\u00fcn\u00efc\u00f8d\u00e9",
                                  "x"])
async def test_user_name_limits_accepted(shared_server, name):
    a = await Client.connect(shared_server, hello=False)
    h = await a.ok("hello", name=name)
    assert h["user"] == {"id": f"guest:{name}", "name": name}
    await close_all([a])


async def test_text_limits_accepted(shared_server):
    a, b, room = await duo(shared_server)
    for text in ("x" * 4096, "\u00e9" * 2048, "y"):
        r = await a.send(room, text)
        assert (await b.wait_msg(room, r["seq"]))["text"] == text
    await close_all([a, b])


async def test_binary_frame_is_bad_request(shared_server):
    a, b, room = await duo(shared_server)
    await a.send_raw(b'{"op":"ping"}')
    reply = await a.next_noid_reply()
    assert_error(reply, "bad_request")
    await still_chatting(a, b, room)
    await close_all([a, b])


async def test_already_joined_keeps_membership(shared_server):
    a, b, room = await duo(shared_server)
    await a.err("join", "already_joined", room=room)
    await still_chatting(a, b, room)
    p = await b.ok("presence", room=room)
    assert a.id in [m["id"] for m in p["members"]]
    await close_all([a, b])


async def test_bad_state_hello_after_join(shared_server):
    a, b, room = await duo(shared_server)
    await a.err("hello", "bad_state", name=uniq("again"))
    await still_chatting(a, b, room)
    e = a.msgs(room)[-1]
    assert e["from"]["id"] == a.id  # the name did not change
    await close_all([a, b])


async def test_too_many_rooms(shared_server):
    a, b, room = await duo(shared_server)  # a is in 1 room
    rooms = [uniq("many") for _ in range(31)]
    for r in rooms:
        await a.join(r)
    extra = uniq("one-too-many")
    await a.err("join", "too_many_rooms", room=extra)
    await a.err("send", "not_joined", room=extra, text="x")
    await still_chatting(a, b, room)
    await a.ok("leave", room=rooms[0])
    await a.join(extra)
    await close_all([a, b])


@pytest.mark.conf({("rooms", "max_rooms"): 3})
async def test_room_limit(server):
    a, b, room = await duo(server)  # room 1
    await a.join("second")
    await a.join("third")
    await b.err("join", "room_limit", room="fourth")
    await still_chatting(a, b, room)
    await b.join("third")  # existing rooms can still be joined
    await close_all([a, b])


# --------------------------------------------------------------------------------------------
# close codes

async def test_frame_at_max_frame_is_accepted_one_more_closes_1009(shared_server):
    a, b, room = await duo(shared_server)
    base = '{"op":"ping","id":9,"pad":""}'

    def frame(total):
        return base[:-2] + "x" * (total - len(base)) + '"}'
    f = frame(65536)
    assert len(f.encode()) == 65536
    r = await a.request_raw(f, 9)
    assert r.get("op") == "pong", r
    await a.send_raw(frame(65537))
    assert await a.wait_closed() == 1009
    await b.wait_event(lambda e: e.get("ev") == "leave" and e["user"]["id"] == a.id)
    r = await b.send(room, "b is fine")
    await b.wait_msg(room, r["seq"])
    await close_all([a, b])


@pytest.mark.parametrize("size", [70000, 300000])
async def test_large_frame_closes_1009(shared_server, size):
    """The client must see the 1009 close frame, even if the server did not read the whole
    frame (closing with unread input makes the kernel send RST, which destroys it)."""
    room = uniq("big")
    w = raw_session(shared_server, room)
    try:
        w.send_text(json.dumps({"op": "ping", "id": 8, "pad": "b" * size}))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading early; what it sent before must still arrive
    objs, how = w.read_until_close(T(10))
    assert how == ("close", 1009), how
    w.close()


async def test_fragmented_message_reassembled_and_bounded(shared_server):
    room = uniq("frag")
    w = raw_session(shared_server, room)
    # Under the limit: three fragments make one command.
    msg = json.dumps({"op": "ping", "id": 3, "pad": "y" * 20000})
    third = len(msg) // 3
    w.send_frame(OP_TEXT, msg[:third], fin=False)
    w.send_frame(OP_CONT, msg[third:2 * third], fin=False)
    w.send_frame(OP_CONT, msg[2 * third:], fin=True)
    objs = []
    while not any(o.get("id") == 3 for o in objs):
        got = w.recv_objs()
        assert got is not None, f"closed with {w.close_code}"
        objs += got
    assert [o for o in objs if o.get("id") == 3][0].get("op") == "pong"
    # Over the limit only after reassembly: every fragment is small.
    big = json.dumps({"op": "ping", "id": 4, "pad": "z" * 90000})
    parts = [big[i:i + 30000] for i in range(0, len(big), 30000)]
    for i, p in enumerate(parts):
        w.send_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=(i == len(parts) - 1))
    objs, how = w.read_until_close(T(10))
    assert how == ("close", 1009), (how, objs[-3:])
    assert not any(o.get("id") == 4 for o in objs)
    w.close()


async def test_invalid_utf8_closes_1007(shared_server):
    room = uniq("utf8")
    b = await Client.connect(shared_server, uniq("good"))
    await b.join(room)
    w = raw_session(shared_server, room)
    w.send_frame(OP_TEXT, b'{"op":"send","id":5,"room":"' + room.encode() +
                 b'","text":"bad \xff\xfe here"}')
    objs, how = w.read_until_close(T(10))
    assert how == ("close", 1007), (how, objs[-3:])
    assert not any(o.get("id") == 5 for o in objs), objs
    r = await b.send(room, "after the bad client")
    e = await b.wait_msg(room, r["seq"])
    assert e["text"] == "after the bad client"
    assert_consecutive(b.msgs(room), first=1)  # the invalid text was never sent
    await close_all([b])


@pytest.mark.parametrize("case", ["1009", "1007"])
async def test_protocol_close_has_code_and_no_bye(shared_server, case):
    """docs: closes for a protocol reason come without a bye; the close frame says why."""
    w = raw_session(shared_server, uniq("bye"))
    if case == "1009":
        w.send_text(json.dumps({"op": "ping", "id": 6, "pad": "q" * 70000}))
    else:
        w.send_frame(OP_TEXT, b'{"op":"ping","id":6,"x":"\xc3\x28"}')
    objs, how = w.read_until_close(T(10))
    assert how == ("close", int(case)), how
    assert not [o for o in objs if o.get("ev") == "bye"], objs
    w.close()


# --------------------------------------------------------------------------------------------
# rate limit

RATE_CONF = {("limits", "rate"): 1, ("limits", "burst"): 3, ("limits", "rate_close_after"): 5}


@pytest.mark.conf(RATE_CONF)
async def test_rate_limit_then_close_4029(server):
    a, b, room = await duo(server)
    before = server.metric("confab_rate_limited_total", 0.0)
    futs = [await a.start_cmd("send", room=room, text=f"spam {i}") for i in range(15)]
    results = []
    for f in futs:
        try:
            results.append(await asyncio.wait_for(f, T(10)))
        except Exception as e:  # the connection was closed: no more replies
            results.append(e)
    replies = [r for r in results if isinstance(r, dict)]
    ok = [r for r in replies if "error" not in r]
    refused = [r for r in replies if "error" in r]
    assert len(ok) == 3, replies  # limits.burst
    assert replies[:3] == ok, replies
    for r in refused:
        assert_error(r, "rate_limited", r["id"])
    # Closed after rate_close_after refused sends in a row, not later.
    assert 4 <= len(refused) <= 5, replies
    assert len(replies) < len(futs), "connection was never closed"
    assert await a.wait_closed() == 4029
    assert server.metric("confab_rate_limited_total", 0.0) - before >= len(refused)
    # b is unaffected and saw exactly a's three accepted messages.
    r = await b.send(room, "b still talks")
    await b.wait_msg(room, r["seq"])
    assert [m["text"] for m in b.msgs(room) if m["from"]["id"] == a.id] == \
        ["spam 0", "spam 1", "spam 2"]
    assert_consecutive(b.msgs(room), first=1)
    await close_all([a, b])


@pytest.mark.conf(RATE_CONF)
async def test_close_4029_after_queued_replies(server):
    """The refusals queued before the close are delivered; no bye (a protocol close)."""
    a, b, room = await duo(server)
    for i in range(12):
        await a.send_json({"op": "send", "room": room, "text": f"s{i}"})
    assert await a.wait_closed() == 4029
    assert not a.evs("bye"), a.objs[-3:]
    refused = [o for o in a.objs if o.get("error", {}).get("code") == "rate_limited"]
    assert len(refused) == 4, a.objs  # rate_close_after - 1 replies, the 5th refusal closes
    await close_all([a, b])


@pytest.mark.conf({("limits", "rate"): 2, ("limits", "burst"): 2,
                   ("limits", "rate_close_after"): 20})
async def test_rate_limit_bucket_refills(server):
    a, b, room = await duo(server)
    await a.send(room, "one")
    await a.send(room, "two")
    await a.err("send", "rate_limited", room=room, text="three")
    # The bucket refills at limits.rate per second: poll (bounded) until a send is accepted.
    for _ in range(int(T(15))):
        r = await a.send_cmd("send", room=room, text="three")
        if "error" not in r:
            break
        assert_error(r, "rate_limited", r["id"])
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the token bucket never refilled")
    await b.wait_msg(room, r["seq"])
    assert not a.closed
    await close_all([a, b])
