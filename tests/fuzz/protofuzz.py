#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""protofuzz.py - a protocol fuzzer against the real confabd binary (issue 12, item 17).

Starts confabd on 127.0.0.1 (three listeners: the default dialects, seed 001, seed 004) and
sends it batches of hostile connections: mutated HTTP requests, pipelined requests (in one
write or split anywhere), WebSocket upgrades followed by frames with every opcode, reserved
bits, fragmentation, masked and unmasked, 7/16/64-bit and non-minimal lengths, lengths that
lie, oversized control frames, and slow, half-closed and reset clients. After every batch it
checks that the process lives, that /healthz answers and that a normal confab.v1 client still
chats (hello, join, send, and its own message back). A process exit or a check that does not
pass within its timeout (a hang) fails the run, with the seed and the batch's cases.

Bounded in time (--seconds) and count (--max-cases); the RNG is seeded (--seed, printed), so a
failing run can be replayed. Only 127.0.0.1. Standard library only.

    tests/fuzz/protofuzz.py [--confabd build/confabd] [--seconds 60] [--seed N]
"""
import argparse
import concurrent.futures
import base64
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
ADMIN = "protofuzz-admin-token"
CHECK_TIMEOUT = 10.0  # /healthz and the chat check, each
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the server ----------------------------------------------------------------------------

class Server:
    def __init__(self, confabd, workdir, valgrind=False):
        self.ports = [free_port() for _ in range(3)]
        self.dir = workdir
        state = os.path.join(workdir, "state")
        conf = os.path.join(workdir, "confab.conf")
        with open(conf, "w") as f:
            f.write("[server]\n")
            f.write(f"listen = 127.0.0.1:{self.ports[0]} "
                    "dialects=native,disposable_chat,chatty,texto\n")
            f.write(f"listen = 127.0.0.1:{self.ports[1]} dialects=redis_chat\n")
            f.write(f"listen = 127.0.0.1:{self.ports[2]} dialects=ttu\n")
            f.write(f"www_dir = {os.path.join(REPO, 'www')}\n")
            f.write(f"admin_token = {ADMIN}\n")
            f.write("handshake_timeout = 5\n")
            f.write(f"[state]\ndir = {state}\n")
            f.write("[log]\nlevel = error\n")
            f.write("[dialects]\ndisposable_chat = 1\nchatty = 1\ntexto = 1\n")
        self.log = open(os.path.join(workdir, "confabd.log"), "wb")
        cmd = [confabd, "-c", conf]
        if valgrind:
            cmd = ["valgrind", "-q", "--error-exitcode=99"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Stops it with SIGTERM; its exit status (0, or what the sanitizers or valgrind
        report at exit), or None when it had to be killed."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log.close()
                return None
        self.log.close()
        return self.proc.returncode

    def log_tail(self, n=4000):
        with open(os.path.join(self.dir, "confabd.log"), "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")


# ---- a minimal client for the checks -------------------------------------------------------

def http_get(port, path, timeout):
    """The status of GET path, or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def ws_frame(payload, opcode=1, fin=True, mask=True, rsv=0, length=None, min_len=True,
             rng=random):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | (opcode & 15)
    mbit = 0x80 if mask else 0
    if n < 126 and min_len:
        head = bytes([b0, mbit | n])
    elif n < 65536 and (min_len or rng.random() < 0.5):
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = bytes(rng.getrandbits(8) for _ in range(4))
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


