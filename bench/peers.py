#!/usr/bin/python3
"""peers.py - issue 14's scenarios (fanout, rooms, idle, fill, storm): confabd against its peers;
and confabd with and without permessage-deflate (deflate).

Usage: /usr/bin/python3 bench/peers.py [--scenario fanout|rooms|idle|fill|storm|deflate|all]
       [--quick]
       [--rates 100,500]
       [--counts 1000,5000,10000,18000] [--ramp R] [--duration S] [--repeat N] [--conns N]
       [--servers confab,nchan,node] [--build DIR] [--out FILE]

--scenario fanout (the default):

Runs "1 room x --conns subscribers, 1 publisher, R msg/s for --duration s" with
bench/loadgen.c (--proto raw, the same load generator for all) against:
  confab  build-rel/confabd, seed 000 dialect (/ws?room=&name=, {"text": ...} in, a JSON
          "chat" out), limits as bench/run.sh sets them;
  nchan   Debian's libnginx-mod-nchan in its own nginx (bench/peers/nchan.conf.in, one worker),
          WebSocket subscribers; the publisher POSTs each message over one keep-alive HTTP
          connection, or (--nchan-publisher websocket) sends it as a frame on nchan's
          WebSocket publisher;
  node    a ws broadcast server (bench/peers/node, `npm ci` from the lockfile into a temp dir);
  floor   not a server: bench/floor.c (confab-floor), one send() per delivery of the frame nchan
          and Node write for the text (2 + 64 bytes) to --conns loopback sockets at the same
          rate and duration, its CPU per send the floor that every server's CPU per delivery
          is divided by ("CPU per delivery / floor", run by run).
Each server runs alone, started fresh for every run in a temp dir on a free 127.0.0.1 port and
killed by PID afterwards; runs are interleaved across servers (rate by rate, repeat by repeat),
the floor alone after them in each round, so that a noisy machine spreads over all of them.
Prints the median and the spread (min-max) of each figure, the confab/peer ratios of the
medians and each server's CPU per delivery over the floor's CPU per send. --quick: one 3 s
run at 100 msg/s.

--scenario rooms: as fanout, but --conns subscribers (default 5,000) in 500 rooms of
--conns/500 (default 10) and 100 publishers spread round-robin over the rooms (the loadgen's
--rooms and --pubs: so one publisher in each of rooms 0-99, rooms 100-499 only hold members),
--rates msg/s in total over the publishers (default 1000, i.e. 10 msg/s each; --quick: one
3 s run). Servers: confab (seed 000), confab.v1 (the loadgen's own protocol, hello + join +
send), nchan and node. No floor: the floor is one room's sender.

--scenario idle: for each count N (--counts, default 1000,5000,10000,18000; --quick: 1000,5000,
one run each) and each server, a fresh server gets N idle subscribers in N/10 rooms from
`confab-loadgen --proto raw --idle` (--ramp connection attempts/s, default 2000, the loadgen's
default; 0: all at once, at most 1,000 handshakes in flight; one 127.0.0.x source address per
250 connections), held --duration s (default 2). The ramp changes the figure: a server that
does O(open connections) work per loop turn pays it per connect when connects arrive paced,
and once per batch when they arrive together. Figures: the server's CPU from the first
connection attempt to the last upgrade ("connect" in the loadgen's /proc sampling), that CPU
per connection in µs, RSS growth per connection after the hold, and connections that failed. Runs are interleaved across servers as above, no floor. The fd limit:
confabd raises its soft limit to the hard one itself, nginx has worker_rlimit_nofile and
worker_connections in nchan.conf.in, node runs under `prlimit --nofile=HARD:HARD`.

--scenario fill: for each count N (--counts, default 1000; --quick: one run) and each server, a
fresh server gets N idle subscribers in one room, and another fresh one N subscribers in N rooms
of one, from `confab-loadgen --idle` as above (--ramp, --duration). Figure: the server's CPU from
the first connection attempt to the end of the hold (connect + hold: what the joins made it write
after the last upgrade is included), for one room and for N rooms, and their ratio (one room /
N rooms, run by run; issue 14's target is at most 5). Servers: confab's seed 000 dialect (each
join is a welcome listing the room's members to the joiner and an `info` event to every member
up to rooms.presence_events_max), confab.v1 ("confab.v1": hello + join, ready on the join reply,
which lists the members; `join` events as for seed 000), nchan and node (a join is an upgrade on
the room's URL: they have no presence, so their figures are what a join costs without it).

--scenario storm: for each count N (--counts, default 10000; --quick: 1000, one run) and each
server (as for rooms), a fresh server gets N idle subscribers in N/10 rooms (--ramp, here
default 0: all at once); then the loadgen is SIGKILLed, so the kernel closes all N sockets at
once with no WebSocket close (a client-side crash or network drop), and as soon as the server
holds no connection any more (its /proc/PID/fd count back to what it was before) a second
loadgen connects N again (--ramp) and holds them --duration s. Figures: the server's CPU for
the first connect, for the drop (from the kill to the last close) and for the reconnect, in
total and per connection, and the wall time of the drop.

--scenario deflate: confab.v1 without and with permessage-deflate (a listener with
deflate=on, the loadgen's --deflate: offered as browsers offer it, every message the loadgen
sends compressed on its own), confab alone. Chat text: each message's text is 100 bytes, the
next of the repository's README.md and docs/*.md (the loadgen's --text), so that compression
sees English rather than one repeated byte. Cells: 1 room x 1,000 subscribers, 1
publisher, 100 msg/s (each member gets about one event per write), and 1 room x 100
subscribers, 2,000 msg/s (several per write: confab.v1 packs them into one message), --duration
s each (default 10); then 2,000 idle subscribers in 200 rooms, held 2 s. Figures: bytes
subscribers read off their sockets per delivery (the wire: WebSocket framing and compressed
payload) against the bytes of the messages, server CPU per delivery, latency, and server RSS
per connection once joined, at the end of the sending (after the traffic) and idle. Runs are
interleaved (plain, deflate) --repeat times; medians and spread. --quick: one run of 3 s.

--scenario all: each of the above in turn, with its own defaults (about 25 minutes; --quick:
about 2), so that one command runs every scenario against confab and its peers. Two processes
sharing the port through Redis is bench/cluster.sh (confab only: the peers here run standalone).

Installs libnginx-mod-nchan with apt-get when it is missing (needs root).
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
NCHAN_SO = "/usr/lib/nginx/modules/ngx_nchan_module.so"
SERVERS = ("confab", "nchan", "node")
# The fill scenario also runs confab's own protocol: the same confabd, the loadgen's default
# (confab.v1) protocol instead of --proto raw.
FILL_SERVERS = ("confab", "confab.v1", "nchan", "node")
SCENARIOS = ("fanout", "rooms", "idle", "fill", "storm", "deflate")
# The loadgen's arguments for each server's protocol (--proto raw).
PROTO = {
    "confab": ["--path", "/ws?room={room}&name=lg{i}", "--pub-wrap", '{"text":"{msg}"}'],
    "nchan": ["--path", "/sub/{room}", "--pub-url", "/pub/{room}"],
    "node": ["--path", "/r/{room}"],
}
# The loadgen's protocol and path for an idle subscriber of each server (idle and fill).
SUB = {k: ["--proto", "raw"] + v[:2] for k, v in PROTO.items()}
SUB["confab.v1"] = []
TEXT_SIZE = 64  # the loadgen's --size: bytes of text per message
FLOOR_SIZE = TEXT_SIZE + 2  # the WebSocket frame for it: 2 header bytes below 126
ROOMS, PUBS = 500, 100  # the rooms scenario: --conns/ROOMS members each, PUBS publishers
HEALTH = {"confab": "/healthz", "nchan": "/health", "node": "/health"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def die(msg):
    log("peers.py: " + msg)
    sys.exit(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_build(build):
    if all(os.access(os.path.join(build, b), os.X_OK) for b in ("confabd", "confab-loadgen",
                                                                  "confab-floor")):
        return
    log(f"building {build} (RelWithDebInfo)")
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                    "-DCONFAB_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL, timeout=300)
    subprocess.run(["cmake", "--build", build, "-j2"], check=True, stdout=subprocess.DEVNULL,
                   timeout=1800)


def ensure_nchan():
    if os.path.exists(NCHAN_SO) and shutil.which("nginx"):
        return
    if os.geteuid() != 0:
        die("nchan is not installed: apt-get install libnginx-mod-nchan nginx-light (as root)")
    pkgs = ["libnginx-mod-nchan"] + ([] if shutil.which("nginx") else ["nginx-light"])
    log("installing " + " ".join(pkgs))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + pkgs, check=True,
                   env=env, timeout=900)


def ensure_node(tmp):
    """Installs the lockfile's ws into tmp/node; returns the directory."""
    d = os.path.join(tmp, "node")
    os.mkdir(d)
    for f in ("package.json", "package-lock.json", "server.js"):
        shutil.copy(os.path.join(PEERS, "node", f), d)
    log("npm ci (bench/peers/node)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=d,
                   check=True, stdout=subprocess.DEVNULL, timeout=300)
    return d


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Server:
    """One fresh server process in its own temp dir; measure_pid is what does the work."""

    def __init__(self, kind, args, tmp, node_dir, listen_opts=""):
        self.kind, self.port = kind, free_port()
        self.dir = tempfile.mkdtemp(prefix=kind + ".", dir=tmp)
        self.log = open(os.path.join(self.dir, "log"), "w")
        env = dict(os.environ)
        if kind == "confab":
            for k in ("ACCEPTED_ORIGIN", "CONFAB_DIALECTS_DISPOSABLE_ORIGIN"):
                env.pop(k, None)  # empty accepted Origin: the loadgen sends none
            env.update(CONFAB_STATE_DIR=self.dir, CONFAB_LIMITS_RATE="1000000",
                       CONFAB_LIMITS_BURST="1000000", CONFAB_SERVER_MAX_CONNECTIONS="60000",
                       CONFAB_SERVER_MAX_CONNECTIONS_PER_IP="60000",
                       CONFAB_DIALECTS_DISPOSABLE_CHAT="1")
            cmd = [os.path.join(args.build, "confabd"), "--config", "/dev/null", "--listen",
                   f"127.0.0.1:{self.port}{listen_opts}"]
        elif kind == "nchan":
            with open(os.path.join(PEERS, "nchan.conf.in")) as f:
                conf = f.read().replace("@DIR@", self.dir).replace("@PORT@", str(self.port))
            with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
                f.write(conf)
            cmd = ["nginx", "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"), "-e",
                   os.path.join(self.dir, "error.log")]
        else:
            # Node keeps the soft limit it was started with: give it the hard one (prlimit
            # execs node, so the PID is node's).
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            cmd = ["prlimit", f"--nofile={hard}:{hard}", "node",
                   os.path.join(node_dir, "server.js"), str(self.port)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.measure_pid = self.proc.pid
        self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + 15
        url = f"http://127.0.0.1:{self.port}{HEALTH[self.kind]}"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: "
                                   f"see {self.log.name}")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} not healthy after 15 s")
            time.sleep(0.05)
        if self.kind == "nchan":  # measure the one worker, not the master
            kids = children(self.proc.pid)
            if len(kids) != 1:
                raise RuntimeError(f"nginx has {len(kids)} workers, expected 1")
            self.measure_pid = kids[0]

    def stop(self):
        if self.proc.poll() is None:
            # nginx: SIGQUIT is its graceful stop, but a fast one (SIGTERM) is enough here
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def loadgen_result(p, kind):
    """The loadgen's JSON result line from a finished subprocess.run."""
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"loadgen against {kind} gave no result: {p.stderr[-500:]}")
    return json.loads(lines[-1])


