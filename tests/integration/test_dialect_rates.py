# SPDX-License-Identifier: MIT
"""The send rate (limits.rate, limits.burst) in the seed dialects that publish to rooms, as
docs/dialects.md says each answers it: seed 000 an `error` event, seed 002 a silent drop, seed
001 error 104. A burst of sends faster than the bucket refills must see refusals; the sender
stays connected (rate_close_after is high) and the room goes on."""
import pytest

from confabtest import close_all, uniq
from test_dialect_000 import D0, ORIGIN
from test_dialect_001 import C1, PW, bundle, name, start_001  # noqa: F401 (fixture)
from test_dialect_002 import D2, create

BURST = 6
RATE_CONF = {("limits", "rate"): 1, ("limits", "burst"): 2,
             ("limits", "rate_close_after"): 1000,
             ("dialects", "disposable_origin"): ORIGIN}


@pytest.mark.conf(RATE_CONF)
async def test_000_refused_sends_get_an_error(server):
    room = uniq("r")
    a = await D0.connect(server, "alice", room)
    b = await D0.connect(server, "bobby", room)
    for i in range(BURST):
        await a.send(f"m{i}")
    # Every send is answered: a chat echo or an error, in order.
    await a.wait(lambda f: len(a.chats()) + len(a.errors()) >= BURST, "all answers")
    assert "too many messages, slow down" in a.errors(), a.frames
    assert set(a.errors()) == {"too many messages, slow down"}, a.errors()
    accepted = [c["data"]["text"] for c in a.chats()]
    assert 1 <= len(accepted) < BURST, accepted
    # The other member got exactly the accepted ones, and the room goes on.
    c = await D0.connect(server, "carol", room)
    await c.send("after")
    await b.wait_chat("after")
    assert [x["data"]["text"] for x in b.chats()] == accepted + ["after"]
    await close_all([a, b, c])


@pytest.mark.conf(RATE_CONF)
async def test_002_refused_sends_are_dropped_silently(server):
    room = create(server, "rates")["id"]
    a = await D2.connect(server, "alice", room)
    b = await D2.connect(server, "bobby", room)
    for i in range(BURST):
        await a.ws.send(f"m{i}")
    # A marker from another participant (its own bucket) ends what b can receive of a's.
    c = await D2.connect(server, "carol", room)
    await c.ws.send("marker")
    await b.wait_msg("marker", "carol")
    got = [m["text"] for m in b.msgs() if m["participant"] == "alice"]
    assert 1 <= len(got) < BURST, got
    assert got == [f"m{i}" for i in range(len(got))], got
    # No error events in this protocol: alice saw only messages and joins.
    assert all("text" in f or "event_type" in f for f in a.frames), a.frames
    await close_all([a, b, c])


async def test_001_refused_sends_get_error_104(start_server, bundle):  # noqa: F811
    s, port = start_001(start_server, bundle, RATE_CONF)
    a = await C1.connect(port)
    await a.sign(name())
    await a.join()
    for i in range(BURST):
        await a.say(f"m{i}")
    await a.wait(lambda f: len(a.msgs()) + len([x for x in a.frames if x["type"] == "error"])
                 >= BURST, "all answers")
    errors = [x["error"] for x in a.frames if x["type"] == "error"]
    assert errors and all(e["code"] == 104 for e in errors), errors
    assert 1 <= len(a.msgs()) < BURST
    await close_all([a])
