# SPDX-License-Identifier: MIT
"""Hostile clients: client bytes in the log (issue 12, item 9). A refused Origin is logged; an
attacker who puts terminal escape sequences, C1 controls or bidi controls in it must not reach
the operator's terminal or journal with them: log.c escapes every line (cf_text_escape()).
Meanwhile another client's chat and /healthz are unaffected."""
import socket

from confabtest import T, poll_until_sync
from test_hostile_names import Bystanders

ALLOWED = "https://chat.example"


def refused_handshake(port, origin):
    """An upgrade with a raw Origin header; returns the status line and the body."""
    req = (b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: confab.v1\r\n"
           b"Origin: " + origin + b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=T(10)) as s:
        s.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0], data


def log_bytes(server):
    with open(server.log_path, "rb") as f:
        return f.read()


async def test_origin_escape_sequences_are_escaped_in_the_log(start_server):
    s = start_server({("server", "origins"): ALLOWED})
    by = await Bystanders(s, origin=ALLOWED).start()
    attacks = [
        # CSI sequences that recolour or clear the operator's terminal.
        (b"https://evil\x1b[31mRED\x1b[0m\x1b[2J", b"https://evil\\x1b[31mRED\\x1b[0m\\x1b[2J"),
        # A C1 CSI as a raw byte (a VT220's one-byte ESC [), and as UTF-8; DEL; VT and FF.
        (b"https://c1\x9b31m\xc2\x9b32m\x7f\x0b\x0c", b"https://c1\\x9b31m\\u009b32m\\x7f\\x0b\\x0c"),
        # A bidi override that reverses what follows, and a zero-width space.
        (b"https://\xe2\x80\xaelivE\xe2\x80\x8bx", b"https://\\u202elivE\\u200bx"),
        # A line break to forge a second log line: lws ends the header at CR or LF, so the
        # rest never reaches the log as a line of its own.
        (b"https://nl\x1b[1A\rforged-line: 1\nX-Forged: 1", b"https://nl\\x1b[1A"),
    ]
    for raw, escaped in attacks:
        status, _ = refused_handshake(s.port, raw)
        assert status == b"HTTP/1.1 403 Forbidden", status
        want = b"handshake refused: origin '" + escaped + b"' not allowed"
        poll_until_sync(lambda: want in log_bytes(s), T(10), what=f"log line {want!r}")
        await by.check()
    log = log_bytes(s)
    assert b"\x1b" not in log, log[-2000:]
    assert b"\x9b" not in log and b"\xc2\x9b" not in log, log[-2000:]
    assert b"\xe2\x80\xae" not in log and b"\xe2\x80\x8b" not in log, log[-2000:]
    assert b"\x0b" not in log and b"\x0c" not in log and b"\x7f" not in log
    assert not any(line.startswith(b"forged") for line in log.split(b"\n")), log[-2000:]
    # Every line is one "<N>" prefixed line.
    for line in log.rstrip(b"\n").split(b"\n"):
        assert line[:1] == b"<" and b">" in line[:4], line
    await by.close()


async def test_origin_is_escaped_in_the_journal_fields(start_server, tmp_path):
    """Under systemd the line goes to journald natively (MESSAGE= and CONFAB_* fields):
    escaped the same way."""
    jdir = tmp_path / "run-systemd"
    (jdir / "journal").mkdir(parents=True)
    jsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    jsock.bind(str(jdir / "journal" / "socket"))
    jsock.setblocking(False)
    datagrams = []

    def received():
        while True:
            try:
                datagrams.append(jsock.recv(65536))
            except BlockingIOError:
                return [d for d in datagrams if b"CONFAB_EVENT=origin_refused" in d]
    try:
        s = start_server({("server", "origins"): ALLOWED}, journal_dir=str(jdir))
        by = await Bystanders(s, origin=ALLOWED).start()
        status, _ = refused_handshake(s.port, b"https://j\x1b]0;owned\x07\x9b\xe2\x80\xae")
        assert status == b"HTTP/1.1 403 Forbidden", status
        (d,) = poll_until_sync(received, T(10), what="the origin_refused journal entry")
        assert b"MESSAGE=handshake refused: origin 'https://j\\x1b]0;owned\\x07\\x9b\\u202e'" \
            b" not allowed\n" in d, d
        assert b"\x1b" not in d and b"\x07" not in d and b"\x9b" not in d, d
        assert b"\xe2\x80\xae" not in d, d
        await by.check()
        await by.close()
    finally:
        jsock.close()