def run_one(args, kind, rate, node_dir, tmp, rooms=1, pubs=1):
    """One sending cell: args.conns subscribers in `rooms` rooms, `pubs` publishers spread
    over them round-robin, `rate` msg/s in total, on a fresh server."""
    srv = Server("confab" if kind == "confab.v1" else kind, args, tmp, node_dir)
    try:
        proto = ["--proto", "raw"] + PROTO[kind] if kind in PROTO else []
        if kind == "nchan" and args.nchan_publisher == "websocket":
            proto = ["--proto", "raw", "--path", "/sub/{room}", "--pub-path", "/pub/{room}"]
        # the loadgen's default --src-addrs keeps 250 connections per source address
        cmd = [os.path.join(args.build, "confab-loadgen"), "--port", str(srv.port),
               "--conns", str(args.conns), "--pubs", str(pubs), "--rooms", str(rooms),
               "--rate", str(rate),
               "--duration", str(args.duration), "--size", str(TEXT_SIZE), "--server-pid",
               str(srv.measure_pid), "--json", "--quiet"] + proto
        limit = 15 + args.conns / 2000 + 5 + args.duration + 2 + 1 + 30
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=limit)
    finally:
        srv.stop()
    r = loadgen_result(p, kind)
    exp = r["expected"] or 1
    rss = r["server_rss_per_conn_kib"]
    return {
        "dps": r["deliveries_per_s"],
        "loss": 100.0 * r["loss"] / exp,
        "p50": r["latency_us"]["p50"] / 1000,
        "p99": r["latency_us"]["p99"] / 1000,
        "cpu_m": r["server_cpu_s_per_m_deliveries"],
        "rss_conn": rss * 1024 if rss is not None else None,
        "cpu_conn": r["server_cpu_connect_s"],
        "lg_s": r["loadgen_cpu_msgs_s"],
        "lg_cpu": 100.0 * r["loadgen_cpu_msgs_s"] / (args.duration + 2),
        "failed": r["failed"] + r["dropped"],
        "dups": r["dups"],
        "reasons": r["reasons"],
    }