class WS:
    """A blocking WebSocket client: enough for the chat check."""

    def __init__(self, port, path, timeout, protocol=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        extra = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else ""
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
                        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError("handshake refused: " + head.split(b"\r\n")[0].decode())

    def send(self, obj):
        self.s.sendall(ws_frame(json.dumps(obj).encode()))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def recv(self):
        self._need(2)
        n = self.buf[1] & 127
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack(">H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack(">Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n)
        op, data = self.buf[0] & 15, self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return op, data

    def close(self):
        self.s.close()


def check_chat(port, n, timeout):
    """A normal confab.v1 client says hello, joins, sends, and gets its message back."""
    deadline = time.monotonic() + timeout
    room, text = f"check{n}", f"still chatting {n}"
    ws = WS(port, "/v1/ws", timeout, "confab.v1")
    try:
        ws.send({"op": "hello", "id": 1, "name": f"checker{n}"})
        ws.send({"op": "join", "id": 2, "room": room})
        ws.send({"op": "send", "id": 3, "room": room, "text": text})
        while time.monotonic() < deadline:
            op, data = ws.recv()
            if op != 1:
                continue
            for line in data.split(b"\n"):
                ev = json.loads(line)
                if ev.get("ev") == "msg" and ev.get("text") == text:
                    return
                if "error" in ev:
                    raise AssertionError(f"chat check: error {ev}")
        raise AssertionError("chat check: own message not received")
    finally:
        ws.close()


# ---- the cases ------------------------------------------------------------------------------

UUID = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
# (listener index, path, frames a client of that endpoint sends)
ENDPOINTS = [
    (0, "/v1/ws", [b'{"op":"hello","id":1,"name":"fz"}', b'{"op":"join","id":2,"room":"fz"}',
                   b'{"op":"send","id":3,"room":"fz","text":"x"}',
                   b'{"op":"history","id":4,"room":"fz","limit":5}',
                   b'{"op":"dm","id":5,"to":"checker0","text":"x"}']),
    (0, "/ws?name=fuzzer&room=fuzzroom", [b'{"text":"hi"}']),
    (0, "/v1/texto", [('{"kind":"registration","id":"%s","client_id":"%s"}' % (UUID, UUID))
                      .encode()]),
    (1, "/ws", [b'{"type":"login","login":{"username":"fz"}}',
                b'{"type":"channelJoin","channelJoin":{"channel":"general"}}']),
    (2, "/ws", [b"username:fz", b"username:" + b"\xc3\xa9" * 10]),
]

HTTP_BASES = [
    (0, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    (0, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
    (0, b"GET /api/v1/rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ADMIN.encode()
        + b"\r\n\r\n"),
    (0, b"POST /api/v1/rooms/fz/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + ADMIN.encode() + b"\r\nContent-Length: 13\r\n\r\n{\"text\":\"hi\"}"),
    (0, b"POST /api/v1/users/fz/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + ADMIN.encode() + b"\r\nContent-Length: 13\r\n\r\n{\"text\":\"hi\"}"),
    (0, b"POST /chat?name=fz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    (0, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
    (0, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
    (1, b"GET /links HTTP/1.1\r\nHost: x\r\n\r\n"),
    (2, b"POST /api/send HTTP/1.1\r\nHost: x\r\nX-Username: fz\r\nContent-Length: 42\r\n\r\n"
        b"{\"receiver\":\"b\",\"sender\":\"fz\",\"payload\":1}"),
    (2, b"OPTIONS /api/send HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\n\r\n"),
]

NASTY = [b"\x00", b"\r\n", b"\r\n\r\n", b"%", b"%00", b"%ff", b"..", b"/../", b"?", b"&",
         b"=", b" ", b"\t", b":", b"\xff\xfe", b"\xe2\x80\xae", b"A" * 300, b"A" * 5000,
         b"Content-Length: 5\r\n", b"Content-Length: -1\r\n", b"Content-Length: 99999999999\r\n",
         b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", b"X-Forwarded-For: " + b"1," * 400
         + b"\r\n", b"Origin: null\r\n", b"Upgrade: websocket\r\n", b"Connection: Upgrade\r\n",
         b"Sec-WebSocket-Version: 8\r\n", b"Expect: 100-continue\r\n", b"HTTP/1.0", b"HTTP/2.0"]


def mutate(rng, data, rounds=None):
    b = bytearray(data)
    for _ in range(rounds or rng.randint(1, 6)):
        k = rng.randrange(7)
        pos = rng.randint(0, len(b))
        if k == 0 and b:
            b[rng.randrange(len(b))] = rng.getrandbits(8)
        elif k == 1:
            b[pos:pos] = rng.choice(NASTY)
        elif k == 2 and b:
            end = min(len(b), pos + rng.randint(1, 40))
            del b[pos:end]
        elif k == 3 and b:
            end = min(len(b), pos + rng.randint(1, 60))
            b[pos:pos] = b[pos:end] * rng.randint(1, 20)
        elif k == 4:
            b[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 30)))
        elif k == 5 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif k == 6:
            b[pos:pos] = rng.choice(NASTY) * rng.randint(1, 50)
    return bytes(b)


def upgrade_request(rng, path):
    version = b"13" if rng.random() < 0.9 else rng.choice([b"8", b"0", b"", b"13, 8", b"99"])
    key = KEY.encode() if rng.random() < 0.9 else rng.choice(
        [b"", b"short", b"!" * 24, base64.b64encode(os.urandom(rng.randint(0, 30)))])
    method = b"GET" if rng.random() < 0.95 else rng.choice([b"POST", b"PUT", b"HEAD"])
    req = (method + b" " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
           b"\r\nSec-WebSocket-Version: " + version + b"\r\n")
    if rng.random() < 0.3:
        req += b"Sec-WebSocket-Protocol: confab.v1\r\n"
    if rng.random() < 0.2:
        req += b"X-Forwarded-For: " + rng.choice([b"1.2.3.4", b"x" * 600, b"::1, 10.0.0.1"]) \
            + b"\r\n"
    if rng.random() < 0.2:
        req += b"Origin: " + rng.choice([b"http://evil", b"null", b"\x1b[31m"]) + b"\r\n"
    req += b"\r\n"
    return mutate(rng, req, 1) if rng.random() < 0.1 else req


def random_frames(rng, seeds):
    """WebSocket frames: every opcode, reserved bits, fragments, masks and lengths."""
    out = []
    for _ in range(rng.randint(1, 12)):
        k = rng.random()
        payload = rng.choice(seeds)
        if rng.random() < 0.4:
            payload = mutate(rng, payload)
        if k < 0.35:  # a plain text message
            out.append(ws_frame(payload, rng=rng))
        elif k < 0.5:  # fragmented, maybe with a control frame in between
            cut = sorted(rng.randint(0, len(payload)) for _ in range(rng.randint(1, 3)))
            parts = [payload[i:j] for i, j in zip([0] + cut, cut + [len(payload)])]
            for i, part in enumerate(parts):
                out.append(ws_frame(part, opcode=rng.choice([1, 2]) if i == 0 else 0,
                                    fin=i == len(parts) - 1, rng=rng))
                if rng.random() < 0.3:
                    out.append(ws_frame(b"p", opcode=rng.choice([9, 10]), rng=rng))
        elif k < 0.65:  # any opcode, reserved bits, fin
            out.append(ws_frame(payload[:rng.choice([0, 10, 125, 126, 200])],
                                opcode=rng.randrange(16), fin=rng.random() < 0.7,
                                rsv=rng.randrange(8) if rng.random() < 0.3 else 0, rng=rng))
        elif k < 0.75:  # unmasked, or a non-minimal length
            out.append(ws_frame(payload, mask=rng.random() < 0.5, min_len=False, rng=rng))
        elif k < 0.85:  # a length that lies
            out.append(ws_frame(payload, length=rng.choice(
                [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 1 << 31, (1 << 63) - 1, 1 << 63]),
                rng=rng)[:rng.randint(2, 200)])
        elif k < 0.92:  # a close frame, well-formed or not
            body = rng.choice([b"", b"\x03", b"\x03\xe8", b"\x03\xe8bye", b"\x00\x00",
                               b"\x03\xe8\xff\xfe", struct.pack(">H", rng.randrange(65536))])
            out.append(ws_frame(body, opcode=8, rng=rng))
        else:  # big binary or invalid UTF-8 text
            out.append(ws_frame(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000))),
                                opcode=rng.choice([1, 2]), rng=rng))
    return out


CLASSES = ("http", "pipeline", "ws")


def case(rng, classes=CLASSES):
    """One hostile connection: (listener, [chunks to write], behaviour)."""
    k = rng.choice(classes)
    how = rng.choices(["normal", "slow", "halfclose", "reset", "noread"],
                      weights=[60, 10, 15, 10, 5])[0]
    if k == "http":  # a mutated request
        li, req = rng.choice(HTTP_BASES)
        return li, [mutate(rng, req)], how
    if k == "pipeline":  # pipelined requests
        reqs = [rng.choice(HTTP_BASES) for _ in range(rng.randint(2, 4))]
        li = reqs[0][0]
        blob = b"".join(r for _, r in reqs)
        if rng.random() < 0.3:
            blob = mutate(rng, blob, 1)
        if rng.random() < 0.5:
            cuts = sorted(rng.randint(0, len(blob)) for _ in range(rng.randint(1, 4)))
            return li, [blob[i:j] for i, j in zip([0] + cuts, cuts + [len(blob)])], how
        return li, [blob], how
    li, path, seeds = rng.choice(ENDPOINTS)
    chunks = [upgrade_request(rng, path)]
    if rng.random() < 0.3:  # a pipelined upgrade: frames in the same write
        chunks[0] += b"".join(random_frames(rng, seeds))
    else:
        chunks += random_frames(rng, seeds)
    return li, chunks, how


def run_case(srv, li, chunks, how, rng):
    try:
        s = socket.create_connection(("127.0.0.1", srv.ports[li]), timeout=2)
    except OSError:
        return
    s.settimeout(0.1)
    try:
        for c in chunks:
            if how == "slow":
                for i in range(0, len(c), max(1, len(c) // 8)):
                    s.sendall(c[i:i + max(1, len(c) // 8)])
                    time.sleep(0.005)
            else:
                s.sendall(c)
        if how == "halfclose":
            s.shutdown(socket.SHUT_WR)
        if how == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if how != "noread":
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                if not s.recv(65536):
                    break
    except OSError:
        pass
    finally:
        s.close()


def check(srv, n):
    """None when the server passes, else why not."""
    if not srv.alive():
        return f"confabd exited with status {srv.proc.returncode}"
    deadline = time.monotonic() + CHECK_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        if not srv.alive():
            return f"confabd exited with status {srv.proc.returncode}"
        try:
            if http_get(srv.ports[0], "/healthz", 2) == 200:
                check_chat(srv.ports[0], n, max(1.0, deadline - time.monotonic()))
                return None
            last = "/healthz did not answer 200"
        except (OSError, ConnectionError, AssertionError, ValueError) as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.1)
    return f"hang: no healthy answer within {CHECK_TIMEOUT:.0f} s ({last})"


def replay(args):
    work = tempfile.mkdtemp(prefix="confab-protofuzz-")
    srv = Server(os.path.abspath(args.confabd), work)
    rng = random.Random(0)
    try:
        if check(srv, 0):
            raise SystemExit("protofuzz: the server did not start")
        for i, name in enumerate(sorted(os.listdir(args.replay))):
            li = int(name.split("listener")[1][0])
            how = name.rsplit("-", 1)[1].split(".")[0]
            with open(os.path.join(args.replay, name), "rb") as f:
                run_case(srv, li, [f.read()], how, rng)
            why = check(srv, i + 1)
            if why:
                print(f"protofuzz: {name} fails the server: {why}", file=sys.stderr)
                return 1
    finally:
        srv.stop()
    print("protofuzz: every case of the batch passed alone")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--confabd", default=os.environ.get("CONFABD")
                    or os.path.join(REPO, "build", "confabd"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-cases", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--parallel", type=int, default=16, help="connections at once")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--keep", help="directory where a failing batch is written")
    ap.add_argument("--replay", help="a failing batch's directory: send its cases one by one, "
                    "checking the server after each, and name the first that fails")
    ap.add_argument("--classes", default=",".join(CLASSES),
                    help="for triage: the kinds of cases to send (default: all of "
                    + ", ".join(CLASSES) + ")")
    args = ap.parse_args()
    classes = tuple(c for c in args.classes.split(",") if c in CLASSES) or CLASSES
    if args.replay:
        return replay(args)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"protofuzz: seed {seed} ({args.seconds:.0f} s, at most {args.max_cases} cases)",
          flush=True)
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="confab-protofuzz-")
    srv = Server(os.path.abspath(args.confabd), work)
    failed = None
    cases = batches = 0
    try:
        why = check(srv, 0)
        if why:
            raise SystemExit(f"protofuzz: the server did not start: {why}\n{srv.log_tail()}")
        end = time.monotonic() + args.seconds
        while time.monotonic() < end and cases < args.max_cases and not failed:
            batch = [case(rng, classes) for _ in range(min(args.batch, args.max_cases - cases))]
            # Several connections at once, as attackers come: each case has its own RNG.
            with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
                list(pool.map(lambda c: run_case(srv, *c[1], random.Random(c[0])),
                              [(rng.getrandbits(32), c) for c in batch]))
            cases += len(batch)
            batches += 1
            t = time.monotonic()
            why = check(srv, batches)
            if args.verbose:
                print(f"protofuzz: batch {batches}: {len(batch)} cases, checked in "
                      f"{time.monotonic() - t:.1f} s", flush=True)
            if why:
                failed = (why, batch)
    finally:
        status = srv.stop()
    if not failed and status != 0:
        failed = (f"confabd exited with status {status} after SIGTERM (a sanitizer report at "
                  "exit, or no exit)" if status is not None else
                  "confabd ignored SIGTERM for 30 s", [])
    if failed:
        why, batch = failed
        print(f"protofuzz: FAILED after {cases} cases (seed {seed}, batch {batches}): {why}",
              file=sys.stderr)
        keep = args.keep or work
        os.makedirs(keep, exist_ok=True)
        for i, (li, chunks, how) in enumerate(batch):
            with open(os.path.join(keep, f"case-{i:03d}-listener{li}-{how}.bin"), "wb") as f:
                f.write(b"".join(chunks))
        print(f"protofuzz: the batch's {len(batch)} cases are in {keep}; confabd's log:\n"
              + srv.log_tail(), file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"protofuzz: {cases} cases in {batches} batches, no crash or hang (seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
