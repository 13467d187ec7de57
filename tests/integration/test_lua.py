# SPDX-License-Identifier: MIT
"""The Redis scripts of src/bus/redis/lua, each EVALed as it is on a real redis-server with
representative KEYS and ARGV: their replies and their effects on the keys and channels (docs/architecture.md
"Cluster mode"). And that what confabd loads is those files byte for byte (they are embedded at
build time by src/bus/redis/lua/embed.cmake)."""
import hashlib
import json
import os
import socket

from confabtest import T, _resp_encode, _RespReader, poll_until_sync, redis_call
from test_cluster import node_conf

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "bus", "redis",
                   "lua")
P = "t:"  # the key prefix, as redis.prefix would give it


def script(name):
    with open(os.path.join(LUA, name + ".lua"), encoding="utf-8") as f:
        return f.read()


def ev(redis, name, keys, *argv):
    r = redis.call("EVAL", script(name), len(keys), *keys, *argv)
    assert not isinstance(r, Exception), f"{name}.lua: {r}"
    return r


class Sub:
    """A connection subscribed to one channel: PUBLISH counts it as one receiver."""

    def __init__(self, redis, channel):
        self.redis, self.channel = redis, channel
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=T(5))
        self.r = _RespReader(self.sock)
        self.sock.sendall(_resp_encode(["SUBSCRIBE", channel]))
        assert self.r.read() == ["subscribe", channel, 1]

    def get(self):
        m = self.r.read()
        assert m[:2] == ["message", self.channel], m
        return m[2]

    def nothing_more(self):
        """Nothing was published on the channel since the last get(): a marker comes next."""
        assert redis_call(self.redis.port, "PUBLISH", self.channel, "marker") == 1
        assert self.get() == "marker"

    def close(self):
        self.sock.close()


def hgetall(redis, key):
    v = redis.call("HGETALL", key)
    return dict(zip(v[::2], v[1::2]))


def inbox(redis, key):
    return [json.loads(e) for e in redis.call("LRANGE", key, 0, -1)]


def dm(i, text="hi"):
    return json.dumps({"to": "bob", "u": "alice", "n": "Alice", "x": text, "t": "1000", "i": i})


def test_publish_orders_logs_and_dedups(redis):
    meta, log, nonce, ch = P + "meta:r", P + "log:r", P + "nonce:r\x1falice\x1fn1", P + "room:r"
    sub = Sub(redis, ch)
    args = [ch, "alice", "Alice", "hello", "n1", "100", "60", "77", "r"]
    seq, epoch, ts, dup = ev(redis, "publish", [meta, log, nonce], *args)
    assert (seq, epoch, dup) == ("1", "77", 0) and int(ts) > 0
    assert hgetall(redis, meta) == {"epoch": "77", "seq": "1"}
    m = json.loads(sub.get())
    assert m == {"r": "r", "s": "1", "e": "77", "t": ts, "u": "alice", "n": "Alice", "x": "hello",
                 "k": "n1"}
    (eid, (field, logged)), = redis.call("XRANGE", log, "-", "+")
    assert (eid, field, json.loads(logged)) == ("1-0", "m", m)
    assert redis.call("GET", nonce) == "77:1" and 0 < redis.call("TTL", nonce) <= 60
    assert 0 < redis.call("TTL", meta) <= 60 and 0 < redis.call("TTL", log) <= 60
    # The same nonce again: the earlier seq, nothing ordered, published or logged.
    assert ev(redis, "publish", [meta, log, nonce], *args) == ["1", "77", "0", 1]
    sub.nothing_more()
    # Without a nonce: the next seq, in the same epoch (the new-epoch argument is unused).
    args2 = [ch, "alice", "Alice", "again", "", "100", "60", "88", "r"]
    assert ev(redis, "publish", [meta, log, P + "nonce:x"], *args2)[:2] == ["2", "77"]
    assert json.loads(sub.get())["s"] == "2"
    assert redis.call("EXISTS", P + "nonce:x") == 0
    # The room's keys lost (a Redis that lost its data): a new epoch, seq from 1, an empty log.
    redis.call("DEL", meta)
    assert ev(redis, "publish", [meta, log, P + "nonce:x"], *args2)[:2] == ["1", "88"]
    assert [e[0] for e in redis.call("XRANGE", log, "-", "+")] == ["1-0"]
    sub.close()


