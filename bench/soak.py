#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""soak.py - run two confabd nodes on one Redis for a long time under churn and faults, and
report whether anything leaked or was lost.

Not part of the test suite (it runs for an hour by default). Everything it starts listens on
127.0.0.1 and is killed by PID at the end; every loop stops at --duration.

What runs at once:
- readers: per room, one resumable confab.v1 client on each node. When its connection drops
  (its node was killed) it reconnects and joins with `since`/`epoch`, as a real client resumes.
  Every seq is checked: seen twice = duplicate; acknowledged to the sender but never seen by
  a reader that was in the room since before it = lost; a `gap` is reported.
- senders: one per room, alternating nodes, each message with a nonce; `unavailable` or a lost
  connection is retried with the same nonce until acknowledged (exactly-once on the wire).
- inbox users: accounts that connect (hello with their token) for a few seconds now and then;
  a guest sends them direct messages meanwhile. Every acknowledged DM must reach its account
  (live or from the offline inbox). Delivery is at least once: like a client that follows
  docs/protocol.md, an account drops a DM whose `mid` it has shown (counted as redelivered);
  the same text under two ids, or twice without one, is a duplicate.
- churn: short-lived connections that hello, join, send, leave and close.
- faults: every --redis-every seconds Redis is killed (-9) and restarted (AOF, fsync always);
  every --node-every seconds node B is killed (-9) and restarted.
- samples: every --sample seconds the RSS and open fds of both nodes and Redis, to a CSV.