def run_floor(args, rate):
    cmd = [os.path.join(args.build, "confab-floor"), "--conns", str(args.conns), "--rate",
           str(rate), "--size", str(FLOOR_SIZE), "--duration", str(args.duration), "--json"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=2 * args.duration + 90)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"confab-floor gave no result: {p.stderr[-500:]}")
    r = json.loads(lines[-1])
    full = r["full_sends_bytes"] or 1
    return {
        "dps": r["sends_per_s"],
        "loss": 100.0 * max(0, full - r["reader_bytes"]) / full,
        "p50": None, "p99": None,
        "cpu_m": r["sender_us_per_send"],  # us per send = s per million
        "rss_conn": None, "cpu_conn": None,
        "lg_s": r["reader_cpu_s"],
        "short": r["short_sends"],
        "behind": r["sends_per_s"] < 0.95 * rate * args.conns,
    }


def idle_cmd(args, kind, srv, n, rooms, duration):
    """The loadgen holding N idle subscribers of srv in `rooms` rooms for `duration` s."""
    return [os.path.join(args.build, "confab-loadgen"), "--idle",
            "--port", str(srv.port), "--conns", str(n), "--rooms", str(rooms),
            "--src-addrs", str(max(1, -(-n // 250))), "--ramp", str(args.ramp),
            "--duration", str(duration), "--server-pid", str(srv.measure_pid)] + SUB[kind]


def idle_timeout(args, n):
    return 15 + n / (args.ramp or 5000) + args.duration + 1 + 60


def run_idle(args, kind, n, node_dir, tmp, rooms=None):
    """One idle cell: N WebSocket subscribers in `rooms` rooms (default N/10), held, on a
    fresh server."""
    rooms = rooms or max(1, n // 10)
    srv = Server("confab" if kind == "confab.v1" else kind, args, tmp, node_dir)
    try:
        p = subprocess.run(idle_cmd(args, kind, srv, n, rooms, args.duration)
                           + ["--json", "--quiet"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=idle_timeout(args, n))
    finally:
        srv.stop()
    return idle_figures(loadgen_result(p, kind), n)


def idle_figures(r, n):
    """The idle figures of the loadgen's JSON result r for N connections."""
    cpu, rss = r["server_cpu_connect_s"], r["server_rss_per_conn_kib"]
    hold = r["server_cpu_msgs_s"]
    return {
        "cpu_conn": cpu,
        "cpu_fill": cpu + hold if cpu is not None and hold is not None else None,
        "us_conn": 1e6 * cpu / r["ready"] if cpu is not None and r["ready"] else None,
        "rss_conn": rss * 1024 if rss is not None else None,
        "failed": n - r["ready"] + r["dropped"],
        "reasons": r["reasons"],
    }


def proc_cpu(pid):
    """utime + stime of pid, s."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def run_storm(args, kind, n, node_dir, tmp):
    """One storm cell on a fresh server: N idle subscribers in N/10 rooms connect, their
    loadgen is SIGKILLed so the kernel closes every socket at once (a crash or a network
    drop: no WebSocket close), and as soon as the server holds no connection any more a
    second loadgen connects N again (--ramp)."""
    rooms = max(1, n // 10)
    srv = Server("confab" if kind == "confab.v1" else kind, args, tmp, node_dir)
    try:
        pid, base = srv.measure_pid, proc_fds(srv.measure_pid)
        c0 = proc_cpu(pid)
        # held far longer than the storm takes; killed below, never waited out
        lg = subprocess.Popen(idle_cmd(args, kind, srv, n, rooms, 300), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            ready = None
            for line in lg.stderr:  # the loadgen ends its connect phase within its timeout
                if line.startswith("ready: "):
                    ready = int(line.split()[1])
                    break
            if ready is None:
                raise RuntimeError(f"loadgen against {kind} exited before it was ready")
            c1 = proc_cpu(pid)
        finally:
            lg.kill()
            lg.wait(timeout=30)
            lg.stderr.close()
        t1, deadline = time.monotonic(), time.monotonic() + 60
        while proc_fds(pid) > base:  # every close seen and done
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} still holds {proc_fds(pid) - base} connections "
                                   f"60 s after the drop")
            time.sleep(0.005)
        c2, t2 = proc_cpu(pid), time.monotonic()
        p = subprocess.run(idle_cmd(args, kind, srv, n, rooms, args.duration)
                           + ["--json", "--quiet"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=idle_timeout(args, n))
    finally:
        srv.stop()
    r = idle_figures(loadgen_result(p, kind), n)
    return {
        "ready": ready,
        "cpu_first": c1 - c0,
        "us_first": 1e6 * (c1 - c0) / ready if ready else None,
        "cpu_drop": c2 - c1,
        "us_drop": 1e6 * (c2 - c1) / ready if ready else None,
        "drop_wall": t2 - t1,
        "cpu_re": r["cpu_conn"],
        "us_re": r["us_conn"],
        "failed": n - ready + r["failed"],
        "reasons": r["reasons"],
    }


STORM_METRICS = [
    ("cpu_first", "server CPU for the first connect, s", "{:.2f}"),
    ("cpu_drop", "server CPU for the drop (all closes), s", "{:.2f}"),
    ("us_drop", "server CPU per dropped connection, µs", "{:,.0f}"),
    ("drop_wall", "wall time from the drop to the last close, s", "{:.2f}"),
    ("cpu_re", "server CPU for the reconnect, s", "{:.2f}"),
    ("us_re", "server CPU per reconnection, µs", "{:,.0f}"),
    ("us_first", "server CPU per first connection, µs", "{:,.0f}"),
    ("failed", "connections failed or dropped (both connects)", "{:,.0f}"),
]


IDLE_METRICS = [  # key, label, format
    ("cpu_conn", "server CPU to connect, s", "{:.2f}"),
    ("us_conn", "server CPU per connection, µs", "{:,.0f}"),
    ("rss_conn", "server RSS per idle connection, bytes", "{:,.0f}"),
    ("failed", "connections failed or dropped", "{:,.0f}"),
]


def idle_table(results, args, servers, metrics=IDLE_METRICS, what=None):
    ramp = f"{args.ramp:,} connection attempts/s" if args.ramp else "no ramp (all at once)"
    what = what or f"N idle connections in N/10 rooms, {ramp}, held {args.duration:g} s"
    out = [f"\n{what}, {args.repeat} run(s) each: median (min-max)"]
    peers = [s for s in servers if s != "confab"] if "confab" in servers else []
    for key, label, fmt in metrics:
        out.append(f"\n{label}:\n")
        head = ["N"] + servers + [f"confab/{p}" for p in peers]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for n in args.counts:
            row, med = [f"{n:,}"], {}
            for s in servers:
                text, med[s] = cell([r[key] for r in results[(s, n)]], fmt)
                row.append(text)
            for p in peers:
                ok = key != "failed" and med.get("confab") is not None and med.get(p)
                row.append(f"{med['confab'] / med[p]:.3g}" if ok else "-")
            out.append("| " + " | ".join(row) + " |")
    notes = []
    for s in servers:
        for n in args.counts:
            for i, r in enumerate(results[(s, n)]):
                if r["failed"] or r["reasons"]:
                    notes.append(f"{s} {n:,} run {i + 1}: {r['failed']} connections failed or "
                                 f"dropped; {r['reasons']}")
    return "\n".join(out + (["", *notes] if notes else []))


def fill_table(results, args, servers):
    ramp = f"{args.ramp:,} connection attempts/s" if args.ramp else "no ramp (all at once)"
    out = [f"\nN subscribers into one room vs into N rooms of one, {ramp}, held "
           f"{args.duration:g} s, {args.repeat} run(s) each: server CPU to connect and "
           f"hold, s, median (min-max)\n"]
    head = ["server", "N", "one room", "N rooms", "one room / N rooms (run by run)",
            "failed or dropped, all runs"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    notes = []
    for s in servers:
        for n in args.counts:
            one, many = results[(s, n, 1)], results[(s, n, n)]
            ratio = cell([a["cpu_fill"] / b["cpu_fill"] for a, b in zip(one, many)
                          if a["cpu_fill"] is not None and b["cpu_fill"]], "{:.2f}")[0]
            failed = f"{sum(r['failed'] for r in one + many):,}"
            out.append(f"| {s} | {n:,} | {cell([r['cpu_fill'] for r in one], '{:.2f}')[0]} | "
                       f"{cell([r['cpu_fill'] for r in many], '{:.2f}')[0]} | {ratio} | "
                       f"{failed} |")
            for k, rs in ((1, one), (n, many)):
                for i, r in enumerate(rs):
                    if r["failed"] or r["reasons"]:
                        notes.append(f"{s} {n:,} in {k:,} room(s) run {i + 1}: {r['failed']} "
                                     f"connections failed or dropped; {r['reasons']}")
    out.append("\nnchan and node have no presence: a join there is an upgrade on the room's URL.")
    return "\n".join(out + (["", *notes] if notes else []))


METRICS = [  # key, label, format
    ("dps", "deliveries/s", "{:,.0f}"),
    ("loss", "undelivered at the end of the 2 s drain, %", "{:.2f}"),
    ("p50", "end-to-end p50 ms", "{:.1f}"),
    ("p99", "end-to-end p99 ms", "{:.1f}"),
    ("cpu_m", "server CPU s per million deliveries (floor: µs per send)", "{:.2f}"),
    ("rss_conn", "server RSS per connection, bytes", "{:,.0f}"),
    ("cpu_conn", "server CPU to connect, s", "{:.2f}"),
    ("lg_s", "load generator CPU while sending + draining, s (floor: its reader's)", "{:.2f}"),
]


def cell(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-", None
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(med), med
    return f"{fmt.format(med)} ({fmt.format(min(vals))}-{fmt.format(max(vals))})", med


def table(results, args, servers):
    out = []
    peers = [s for s in servers if s != "confab"]
    for rate in args.rates:
        floor = ("floor", rate) in results
        if floor:
            out.append(f"\n1 room x {args.conns:,} subscribers, 1 publisher, {rate} msg/s "
                       f"({rate * args.conns:,} deliveries/s offered), {args.duration:g} s, "
                       f"{args.repeat} run(s) each: median (min-max)\n")
        else:  # the rooms scenario: publishers in rooms 0 .. pubs-1 only
            members = args.conns // ROOMS
            out.append(f"\n{ROOMS} rooms x {members} subscribers, {PUBS} publishers (one "
                       f"each in {PUBS} of the rooms), {rate} msg/s in total "
                       f"({rate * members:,} deliveries/s offered), {args.duration:g} s, "
                       f"{args.repeat} run(s) each: median (min-max)\n")
        head = ["figure"] + servers + ["floor"] * floor + [f"confab/{p}" for p in peers
                                                           if "confab" in servers]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for key, label, fmt in METRICS:
            row, med = [label], {}
            for s in servers:
                text, med[s] = cell([r[key] for r in results[(s, rate)]], fmt)
                row.append(text)
            if floor:
                row.append(cell([r[key] for r in results[("floor", rate)]], fmt)[0])
            if "confab" in servers:
                for p in peers:
                    ok = key != "loss" and med.get("confab") is not None and med.get(p)
                    row.append(f"{med['confab'] / med[p]:.3g}" if ok else "-")
            out.append("| " + " | ".join(row) + " |")
        # each run against the floor run of the same round: the machine's load then
        if floor:
            row = ["server CPU per delivery / floor (run by run)"]
            for s in servers:
                row.append(cell([r["cpu_m"] / f["cpu_m"] for r, f in
                                 zip(results[(s, rate)], results[("floor", rate)])
                                 if r["cpu_m"] is not None and f["cpu_m"]], "{:.2f}")[0])
            row += ["1"] + ["-"] * (len(head) - len(row) - 1)
            out.append("| " + " | ".join(row) + " |")
        notes = []
        for s in servers:
            for i, r in enumerate(results[(s, rate)]):
                if r["failed"] or r["reasons"]:
                    notes.append(f"{s} run {i + 1}: {r['failed']} connections failed or "
                                 f"dropped; {r['reasons']}")
                if r["dups"]:
                    notes.append(f"{s} run {i + 1}: {r['dups']} duplicate deliveries")
                if r["lg_cpu"] > 90:
                    notes.append(f"{s} run {i + 1}: the load generator was CPU-bound "
                                 f"({r['lg_cpu']:.0f} % of a core)")
        for i, f in enumerate(results.get(("floor", rate), [])):
            if f["short"] or f["behind"]:
                notes.append(f"floor run {i + 1}: the sender fell behind ({f['dps']:,.0f} "
                             f"sends/s of {rate * args.conns:,} offered, {f['short']} sends "
                             f"short): the machine's other load took its core")
        out += ["", *notes] if notes else []
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", choices=SCENARIOS + ("all",), default="fanout",
                    help="all: each scenario in turn with its defaults (with --quick, --repeat, "
                    "--build, --nchan-publisher, --out)")
    ap.add_argument("--quick", action="store_true",
                    help="fanout, rooms: one 3 s run at 100 msg/s (rooms: 1000); idle: one run "
                    "at 1000,5000; fill, storm: one run (storm: of 1000)")
    ap.add_argument("--rates", help="fanout: comma-separated msg/s (default 100,500); rooms: "
                    "in total over the publishers (default 1000)")
    ap.add_argument("--counts", help="idle, fill, storm: comma-separated connections "
                    "(default idle 1000,5000,10000,18000; fill 1000; storm 10000)")
    ap.add_argument("--ramp", type=int,
                    help="idle, fill, storm: connection attempts/s, 0: all at once (default "
                    "2000; storm 0)")
    ap.add_argument("--duration", type=float,
                    help="seconds of sending per run (default 10), idle, fill and storm: of "
                    "holding (default 2)")
    ap.add_argument("--repeat", type=int, help="runs per server and rate or count (default 3)")
    ap.add_argument("--conns", type=int, help="fanout: subscribers (default 1000); rooms: "
                    f"subscribers, --conns/{ROOMS} in each of {ROOMS} rooms (default 5000)")
    ap.add_argument("--servers", help="default confab,nchan,node (fill, rooms, storm: confab,"
                    "confab.v1,nchan,node); confab.v1 is taken by every scenario")
    ap.add_argument("--nchan-publisher", choices=("http", "websocket"), default="http",
                    help="how the publisher reaches nchan (default http)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--out", help="write every run's figures as JSON here")
    args = ap.parse_args()
    if args.scenario == "all":
        return main_all(args)
    if args.scenario == "deflate":
        return main_deflate(args)
    sc, q = args.scenario, args.quick
    fill, rooms, storm = sc == "fill", sc == "rooms", sc == "storm"
    idle = sc in ("idle", "fill", "storm")  # these hold idle connections
    args.rates = [int(x) for x in (args.rates or ("1000" if rooms else "100" if q else
                                                  "100,500")).split(",")]
    args.counts = [int(x) for x in (args.counts or ("1000" if fill or storm and q else
                                                    "10000" if storm else "1000,5000" if q
                                                    else "1000,5000,10000,18000")).split(",")]
    args.conns = args.conns or (10 * ROOMS if rooms else 1000)
    args.ramp = (0 if storm else 2000) if args.ramp is None else args.ramp
    args.duration = args.duration or (2 if idle else 3 if q else 10)
    args.repeat = args.repeat or (1 if q else 3)
    known = FILL_SERVERS  # fanout and idle default to SERVERS but take confab.v1 too
    default = FILL_SERVERS if fill or rooms or storm else SERVERS
    servers = [s for s in (args.servers or ",".join(default)).split(",") if s]
    if any(s not in known for s in servers) or not servers:
        die(f"--servers: a list of {','.join(known)}")
    if rooms and not ROOMS <= args.conns <= 18000 - PUBS:
        die(f"rooms --conns: {ROOMS}-{18000 - PUBS}")
    if not (1 <= args.repeat <= 20 and 0 < args.duration <= 600 and 1 <= args.conns <= 18000
            and all(1 <= r <= 100000 for r in args.rates) and len(args.rates) <= 10):
        die("--repeat 1-20, --duration up to 600, --conns up to 18000, up to 10 rates")
    if not (all(10 <= n <= 18000 for n in args.counts) and len(args.counts) <= 10
            and (not idle or args.duration <= 10) and 0 <= args.ramp <= 100000):
        die("--counts: up to 10 counts of 10-18000; idle --duration up to 10; --ramp 0-100000")
    args.build = os.path.abspath(args.build)
    ensure_build(args.build)
    if "nchan" in servers:
        ensure_nchan()
    if fill:
        results = main_fill(args, servers)
    elif storm:
        results = main_storm(args, servers)
    elif idle:
        results = main_idle(args, servers)
    elif rooms:
        results = main_fanout(args, servers, rooms=ROOMS, pubs=PUBS)
    else:
        results = main_fanout(args, servers)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    print(f"bench/peers.py --scenario {args.scenario} at {commit}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {os.getloadavg()[0]:.1f}"
          + ("" if idle else f", nchan publisher: {args.nchan_publisher}"))
    if fill:
        print(fill_table(results, args, servers))
    elif storm:
        ramp = f"{args.ramp:,} connection attempts/s" if args.ramp else "all at once"
        print(idle_table(results, args, servers, STORM_METRICS,
                         f"N idle connections in N/10 rooms ({ramp}), all dropped at once "
                         f"(the loadgen SIGKILLed), then reconnected ({ramp}) and held "
                         f"{args.duration:g} s"))
    elif idle:
        print(idle_table(results, args, servers))
    else:
        print(table(results, args, servers))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({" ".join(map(str, k)): v for k, v in results.items()}, f, indent=1)


def main_all(args):
    """--scenario all: this script once per scenario, one after the other, each with its own
    defaults (rates, counts, servers), so that one command runs every scenario against confab
    and its peers. The options that would mean different things per scenario are refused."""
    per = ("rates", "counts", "ramp", "duration", "conns", "servers")
    given = [o for o in per if getattr(args, o) is not None]
    if given:
        die("--scenario all takes its scenarios' defaults: drop --" + ", --".join(given))
    failed = []
    for sc in SCENARIOS:
        cmd = [sys.executable, os.path.abspath(__file__), "--scenario", sc, "--build", args.build,
               "--nchan-publisher", args.nchan_publisher]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--repeat", str(args.repeat)] if args.repeat else []
        cmd += ["--out", f"{args.out}.{sc}.json"] if args.out else []
        log(f"== --scenario {sc}")
        sys.stdout.flush()
        if subprocess.run(cmd).returncode:
            failed.append(sc)
        print(flush=True)
    if failed:
        die("failed: " + ", ".join(failed))


def rounds(args, servers, cells, run, after_round=None):
    """Every scenario's loop: for each cell, args.repeat rounds of run(server, cell, node_dir,
    tmp) for each server, then after_round(cell, node_dir, tmp); interleaved so that a noisy
    machine spreads over all servers. run and after_round return a list of (results key,
    figures, log line); returns {key: [figures of each round]}."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="confab-peers.") as tmp:
        node_dir = ensure_node(tmp) if "node" in servers else None
        for cell in cells:
            for i in range(args.repeat):
                done = [x for s in servers for x in run(s, cell, node_dir, tmp)]
                done += after_round(cell, node_dir, tmp) if after_round else []
                for key, r, line in done:
                    results.setdefault(key, []).append(r)
                    log(f"{line} (run {i + 1})")
    return results


def main_idle(args, servers):
    def run(s, n, node_dir, tmp):
        r = run_idle(args, s, n, node_dir, tmp)
        return [((s, n), r, f"{s:9} idle {n}: connect {r['cpu_conn'] or 0:.2f} s "
                 f"({r['us_conn'] or 0:.0f} us each), {r['rss_conn'] or 0:,.0f} B each, "
                 f"{r['failed']} failed")]
    return rounds(args, servers, args.counts, run)


def main_fill(args, servers):
    def run(s, n, node_dir, tmp):
        out = []
        for k in (1, n):
            r = run_idle(args, s, n, node_dir, tmp, rooms=k)
            out.append(((s, n, k), r, f"{s:9} fill {n} in {k} room(s): "
                        f"{r['cpu_fill'] or 0:.2f} s, {r['failed']} failed"))
        return out
    return rounds(args, servers, args.counts, run)


def main_storm(args, servers):
    def run(s, n, node_dir, tmp):
        r = run_storm(args, s, n, node_dir, tmp)
        return [((s, n), r, f"{s:9} storm {n}: first {r['cpu_first']:.2f} s, drop "
                 f"{r['cpu_drop']:.2f} s in {r['drop_wall']:.2f} s, reconnect "
                 f"{r['cpu_re'] or 0:.2f} s, {r['failed']} failed")]
    return rounds(args, servers, args.counts, run)


def main_fanout(args, servers, rooms=1, pubs=1):
    """Fan-out (1 room, 1 publisher, with the floor) or, with rooms and pubs, the rooms
    scenario (no floor: its sends do not go to one room's members)."""
    def run(s, rate, node_dir, tmp):
        r = run_one(args, s, rate, node_dir, tmp, rooms=rooms, pubs=pubs)
        return [((s, rate), r, f"{s:9} {rate} msg/s: {r['dps']:,.0f}/s, loss "
                 f"{r['loss']:.2f} %, p50/p99 {r['p50']:.1f}/{r['p99']:.1f} ms, "
                 f"{r['cpu_m'] or 0:.2f} s per million")]

    def floor(rate, node_dir, tmp):
        f = run_floor(args, rate)
        return [(("floor", rate), f, f"floor     {rate} msg/s: {f['dps']:,.0f} sends/s, "
                 f"{f['cpu_m']:.2f} us per send, reader {f['lg_s']:.2f} s")]
    return rounds(args, servers, args.rates, run, floor if rooms == 1 else None)


# --scenario deflate: (subscribers, msg/s) of the sending cells, the idle count, the text.
DEFLATE_CELLS = ((1000, 100), (100, 2000))
DEFLATE_IDLE = 2000
DEFLATE_KINDS = ("plain", "deflate")
DEFLATE_SIZE = 100


def deflate_corpus(tmp):
    """The chat text: the repository's own prose, README.md and docs/*.md, one file."""
    path = os.path.join(tmp, "corpus.txt")
    docs = os.path.join(ROOT, "docs")
    with open(path, "w") as out:
        for name in ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(docs)
                                           if f.endswith(".md")):
            with open(os.path.join(ROOT, name)) as f:
                out.write(f.read())
    return path


def run_deflate(args, kind, cell, tmp, corpus):
    """One cell on a fresh confabd: (subscribers, rate) sending, or (N, None) idle."""
    n, rate = cell
    d = kind == "deflate"
    srv = Server("confab", args, tmp, None, " deflate=on" if d else "")
    lg = [os.path.join(args.build, "confab-loadgen"), "--port", str(srv.port), "--conns",
          str(n), "--server-pid", str(srv.measure_pid), "--json", "--quiet"]
    lg += ["--deflate"] if d else []
    try:
        if rate is None:
            cmd = lg + ["--idle", "--rooms", str(n // 10), "--duration", "2",
                        "--src-addrs", str(max(1, -(-n // 250)))]
            limit = 15 + n / 2000 + 2 + 60
        else:
            cmd = lg + ["--pubs", "1", "--rate", str(rate), "--duration", str(args.duration),
                        "--size", str(args.size), "--text", corpus]
            limit = 15 + n / 2000 + args.duration + 2 + 60
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=limit)
    finally:
        srv.stop()
    r = loadgen_result(p, "confab " + kind)
    ready = r["ready"] or 1
    start, end = r["server_rss_start_kib"], r["server_rss_end_kib"]
    out = {
        "rss_conn": r["server_rss_per_conn_kib"] * 1024
        if r["server_rss_per_conn_kib"] is not None else None,
        "failed": r["failed"] + r["dropped"],
        "reasons": r["reasons"],
    }
    if rate is None:
        return out
    recv = r["received"] or 1
    out.update({
        "dps": r["deliveries_per_s"],
        "loss": 100.0 * r["loss"] / (r["expected"] or 1),
        "p50": r["latency_us"]["p50"] / 1000,
        "p99": r["latency_us"]["p99"] / 1000,
        "cpu_m": r["server_cpu_s_per_m_deliveries"],
        "wire": r["sub_wire_bytes"] / recv,
        "payload": r["sub_payload_bytes"] / recv,
        "rss_end": (end - start) * 1024 / ready if start is not None and end is not None
        else None,
        "lg_cpu": 100.0 * r["loadgen_cpu_msgs_s"] / (args.duration + 2),
    })
    return out


DEFLATE_METRICS = [  # key, label, format
    ("wire", "bytes read per delivery (the wire)", "{:.1f}"),
    ("payload", "bytes of message per delivery", "{:.1f}"),
    ("cpu_m", "server CPU s per million deliveries", "{:.2f}"),
    ("dps", "deliveries/s", "{:,.0f}"),
    ("loss", "undelivered at the end of the 2 s drain, %", "{:.2f}"),
    ("p50", "end-to-end p50 ms", "{:.1f}"),
    ("p99", "end-to-end p99 ms", "{:.1f}"),
    ("rss_conn", "server RSS per connection once joined, bytes", "{:,.0f}"),
    ("rss_end", "server RSS per connection after the traffic, bytes", "{:,.0f}"),
]


def deflate_table(results, args):
    out = []
    for c in DEFLATE_CELLS + ((DEFLATE_IDLE, None),):
        n, rate = c
        if rate is None:
            out.append(f"\n{n:,} idle subscribers in {n // 10} rooms, held 2 s, {args.repeat} "
                       f"run(s) each: median (min-max)\n")
            metrics = [m for m in DEFLATE_METRICS if m[0] == "rss_conn"]
        else:
            out.append(f"\n1 room x {n:,} subscribers, 1 publisher, {rate:,} msg/s "
                       f"({n * rate:,} deliveries/s offered), {args.size} bytes of text, "
                       f"{args.duration:g} s, {args.repeat} run(s) each: median (min-max)\n")
            metrics = DEFLATE_METRICS
        out.append("| figure | plain | deflate | deflate/plain |")
        out.append("|---|---|---|---|")
        for key, label, fmt in metrics:
            row, med = [label], {}
            for k in DEFLATE_KINDS:
                text, med[k] = cell([r.get(key) for r in results[(k, c)]], fmt)
                row.append(text)
            ok = key != "loss" and med["plain"] and med["deflate"] is not None
            row.append(f"{med['deflate'] / med['plain']:.2f}" if ok else "-")
            out.append("| " + " | ".join(row) + " |")
        if rate is not None:
            row = ["CPU per delivery, deflate / plain (run by run)", "", ""]
            row.append(cell([d["cpu_m"] / p["cpu_m"] for p, d in
                                 zip(results[("plain", c)], results[("deflate", c)])
                                 if p["cpu_m"] and d["cpu_m"] is not None], "{:.2f}")[0])
            out.append("| " + " | ".join(row) + " |")
        for k in DEFLATE_KINDS:
            for i, r in enumerate(results[(k, c)]):
                if r["failed"] or r["reasons"]:
                    out.append(f"\n{k} run {i + 1}: {r['failed']} connections failed or "
                               f"dropped; {r['reasons']}")
                if r.get("lg_cpu", 0) > 90:
                    out.append(f"\n{k} run {i + 1}: the load generator was CPU-bound "
                               f"({r['lg_cpu']:.0f} % of a core)")
    return "\n".join(out)


def main_deflate(args):
    """--scenario deflate (see the top of this file)."""
    given = [o for o in ("rates", "counts", "ramp", "conns", "servers") if getattr(args, o)]
    if given:
        die("--scenario deflate has its own cells: drop --" + ", --".join(given))
    args.duration = args.duration or (3 if args.quick else 10)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.size = DEFLATE_SIZE
    if not (1 <= args.repeat <= 20 and 0 < args.duration <= 600):
        die("--repeat 1-20, --duration up to 600")
    args.build = os.path.abspath(args.build)
    ensure_build(args.build)
    results = {}
    with tempfile.TemporaryDirectory(prefix="confab-deflate.") as tmp:
        corpus = deflate_corpus(tmp)
        for cell in DEFLATE_CELLS + ((DEFLATE_IDLE, None),):
            for i in range(args.repeat):
                for k in DEFLATE_KINDS:
                    r = run_deflate(args, k, cell, tmp, corpus)
                    results.setdefault((k, cell), []).append(r)
                    what = (f"{cell[0]} idle" if cell[1] is None else
                            f"{cell[0]} x {cell[1]} msg/s: {r['wire']:.1f} B/delivery, "
                            f"{r['cpu_m'] or 0:.2f} s per million")
                    log(f"{k:8} {what}, {r['rss_conn'] or 0:,.0f} B/conn (run {i + 1})")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    print(f"bench/peers.py --scenario deflate at {commit}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(deflate_table(results, args))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({f"{k} {c[0]} {c[1]}": v for (k, c), v in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