def publish(redis, room, text, epoch="5", kind="", ref="0"):
    keys = [P + "meta:" + room, P + "log:" + room, P + "nonce:none"]
    return ev(redis, "publish", keys, P + "room:" + room, "u", "U", text, "", "100", "60", epoch,
              room, kind, ref)


def test_corrections_are_logged_and_history_brings_the_newer_ones(redis):
    for text in ("a", "b", "c"):
        publish(redis, "x", text)
    publish(redis, "x", "A", kind="e", ref="1")
    publish(redis, "x", "", kind="d", ref="2")
    publish(redis, "x", 'a "f":"e" look-alike')
    keys = [P + "meta:x", P + "log:x"]
    ents = redis.call("XRANGE", P + "log:x", "-", "+")
    logged = [json.loads(e[1][1]) for e in ents]
    assert [(m.get("f"), m.get("o")) for m in logged] == [(None, None)] * 3 + [("e", "1"),
                                                                            ("d", "2"),
                                                                            (None, None)]
    # A page older than the corrections comes with them, oldest first; the newest page has none.
    e, seq, page, prev, base, fixes = ev(redis, "history", keys, "3-0", "2")
    assert [x[0] for x in page] == ["3-0", "2-0"], page
    assert [x[0] for x in fixes] == ["4-0", "5-0"], fixes
    assert ev(redis, "history", keys, "+", "2")[5] == []


def test_fetch_reads_after_a_seq_with_presence(redis):
    for text in ("a", "b", "c"):
        publish(redis, "f", text)
    redis.call("HSET", P + "presence:f", "n2\x1fbob", "Bob")
    redis.call("HSET", P + "rules:f", "v", "3", "j", '{"v":3}')
    keys = [P + "meta:f", P + "log:f", P + "presence:f", P + "rules:f"]
    # No epoch in the mirror: the newest count entries, newest first; the room's rules.
    e, seq, ents, pres, upto, prev, base, rules = ev(redis, "fetch", keys, "-1", "2", "9", "60",
                                                     "1")
    assert rules == '{"v":3}'
    assert (e, seq, prev, base, upto) == ("5", "3", None, None, [])
    assert [x[0] for x in ents] == ["3-0", "2-0"]
    assert pres == ["n2\x1fbob", "Bob"]
    # After seq 1, with 1 entry up to it to compare: oldest first, and entry 1 itself.
    e, seq, ents, pres, upto, prev, base, _ = ev(redis, "fetch", keys, "1", "10", "9", "60", "1")
    assert [x[0] for x in ents] == ["2-0", "3-0"] and [x[0] for x in upto] == ["1-0"]
    assert json.loads(ents[0][1][1])["x"] == "b"
    # A room Redis does not know: the new epoch is created, seq 0.
    keys = [P + "meta:g", P + "log:g", P + "presence:g", P + "rules:g"]
    assert ev(redis, "fetch", keys, "-1", "10", "9", "60", "1") == ["9", "0", [], [], [], None,
                                                                     None, None]
    assert hgetall(redis, P + "meta:g") == {"epoch": "9", "seq": "0"}
    assert 0 < redis.call("TTL", P + "meta:g") <= 60