Usage: /usr/bin/python3 bench/soak.py [--duration 3600] [--out DIR] (CONFABD=path/to/confabd)
Exit code 0 when nothing was lost or duplicated and no unexpected close happened.
"""
import argparse
import asyncio
import csv
import itertools
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import websockets  # noqa: E402

from confabtest import Client, RedisServer, Server  # noqa: E402

PW = "soak-password-1"
# A connection dropped because its node was killed closes with 1006; 1001 is a clean shutdown.
EXPECTED_CLOSES = {1000, 1001, 1006}


class Stats:
    def __init__(self):
        self.unexpected_closes = []
        self.sends_acked = 0
        self.send_retries = 0
        self.dms_acked = 0
        self.dms_refused = 0
        self.churn_ok = 0
        self.churn_failed = 0
        self.gaps = []
        self.faults = []


def node_overrides(redis, name):
    return {("redis", "url"): redis.url, ("server", "node_id"): name,
            ("redis", "reconnect_min"): 50, ("redis", "reconnect_max"): 1000,
            ("server", "max_connections_per_ip"): 4096,
            ("limits", "rate"): 1000, ("limits", "burst"): 1000,
            ("rooms", "history"): 1000, ("log", "level"): "notice"}


def start_node(s):
    s.start()


def proc_sample(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None, None


class Soak:
    def __init__(self, args):
        self.args = args
        self.end = time.monotonic() + args.duration
        self.stats = Stats()
        self.rng = random.Random(args.seed)
        self.redis = None
        self.nodes = []
        self.node_up = [True, True]
        self.acked = {}    # room -> {seq: text}
        self.readers = []  # dicts, see reader()
        self.dm_sent = {}  # account -> [text]
        self.dm_got = {}   # account -> [text]
        self.dm_mids = {}  # account -> {mid} shown
        self.dm_redelivered = 0
        self.tokens = {}
        self.dm_ack_t = {}  # DM text -> when it was acknowledged (s into the run)

    def running(self):
        return time.monotonic() < self.end

    def held_aged(self, grace_ms=2000):
        """Whether every held entry of the accounts' inboxes was published grace_ms ago."""
        sec, usec = self.redis.call("TIME")
        now = int(sec) * 1000 + int(usec) // 1000
        for name in self.tokens:
            for e in self.redis.call("LRANGE", "confab:inbox:" + name, 0, -1) or []:
                o = json.loads(e)
                if "w" not in o and "p" in o and now - int(o["p"]) < grace_ms:
                    return False
        return True

    def take_dms(self, name, events):
        """The texts of events' DMs that account name has not shown yet (by mid)."""
        mids, out = self.dm_mids.setdefault(name, set()), []
        for e in events:
            if e.get("ev") != "dm":
                continue
            if e.get("mid") in mids:
                self.dm_redelivered += 1
                continue
            if e.get("mid"):
                mids.add(e["mid"])
            out.append(e["text"])
        return out

    def pick_node(self, prefer):
        if self.node_up[prefer]:
            return self.nodes[prefer]
        return self.nodes[1 - prefer] if self.node_up[1 - prefer] else None

    async def connect(self, prefer, **kw):
        """A client on the preferred node, or the other one while it is down; retried."""
        for _ in range(200):
            node = self.pick_node(prefer)
            if node is not None:
                try:
                    return await Client.connect(node, **kw)
                except (OSError, websockets.WebSocketException, asyncio.TimeoutError,
                        AssertionError):
                    pass
            await asyncio.sleep(0.1)  # pacing: waiting for a node to come back
        raise RuntimeError("no node accepted a connection for 20 s")

    def note_close(self, who, c):
        if c.close_code not in EXPECTED_CLOSES:
            self.stats.unexpected_closes.append((who, c.close_code, c.close_reason))

    # -- readers: resumable members
    async def reader(self, room, prefer):
        st = {"room": room, "first": None, "seen": {}, "dups": 0, "epoch": None, "last": 0,
              "resumes": 0}
        self.readers.append(st)
        while True:
            c = await self.connect(prefer, name=f"rd-{prefer}-{room}")
            fields = {}
            if st["first"] is not None:
                fields = {"since": st["last"], "epoch": st["epoch"]}
                st["resumes"] += 1
            r = await c.send_cmd("join", room=room, **fields)
            if "error" in r:
                await c.close()
                await asyncio.sleep(0.2)  # pacing: Redis is down, retry the join
                continue
            if st["first"] is None:
                st["first"], st["last"] = r["seq"], r["seq"]
            if r.get("gap"):
                self.stats.gaps.append((room, "join", st["last"], r["seq"]))
            st["epoch"] = r["epoch"]
            for m in r.get("history", []):
                self.take(st, m)
            done = 0
            while not c.closed:
                try:
                    await c.wait_until(lambda: len(c.events) > done or c.closed, timeout=1)
                except AssertionError:
                    pass  # nothing new within a second: look at the clock
                for e in c.events[done:]:
                    if e.get("ev") == "msg" and e.get("room") == room:
                        self.take(st, e)
                    elif e.get("ev") == "gap":
                        self.stats.gaps.append((room, "event", st["last"], e.get("seq")))
                        st["epoch"] = e.get("epoch")
                done = len(c.events)
                if not self.running() and (self.caught_up(st) or
                                           time.monotonic() > self.end + 60):
                    await c.close()
                    return
            self.note_close(f"reader {room}", c)

    def take(self, st, m):
        seq = m["seq"]
        if seq in st["seen"]:
            st["dups"] += 1
        st["seen"][seq] = m.get("text")
        st["last"] = max(st["last"], seq)

    def caught_up(self, st):
        acked = self.acked.get(st["room"], {})
        return not acked or st["last"] >= max(acked)

    # -- senders: exactly once with nonces
    async def sender(self, room, idx):
        acked = self.acked.setdefault(room, {})
        c = None
        for k in itertools.count():
            if not self.running():
                break
            text, nonce = f"{room}#{k}", f"n{idx}-{k}"
            while True:
                if c is None or c.closed:
                    if c is not None:
                        self.note_close(f"sender {room}", c)
                    c = await self.connect(k % 2, name=f"snd-{idx}")
                    r = await c.send_cmd("join", room=room)
                    if "error" in r:
                        await c.close()
                        c = None
                        await asyncio.sleep(0.2)  # pacing: Redis is down
                        continue
                try:
                    r = await c.send_cmd("send", room=room, text=text, nonce=nonce, timeout=30)
                except Exception:
                    self.stats.send_retries += 1
                    continue
                if "error" in r:
                    self.stats.send_retries += 1
                    await asyncio.sleep(0.2)  # pacing: retry with the same nonce
                    continue
                acked[r["seq"]] = text
                self.stats.sends_acked += 1
                break
            await asyncio.sleep(self.args.send_interval)  # pacing: the message rate
        if c is not None:
            await c.close()

    # -- inbox users
    async def inbox_user(self, name):
        got = self.dm_got.setdefault(name, [])
        while self.running():
            await asyncio.sleep(self.rng.uniform(5, 30))  # pacing: offline for a while
            c = await self.connect(self.rng.randrange(2), hello=False)
            r = await c.send_cmd("hello", token=self.tokens[name], timeout=30)
            if "error" in r:
                await c.close()
                continue
            stay = time.monotonic() + self.rng.uniform(2, 10)
            done = 0
            while time.monotonic() < stay and not c.closed:
                try:
                    await c.wait_until(lambda: len(c.events) > done or c.closed,
                                       timeout=max(0.1, stay - time.monotonic()))
                except AssertionError:
                    pass
                got += self.take_dms(name, c.events[done:])
                done = len(c.events)
            if c.closed:
                self.note_close(f"inbox {name}", c)
            await c.close()
            got += self.take_dms(name, c.events[done:])

    async def dm_sender(self):
        names = sorted(self.tokens)
        c = None
        for k in itertools.count():
            if not self.running():
                break
            if c is None or c.closed:
                c = await self.connect(k % 2, name="dm-sender")
            to, text = self.rng.choice(names), f"dm#{k}"
            try:
                r = await c.send_cmd("dm", to=to, text=text, timeout=30)
            except Exception:
                self.stats.dms_refused += 1  # unknown outcome: not counted either way
                continue
            if "error" in r:
                self.stats.dms_refused += 1
            else:
                self.dm_sent.setdefault(to, []).append(text)
                self.dm_ack_t[text] = round(time.monotonic() - self.t0, 1)
                self.stats.dms_acked += 1
            await asyncio.sleep(self.args.dm_interval)  # pacing
        if c is not None:
            await c.close()

    # -- churn
    async def churn(self):
        while self.running():
            try:
                c = await self.connect(self.rng.randrange(2))
                room = f"churn-{self.rng.randrange(self.args.rooms)}"
                ok = "error" not in await c.send_cmd("join", room=room)
                ok = ok and "error" not in await c.send_cmd("send", room=room, text="x")
                ok = ok and "error" not in await c.send_cmd("leave", room=room)
                await c.close()
                if ok:
                    self.stats.churn_ok += 1
                else:
                    self.stats.churn_failed += 1
            except Exception:
                self.stats.churn_failed += 1
            await asyncio.sleep(self.args.churn_interval)  # pacing

    # -- faults and samples
    async def faults(self):
        loop = asyncio.get_running_loop()
        next_redis = time.monotonic() + self.args.redis_every
        next_node = time.monotonic() + self.args.node_every
        while self.running():
            await asyncio.sleep(1)  # pacing: the fault schedule
            now = time.monotonic()
            if now >= next_redis:
                next_redis = now + self.args.redis_every
                self.stats.faults.append((round(now - self.t0), "redis kill -9"))
                self.redis.kill9()
                await asyncio.sleep(2)  # pacing: Redis stays down for 2 s
                await loop.run_in_executor(None, self.redis.restart)
            if now >= next_node:
                next_node = now + self.args.node_every
                self.stats.faults.append((round(now - self.t0), "node b kill -9"))
                self.node_up[1] = False
                self.nodes[1].crash()
                await asyncio.sleep(2)  # pacing: the node stays down for 2 s
                self.nodes[1].stopped = False
                await loop.run_in_executor(None, start_node, self.nodes[1])
                self.node_up[1] = True

    def health(self, i):
        """(connections, rooms) of node i from /healthz, or (None, None) while it is down."""
        try:
            h = self.nodes[i].get("/healthz", timeout=5).json()
            return h.get("connections"), h.get("rooms")
        except (OSError, ValueError):
            return None, None

    async def sampler(self, writer):
        loop = asyncio.get_running_loop()
        while self.running():
            row = [round(time.monotonic() - self.t0)]
            for p in (self.nodes[0].pid, self.nodes[1].pid, self.redis.proc.pid):
                row += list(proc_sample(p))
            for i in (0, 1):
                row += list(await loop.run_in_executor(None, self.health, i))
            writer.writerow(row)
            self.samples.append(row)
            await asyncio.sleep(self.args.sample)  # pacing: the sample interval

    async def run(self):
        a = self.args
        loop = asyncio.get_running_loop()
        self.redis = RedisServer(appendonly=True).start()
        for name in ("soak-a", "soak-b"):
            s = Server(node_overrides(self.redis, name))
            s.write_config()
            await loop.run_in_executor(None, start_node, s)
            self.nodes.append(s)
        self.t0 = time.monotonic()
        self.samples = []
        print(f"soak: nodes {[(n.pid, n.port) for n in self.nodes]}, redis {self.redis.port}",
              file=sys.stderr)
        for i in range(a.accounts):
            c = await self.connect(0, hello=False)
            r = await c.send_cmd("register", name=f"inbox{i}-{a.seed}", password=PW, timeout=60)
            assert "error" not in r, r
            self.tokens[r["user"]["id"]] = r["token"]
            await c.close()
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "samples.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t", "a_rss_kb", "a_fds", "b_rss_kb", "b_fds", "redis_rss_kb",
                        "redis_fds", "a_connections", "a_rooms", "b_connections", "b_rooms"])
            rooms = [f"soak-{i}" for i in range(a.rooms)]
            tasks = [self.reader(r, n) for r in rooms for n in (0, 1)]
            tasks += [self.sender(r, i) for i, r in enumerate(rooms)]
            tasks += [self.inbox_user(n) for n in self.tokens]
            tasks += [self.dm_sender(), self.faults(), self.sampler(w)]
            tasks += [self.churn() for _ in range(a.churners)]
            tasks = [asyncio.ensure_future(t) for t in tasks]
            done, pending = await asyncio.wait(tasks, timeout=a.duration + 120)
            for t in done:
                if t.exception() is not None:
                    print(f"soak: a task failed: {t.exception()!r}", file=sys.stderr)
            for t in pending:
                print(f"soak: still running after the end: {t.get_coro().__qualname__}",
                      file=sys.stderr)
                t.cancel()
            for n in self.nodes:
                try:
                    health = n.get("/healthz", timeout=5).text.strip()
                except OSError as e:
                    health = repr(e)
                print(f"soak: {n.dir}: /healthz {health}", file=sys.stderr)
            for st in self.readers:
                if not self.caught_up(st):
                    print(f"soak: reader of {st['room']} at seq {st['last']}, acked up to "
                          f"{max(self.acked[st['room']])}", file=sys.stderr)
        # A DM whose session closed before writing it is published again by the user's next
        # drain once it is 2 s old (DRAIN_GRACE_MS, bus_redis_dm.c): wait until Redis's clock
        # says every held entry is that old.
        deadline = time.monotonic() + 30
        while not self.held_aged() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # polling Redis for the observable state
        await self.drain_inboxes()
        return self.report()

    async def drain_inboxes(self):
        """Every account connects once more and reads what its inbox still holds."""
        await asyncio.gather(*(self.drain_one(n, t) for n, t in self.tokens.items()))

    async def drain_one(self, name, token):
        if True:
            c = await self.connect(0, hello=False)
            await c.send_cmd("hello", token=token, timeout=30)
            want = len(self.dm_sent.get(name, [])) - len(self.dm_got.get(name, []))
            try:
                await c.wait_until(lambda: len(c.evs("dm")) >= want, timeout=10)
            except AssertionError:
                pass
            self.dm_got.setdefault(name, []).extend(self.take_dms(name, c.events))
            await c.close()

    def report(self):
        lost = dups = 0
        for st in self.readers:
            acked = self.acked.get(st["room"], {})
            want = {s for s in acked if st["first"] is not None and s > st["first"]}
            lost += len(want - set(st["seen"]))
            dups += st["dups"]
        dm_lost = dm_dups = 0
        self.dm_lost_detail = []
        for name, sent in self.dm_sent.items():
            got = self.dm_got.get(name, [])
            missing = set(sent) - set(got)
            dm_lost += len(missing)
            self.dm_lost_detail += [(name, t, self.dm_ack_t.get(t)) for t in sorted(missing)]
            dm_dups += len(got) - len(set(got))
        s = self.stats

        def series(i):
            vals = [r[i] for r in self.samples if r[i] is not None]
            if not vals:
                return {}
            # After a tenth of the run the clients are all connected: flat means last ~ warm.
            warm = vals[len(vals) // 10]
            return {"first": vals[0], "warm": warm, "last": vals[-1], "max": max(vals)}
        out = {
            "duration_s": self.args.duration, "rooms": self.args.rooms,
            "messages_acked": s.sends_acked, "send_retries": s.send_retries,
            "reader_resumes": sum(st["resumes"] for st in self.readers),
            "messages_lost": lost, "messages_duplicated": dups, "gaps": s.gaps,
            "dms_acked": s.dms_acked, "dms_refused": s.dms_refused, "dms_lost": dm_lost,
            "dms_duplicated": dm_dups, "dms_redelivered": self.dm_redelivered, "churn_ok": s.churn_ok, "churn_failed": s.churn_failed,
            "unexpected_closes": s.unexpected_closes[:20],
            "unexpected_close_count": len(s.unexpected_closes), "faults": s.faults,
            "node_a_rss_kb": series(1), "node_a_fds": series(2),
            "node_b_rss_kb": series(3), "node_b_fds": series(4),
            "redis_rss_kb": series(5),
            "node_a_connections": series(7), "node_b_connections": series(9),
            "dms_lost_detail": self.dm_lost_detail[:20],
        }
        print(json.dumps(out, indent=1))
        with open(os.path.join(self.args.out, "summary.json"), "w") as f:
            json.dump(out, f, indent=1)
        return 0 if not (lost or dups or dm_lost or dm_dups or s.unexpected_closes) else 1

    def cleanup(self, keep=False):
        for s in self.nodes:
            s.stop()
            if not keep:
                s.cleanup()
        if self.redis:
            self.redis.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=3600)
    p.add_argument("--rooms", type=int, default=20)
    p.add_argument("--accounts", type=int, default=10)
    p.add_argument("--churners", type=int, default=4)
    p.add_argument("--send-interval", type=float, default=0.5)
    p.add_argument("--dm-interval", type=float, default=0.5)
    p.add_argument("--churn-interval", type=float, default=0.1)
    p.add_argument("--redis-every", type=float, default=600)
    p.add_argument("--node-every", type=float, default=900)
    p.add_argument("--sample", type=float, default=10)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--out", default="soak-out")
    p.add_argument("--keep", action="store_true", help="keep the nodes' directories and logs")
    args = p.parse_args()
    print(f"soak: seed {args.seed}, {args.duration:.0f} s, results in {args.out}/",
          file=sys.stderr)
    soak = Soak(args)
    try:
        code = asyncio.run(soak.run())
    finally:
        soak.cleanup(keep=args.keep)
    sys.exit(code)


if __name__ == "__main__":
    main()