def test_rules_written_only_on_the_version_read_and_bounded(redis):
    def keys(room, creator="alice"):
        return [P + "rules:" + room, P + "ruled", P + "created:" + creator, P + "meta:" + room,
                P + "presence:" + room, P + "log:" + room]

    def put(room, read, new, j, mode="change", max_ruled="3", max_created="2", creator="alice"):
        return ev(redis, "rules", keys(room, creator), read, new, j, P + "room:" + room,
                  '{"q":1}', room, mode, max_ruled, max_created)

    sub = Sub(redis, P + "room:a")
    assert put("a", "0", "1", '{"v":1}', "create") == "ok"
    assert sub.get() == '{"q":1}'
    assert hgetall(redis, P + "rules:a") == {"v": "1", "j": '{"v":1}'}
    assert redis.call("SMEMBERS", P + "created:alice") == ["a"]
    # Created once; a change must name the version it read.
    assert put("a", "0", "1", '{"v":1}', "create") == "exists"
    assert put("a", "0", "2", '{"v":2}') == "conflict"
    assert put("a", "1", "2", '{"v":2}') == "ok"
    assert put("a", "1", "3", '{"v":3}') == "conflict"
    assert hgetall(redis, P + "rules:a")["v"] == "2"
    # A kick (no rules) writes nothing and is published.
    assert put("a", "2", "2", "") == "ok"
    assert hgetall(redis, P + "rules:a")["v"] == "2"
    # Not over a room with history or members; bounded per creator and in all.
    redis.call("HSET", P + "meta:b", "epoch", "1", "seq", "0")
    assert put("b", "0", "1", '{"v":1}', "create") == "exists"
    redis.call("HSET", P + "presence:c", "n\x1fu", "U")
    assert put("c", "0", "1", '{"v":1}', "create") == "exists"
    assert put("d", "0", "1", '{"v":1}', "create") == "ok"
    assert put("e", "0", "1", '{"v":1}', "create") == "quota"
    assert put("e", "0", "1", '{"v":1}', "create", creator="bob") == "ok"
    assert put("f", "0", "1", '{"v":1}', "create", creator="carl") == "full"
    # A close names the version it read; it takes the rules, the history, the directory entry
    # and the creator's count, and is published.
    redis.call("HSET", P + "meta:a", "epoch", "1", "seq", "3")
    redis.call("XADD", P + "log:a", "1-0", "m", "x")
    assert put("a", "1", "0", "", "close") == "conflict"
    assert put("a", "2", "0", "", "close") == "ok"
    assert sub.get() == '{"q":1}'
    for k in ("rules:a", "meta:a", "log:a"):
        assert redis.call("EXISTS", P + k) == 0, k
    assert "a" not in redis.call("ZRANGE", P + "ruled", "0", "-1")
    assert redis.call("SMEMBERS", P + "created:alice") == ["d"]
    assert put("a", "0", "1", '{"v":1}', "create") == "ok"
    # A room without rules closes too (its history goes), with no creator's set to touch.
    redis.call("HSET", P + "meta:plain", "epoch", "1", "seq", "1")
    k = keys("plain")
    k[2] = k[1]
    assert ev(redis, "rules", k, "0", "0", "", P + "room:plain", '{"q":1}', "plain", "close",
              "3", "2") == "ok"
    assert redis.call("EXISTS", P + "meta:plain") == 0
    assert redis.call("ZCARD", P + "ruled") == 3
    sub.close()


def test_directory_pages_in_name_order(redis):
    for name in ("d-a", "d-b", "d-c", "e-a"):
        redis.call("ZADD", P + "ruled", "0", name)
        redis.call("HSET", P + "rules:" + name, "j", '{"v":1,"kind":"open"}')
    redis.call("HSET", P + "presence:d-b", "n\x1fu", "U")
    rows, more = ev(redis, "directory", [P + "ruled"], "d-", "", "2", P)
    assert [r[0] for r in rows] == ["d-a", "d-b"] and more == 1, rows
    assert rows[1] == ["d-b", '{"v":1,"kind":"open"}', 1], rows
    rows, more = ev(redis, "directory", [P + "ruled"], "d-", "d-b", "2", P)
    assert [r[0] for r in rows] == ["d-c"] and more == 0, rows
    redis.call("DEL", P + "rules:d-c")
    rows, _ = ev(redis, "directory", [P + "ruled"], "d-", "d-b", "2", P)
    assert rows == [["d-c", None, 0]], rows


def test_readset_raises_only_and_forgets_the_oldest(redis):
    keys = [P + "read:al", P + "readt:al"]
    sub = Sub(redis, P + "user:al")
    assert ev(redis, "readset", keys, "r1", "5", "2", P + "user:al", "m1") == ["5", 1]
    assert sub.get() == "m1"
    assert ev(redis, "readset", keys, "r1", "3", "2", P + "user:al", "m2") == ["5", 0]
    sub.nothing_more()
    assert ev(redis, "readset", keys, "r2", "1", "2", P + "user:al", "m3") == ["1", 1]
    assert sub.get() == "m3"
    assert ev(redis, "readset", keys, "r3", "9", "2", P + "user:al", "m4") == ["9", 1]
    assert sub.get() == "m4"
    assert hgetall(redis, P + "read:al") == {"r2": "1", "r3": "9"}
    sub.close()


def test_newepoch_replaces_only_the_epoch_seen_and_history_reads_it(redis):
    for text in ("a", "b", "c"):
        publish(redis, "h", text)
    keys = [P + "meta:h", P + "log:h"]
    e, seq, ents, prev, base, fixes = ev(redis, "history", keys, "+", "2")
    assert (e, seq, prev, base) == ("5", "3", None, None)
    assert [x[0] for x in ents] == ["3-0", "2-0"]
    assert [x[0] for x in ev(redis, "history", keys, "1-0", "5")[2]] == ["1-0"]
    # Another node saw epoch 4: nothing changes.
    assert ev(redis, "newepoch", [P + "meta:h"], "4", "6", "1") == 1
    assert hgetall(redis, P + "meta:h") == {"epoch": "5", "seq": "3"}
    # The epoch seen is current: replaced, continuing 5 after seq 2.
    assert ev(redis, "newepoch", [P + "meta:h"], "5", "6", "2") == 1
    assert hgetall(redis, P + "meta:h") == {"epoch": "6", "seq": "3", "prev": "5", "base": "2"}
    assert ev(redis, "history", keys, "+", "1")[::3] == ["6", "5"]
    # A room that does not exist: no epoch, nothing created (it only reads).
    assert ev(redis, "history", [P + "meta:none", P + "log:none"], "+", "5") == [None, None, [],
                                                                                 None, None, []]
    assert redis.call("EXISTS", P + "meta:none") == 0


def test_presence_joins_and_leaves(redis):
    pk, rk, ch = P + "presence:p", P + "noderooms:n1", P + "room:p"
    sub = Sub(redis, ch)
    assert ev(redis, "presence", [pk, rk], "n1\x1falice", "Alice", "1", ch, "join-ev", "60",
              "p") == 1
    assert sub.get() == "join-ev"
    assert hgetall(redis, pk) == {"n1\x1falice": "Alice"}
    assert redis.call("SMEMBERS", rk) == ["p"]
    assert 0 < redis.call("TTL", pk) <= 60 and 0 < redis.call("TTL", rk) <= 60
    assert ev(redis, "presence", [pk, rk], "n1\x1falice", "Alice", "0", ch, "leave-ev", "60",
              "p") == 1
    assert sub.get() == "leave-ev"
    assert redis.call("EXISTS", pk) == 0
    sub.close()


def test_alive_buries_nodes_whose_key_expired(redis):
    nodes = P + "nodes"
    redis.call("SADD", nodes, "n2")  # n2 has no node:n2 key: it died
    redis.call("SADD", P + "noderooms:n2", "a")
    redis.call("HSET", P + "presence:a", "n2\x1fbob", "Bob", "n1\x1falice", "Alice",
               "n22\x1fcarol", "Carol")
    redis.call("SET", P + "node:n22", "1")  # alive; its name starts with the dead one's
    redis.call("SADD", nodes, "n22")
    sub = Sub(redis, P + "room:a")
    assert ev(redis, "alive", [P + "node:n1", nodes], "n1", "30", P, "300") == 1
    assert json.loads(sub.get()) == {"p": "leave", "r": "a", "u": "bob", "n": "Bob", "o": "n2"}
    sub.nothing_more()
    assert hgetall(redis, P + "presence:a") == {"n1\x1falice": "Alice", "n22\x1fcarol": "Carol"}
    assert sorted(redis.call("SMEMBERS", nodes)) == ["n1", "n22"]
    assert redis.call("EXISTS", P + "noderooms:n2") == 0
    assert 0 < redis.call("TTL", P + "node:n1") <= 30
    assert 30 < redis.call("TTL", nodes) <= 300
    # Nobody else died.
    assert ev(redis, "alive", [P + "node:n1", nodes], "n1", "30", P, "300") == 0
    sub.close()


def test_created_adds_checks_and_expires(redis):
    ck = P + "created"
    assert ev(redis, "created", [ck], "add", "60", "2", "r1") == 1
    assert ev(redis, "created", [ck], "add", "60", "2", "r1") == -1  # there already
    assert ev(redis, "created", [ck], "add", "60", "2", "r2") == 1
    assert ev(redis, "created", [ck], "add", "60", "2", "r3") == 0  # max alive
    assert ev(redis, "created", [ck], "check", "60", "0", "r1") == 1
    assert ev(redis, "created", [ck], "check", "60", "0", "nope") == 0
    assert 0 < redis.call("TTL", ck) <= 60
    # r1 expired: check refuses it, and the next add drops it, making room.
    now = int(redis.call("TIME")[0])
    redis.call("ZADD", ck, now - 1, "r1")
    assert ev(redis, "created", [ck], "check", "60", "0", "r1") == 0
    assert ev(redis, "created", [ck], "add", "60", "2", "r3") == 1
    assert redis.call("ZSCORE", ck, "r1") is None
    # check gives a live room its ttl again.
    redis.call("ZADD", ck, now + 5, "r2")
    assert ev(redis, "created", [ck], "check", "60", "0", "r2") == 1
    assert int(redis.call("ZSCORE", ck, "r2")) >= now + 60


def test_dmkeep_for_accounts_only_when_asked(redis):
    ik, ak, ch = P + "inbox:bob", P + "acct:bob", P + "user:bob"
    # Not an account, nobody follows: refused, nothing kept.
    assert ev(redis, "dmkeep", [ik, ak], ch, dm("m1"), "10", "10000", "60") == [-1, 0, 0, 0]
    sub = Sub(redis, ch)
    # Not an account, followed: published as it is, not kept.
    assert ev(redis, "dmkeep", [ik, ak], ch, dm("m2"), "10", "10000", "60") == [1, 0, 0, 0]
    assert json.loads(sub.get()) == json.loads(dm("m2"))
    assert redis.call("EXISTS", ik) == 0
    # An account: kept (and held, as it is followed).
    redis.call("HSET", ak, "id", "x")
    assert ev(redis, "dmkeep", [ik, ak], ch, dm("m3"), "10", "10000", "60") == [1, 0, 0, 0]
    assert json.loads(sub.get())["h"] == 1
    assert [e["i"] for e in inbox(redis, ik)] == ["m3"]
    sub.close()


def test_inbox_waits_drains_holds_and_is_done(redis):
    ik, ch = P + "inbox:bob", P + "user:bob"
    keep = ["10", "100000", "60"]
    # Nobody follows bob: waiting.
    assert ev(redis, "dmkeep", [ik], ch, dm("m1", "one"), *keep) == [0, 0, 0, 0]
    (e,) = inbox(redis, ik)
    assert e["w"] == 1 and e["i"] == "m1" and int(e["q"]) > 0 and "p" not in e
    assert 0 < redis.call("TTL", ik) <= 60
    sub = Sub(redis, ch)
    # One waits: the next one waits behind it, unpublished, though bob is followed now.
    assert ev(redis, "dmkeep", [ik], ch, dm("m2", "two"), *keep) == [0, 0, 0, 0]
    sub.nothing_more()
    assert [(e["i"], e.get("w")) for e in inbox(redis, ik)] == [("m1", 1), ("m2", 1)]
    # A wait for it is not done.
    assert ev(redis, "dmdone", [ik], "m1") == 0
    # The drain publishes both in order, held, and keeps them held.
    assert ev(redis, "drain", [ik], ch, "60", "2000") == [2, 0]
    got = [json.loads(sub.get()) for _ in range(2)]
    assert [(g["i"], g["x"], g["h"]) for g in got] == [("m1", "one", 1), ("m2", "two", 1)]
    assert all("w" not in g for g in got)
    held = inbox(redis, ik)
    assert [e["i"] for e in held] == ["m1", "m2"]
    assert all("w" not in e and "h" not in e and int(e["p"]) > 0 for e in held)
    # Drained a moment ago: on its way, left alone within the grace; sent again after it.
    assert ev(redis, "drain", [ik], ch, "60", "2000") == [0, 0]
    sub.nothing_more()
    assert inbox(redis, ik) == held
    assert ev(redis, "drain", [ik], ch, "60", "0") == [2, 0]
    assert [json.loads(sub.get())["i"] for _ in range(2)] == ["m1", "m2"]
    # None waits and bob is followed: published held at once.
    assert ev(redis, "dmkeep", [ik], ch, dm("m3", "three"), *keep) == [1, 0, 0, 0]
    g = json.loads(sub.get())
    assert (g["i"], g["h"]) == ("m3", 1)
    assert [(e["i"], "p" in e, e.get("w")) for e in inbox(redis, ik)][-1] == ("m3", True, None)
    # Written: gone; a second done for it (another node) finds nothing.
    assert ev(redis, "dmdone", [ik], "m2") == 1
    assert ev(redis, "dmdone", [ik], "m2") == 0
    assert [e["i"] for e in inbox(redis, ik)] == ["m1", "m3"]
    # Nobody follows any more: the drain sends nothing and everything waits again.
    sub.close()
    poll_until_sync(lambda: redis.call("PUBSUB", "NUMSUB", ch)[1] == 0, T(5),
                    what="the subscriber gone")
    assert ev(redis, "drain", [ik], ch, "60", "0") == [0, 0]
    assert [(e["i"], e.get("w")) for e in inbox(redis, ik)] == [("m1", 1), ("m3", 1)]


def test_inbox_bounds_and_expiry(redis):
    ik, ch = P + "inbox:carol", P + "user:carol"
    # An entry kept long ago (q in ms): dropped by the next keep, and by a drain.
    old = json.dumps({"to": "carol", "u": "a", "n": "A", "x": "old", "t": "1", "i": "o1",
                      "q": "1000", "w": 1})
    redis.call("RPUSH", ik, old)
    for i in range(3):
        r = ev(redis, "dmkeep", [ik], ch, dm(f"m{i}"), "2", "100000", "60")
        assert r == [0, 0 if i < 2 else 1, 0, 1 if i == 0 else 0], (i, r)
    assert [e["i"] for e in inbox(redis, ik)] == ["m1", "m2"]  # at most 2, oldest dropped
    # At most max bytes: the oldest dropped until the rest fits.
    size = len(redis.call("LINDEX", ik, 0))
    assert ev(redis, "dmkeep", [ik], ch, dm("m3"), "10", str(2 * size + 10), "60") == [0, 0, 1,
                                                                                       0]
    assert [e["i"] for e in inbox(redis, ik)] == ["m2", "m3"]
    # Alone over max bytes, nobody follows: refused, nothing kept.
    assert ev(redis, "dmkeep", [ik], ch, dm("m4", "x" * 200), "10", "100", "60") == [0, -1, 0, 0]
    assert [e["i"] for e in inbox(redis, ik)] == ["m2", "m3"]
    # A drain drops what expired and keeps the rest (waiting: nobody follows).
    redis.call("LPUSH", ik, old)
    assert ev(redis, "drain", [ik], ch, "60", "2000") == [0, 1]
    assert [e["i"] for e in inbox(redis, ik)] == ["m2", "m3"]
    # An empty inbox drains to nothing.
    assert ev(redis, "drain", [P + "inbox:none"], ch, "60", "2000") == [0, 0]


def test_store_scripts(redis):
    ak, ik, lk = P + "acct:alice", P + "acctid:id1", P + "accts"
    assert ev(redis, "store_create", [ak, ik, lk], "alice", "id1", "$y$h", "1700", "2") == 1
    assert ev(redis, "store_create", [ak, P + "acctid:id2", lk], "alice", "id2", "h", "1",
              "2") == 0
    assert ev(redis, "store_create", [P + "acct:bob", P + "acctid:id3", lk], "bob", "id3", "h",
              "1800", "1") == -1
    assert redis.call("EXISTS", P + "acct:bob") == 0
    assert ev(redis, "store_get", [], P, "name", "alice") == ["alice", "id1", "$y$h", "0", "1700"]
    assert ev(redis, "store_get", [], P, "id", "id1") == ["alice", "id1", "$y$h", "0", "1700"]
    assert ev(redis, "store_get", [], P, "name", "nobody") is None
    assert ev(redis, "store_get", [], P, "id", "id9") is None
    assert ev(redis, "store_bump", [ak]) == ["id1", "1", "1700"]
    assert ev(redis, "store_bump", [P + "acct:nobody"]) is None
    assert ev(redis, "store_create", [P + "acct:bob", P + "acctid:id3", lk], "bob", "id3", "h",
              "1800", "2") == 1
    assert ev(redis, "store_list", [lk], P, "10") == ["alice", "id1", "1", "1700",
                                                      "bob", "id3", "0", "1800"]
    assert ev(redis, "store_list", [lk], P, "1") == ["alice", "id1", "1", "1700"]
    assert ev(redis, "store_key", [P + "authkey"], "k1") == "k1"
    assert ev(redis, "store_key", [P + "authkey"], "k2") == "k1"


def test_confabd_loads_the_files(start_server, redis):
    """The scripts a node loads with SCRIPT LOAD are the files, byte for byte."""
    start_server(node_conf(redis, "lua0"))
    names = ["publish", "fetch", "history", "newepoch", "presence", "alive", "created", "dmkeep",
             "drain", "dmdone", "rules", "readset", "directory"]
    shas = [hashlib.sha1(script(n).encode()).hexdigest() for n in names]
    # SCRIPT LOAD is the first thing on a new link: once all are there, none is another.
    poll_until_sync(lambda: sum(redis.call("SCRIPT", "EXISTS", *shas)) == len(names), T(10),
                    what="the node's scripts loaded")
    assert redis.call("SCRIPT", "EXISTS", *shas) == [1] * len(names)
