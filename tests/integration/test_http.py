# SPDX-License-Identifier: MIT
"""HTTP on the WebSocket port: /healthz, /metrics, the REST API, the web client."""
import json
import os
import re

import pytest
import requests

from confabtest import (ADMIN_TOKEN, Client, T, assert_consecutive, assert_json_error, close_all,
                        parse_metrics, poll_until_sync, quote_room, raw_http, uniq)

SHARED_CONF = {}

COUNTERS = ["confab_messages_in_total", "confab_deliveries_total", "confab_bytes_out_total",
            "confab_drops_total", "confab_slow_consumer_closes_total",
            "confab_rate_limited_total"]
GAUGES = ["confab_connections", "confab_rooms"]
HISTOGRAMS = ["confab_queue_depth", "confab_delivery_latency_seconds"]


def cmake_version():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "CMakeLists.txt")) as f:
        m = re.search(r"project\(confab\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1)


def test_healthz(shared_server):
    r = shared_server.get("/healthz")
    assert r.status_code == 200
    assert "json" in r.headers.get("content-type", ""), r.headers
    body = r.json()
    assert body.get("status") == "ok", body


async def test_metrics_exposition(shared_server):
    # Some traffic first so that histograms have samples.
    room = uniq("metrics")
    a = await Client.connect(shared_server, uniq("m"))
    b = await Client.connect(shared_server, uniq("m"))
    await a.join(room)
    await b.join(room)
    r = await a.send(room, "sample")
    await b.wait_msg(room, r["seq"])

    resp = shared_server.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers.get("content-type", "").startswith("text/plain"), resp.headers
    text = resp.text
    m = parse_metrics(text)
    for name in COUNTERS + GAUGES:
        assert name in m, f"{name} missing from /metrics"
        assert m[name] >= 0
    for name in COUNTERS:
        assert re.search(rf"^# TYPE {name} counter$", text, re.M), f"no counter TYPE for {name}"
    for name in HISTOGRAMS:
        assert re.search(rf"^# TYPE {name} histogram$", text, re.M), f"{name} not a histogram"
        buckets = []
        for k, v in m.items():
            mm = re.fullmatch(rf'{name}_bucket\{{le="([^"]+)"\}}', k)
            if mm:
                buckets.append((float(mm.group(1).replace("+Inf", "inf")), v))
        buckets.sort()
        assert buckets, f"{name} has no buckets"
        assert buckets[-1][0] == float("inf"), f"{name} has no +Inf bucket"
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{name} buckets not cumulative: {buckets}"
        assert f"{name}_sum" in m and f"{name}_count" in m, f"{name} lacks _sum/_count"
        assert m[f"{name}_count"] == buckets[-1][1]
    assert m["confab_delivery_latency_seconds_count"] >= 1
    info = [k for k in m if k.startswith("confab_build_info{")]
    assert len(info) == 1, info
    assert re.search(r'version="[^"]+"', info[0]), info
    assert f'version="{cmake_version()}"' in info[0], info
    assert m[info[0]] == 1
    await close_all([a, b])


async def test_metrics_follow_traffic(server):
    m0 = server.metrics()
    assert m0["confab_rooms"] == 0
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    m1 = server.metrics()
    assert m1["confab_connections"] - m0["confab_connections"] == 2
    await a.join("r1")
    await b.join("r1")
    await a.join("r2")
    for i in range(3):
        await a.send("r1", f"m{i}")
    await b.wait_msgs("r1", 3)
    await a.wait_msgs("r1", 3)
    m2 = server.metrics()
    assert m2["confab_rooms"] == 2
    assert m2["confab_messages_in_total"] - m1["confab_messages_in_total"] == 3
    assert m2["confab_deliveries_total"] - m1["confab_deliveries_total"] >= 6
    assert m2["confab_bytes_out_total"] > m1["confab_bytes_out_total"]
    assert m2["confab_delivery_latency_seconds_count"] >= m1.get(
        "confab_delivery_latency_seconds_count", 0) + 3
    await close_all([a, b])

    def back_to_start():
        return server.metrics()["confab_connections"] == m0["confab_connections"]
    poll_until_sync(back_to_start, T(10), what="confab_connections back to its value")


async def test_rooms_list(server):
    a = await Client.connect(server, "alice")
    b = await Client.connect(server, "bob")
    ja = await a.join("alpha")
    await b.join("alpha")
    jb = await b.join("beta")
    for i in range(3):
        await b.send("beta", f"b{i}")
    r = server.get("/api/v1/rooms")
    assert r.status_code == 200
    assert "json" in r.headers.get("content-type", "")
    rooms = {x["name"]: x for x in r.json()["rooms"]}
    assert set(rooms) == {"alpha", "beta"}
    for name, members, seq, epoch in (("alpha", 2, 0, ja["epoch"]), ("beta", 1, 3, jb["epoch"])):
        x = rooms[name]
        assert (x["members"], x["seq"], x["epoch"]) == (members, seq, epoch), x
    await close_all([a, b])


async def test_history_rest(shared_server):
    room = uniq("a/b c \u00e9?#&")
    a = await Client.connect(shared_server, uniq("h"))
    ja = await a.join(room)
    for i in range(1, 11):
        await a.send(room, f"h{i}")
    await a.wait_msgs(room, 10)
    path = f"/api/v1/rooms/{quote_room(room)}/history"

    r = shared_server.get(path, params={"limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["room"] == room and body["epoch"] == ja["epoch"] and body["seq"] == 10
    assert [m["seq"] for m in body["messages"]] == [8, 9, 10]
    assert body["messages"] == a.msgs(room)[-3:]
    body = shared_server.get(path, params={"limit": 2, "before": 5}).json()
    assert [m["text"] for m in body["messages"]] == ["h3", "h4"]
    body = shared_server.get(path).json()
    assert [m["seq"] for m in body["messages"]] == list(range(1, 11))

    r = shared_server.get(f"/api/v1/rooms/{quote_room(uniq('never'))}/history")
    assert_json_error(r.status_code, r.content, 404)
    r = shared_server.get(path, params={"limit": "abc"})
    assert_json_error(r.status_code, r.content, 400)
    # An argument too long to read before limit: refused, not answered with the default.
    r = shared_server.get(path, params={"x": "y" * 2000, "limit": "abc"})
    assert_json_error(r.status_code, r.content, 400)
    await close_all([a])


async def test_post_message(shared_server):
    room = uniq("post room/\u00e9")
    a = await Client.connect(shared_server, uniq("p"))
    b = await Client.connect(shared_server, uniq("p"))
    await a.join(room)
    await b.join(room)
    r0 = await a.send(room, "before")
    r = shared_server.post_message(room, "from the API")
    assert r.status_code == 200, r.text
    assert r.json() == {"room": room, "seq": r0["seq"] + 1}
    for c in (a, b):
        e = await c.wait_msg(room, r0["seq"] + 1)
        assert e["text"] == "from the API"
        assert e["from"] == {"id": "admin", "name": "admin"}
    r = shared_server.post_message(room, "named", sender="ops-bot")
    assert r.status_code == 200, r.text
    e = await b.wait_msg(room, r.json()["seq"])
    assert e["from"] == {"id": "ops-bot", "name": "ops-bot"} and e["text"] == "named"
    assert_consecutive(b.msgs(room), first=1)
    await close_all([a, b])


async def test_post_message_auth(shared_server):
    room = uniq("auth")
    a = await Client.connect(shared_server, uniq("p"))
    await a.join(room)
    url = f"/api/v1/rooms/{quote_room(room)}/messages"
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
                    {"Authorization": f"Basic {ADMIN_TOKEN}"},
                    {"Authorization": ADMIN_TOKEN}):
        r = shared_server.post(url, json={"text": "nope"}, headers=headers)
        assert_json_error(r.status_code, r.content, 401)
    r = await a.send(room, "after")
    assert r["seq"] == 1, "an unauthorized POST was delivered"
    await close_all([a])


async def test_post_message_bad_body(shared_server):
    room = uniq("body")
    a = await Client.connect(shared_server, uniq("p"))
    await a.join(room)
    url = f"/api/v1/rooms/{quote_room(room)}/messages"
    hdr = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    bodies = ['{"text":', "[]", '"text"', "{}", '{"text":5}', '{"text":""}',
              json.dumps({"text": "x" * 4097}), '{"text":"ok","from":5}',
              json.dumps({"text": "ok", "from": " bad name"}),
              json.dumps({"text": "ok", "from": "n" * 33})]
    for body in bodies:
        r = shared_server.post(url, data=body.encode(), headers=hdr)
        assert_json_error(r.status_code, r.content, 400)
    r = await a.send(room, "after")
    assert r["seq"] == 1, "a bad POST was delivered"
    await close_all([a])


@pytest.mark.conf({("server", "admin_token"): ""})
async def test_admin_api_off_403(server):
    a = await Client.connect(server, "a")
    await a.join("r")
    for token in ("", ADMIN_TOKEN, "anything"):
        r = server.post_message("r", "x", token=token)
        assert_json_error(r.status_code, r.content, 403)
    r = server.post("/api/v1/rooms/r/messages", json={"text": "x"})
    assert_json_error(r.status_code, r.content, 403)
    await close_all([a])


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/rooms/x/nope",
                                  "/api/v2/rooms", "/v1/wss"])
def test_unknown_path_404(shared_server, path):
    r = shared_server.get(path)
    assert_json_error(r.status_code, r.content, 404)


@pytest.mark.parametrize("method,path", [
    ("POST", "/healthz"), ("POST", "/metrics"), ("DELETE", "/api/v1/rooms"),
    ("PUT", "/api/v1/rooms"), ("GET", "/api/v1/rooms/lobby/messages"),
    ("POST", "/api/v1/rooms/lobby/history")])
def test_wrong_method_405(shared_server, method, path):
    r = requests.request(method, shared_server.url(path), timeout=T(10),
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={"text": "x"})
    assert_json_error(r.status_code, r.content, 405)


@pytest.fixture
def www(tmp_path):
    d = tmp_path / "www"
    d.mkdir()
    (d / "index.html").write_text("<!doctype html><title>confab test client</title>"
                                  "<p>marker-5f1c</p>\n")
    (d / "app.js").write_text("console.log('marker-js');\n")
    (tmp_path / "secret.txt").write_text("TOP-SECRET-OUTSIDE-WWW\n")
    return d


def test_web_client_served(start_server, www):
    s = start_server(www_dir=str(www))
    r = s.get("/")
    assert r.status_code == 200
    assert r.headers.get("content-type", "").startswith("text/html"), r.headers
    assert r.content == (www / "index.html").read_bytes()
    r = s.get("/app.js")
    assert r.status_code == 200 and r.content == (www / "app.js").read_bytes()
    assert "javascript" in r.headers.get("content-type", ""), r.headers
    assert s.get("/missing.js").status_code == 404


def test_static_types(start_server, www):
    # Text types carry their charset; a name of an extension the server does not know, or in
    # another case, is not served even when the file exists.
    for name in ("f.woff", "f.webp", "UPPER.HTML", "a.gz", "a.htm", "a.xml"):
        (www / name).write_bytes(b"x")
    s = start_server(www_dir=str(www))
    for path, ctype in (("/", "text/html; charset=utf-8"),
                        ("/app.js", "text/javascript; charset=utf-8"),
                        ("/f.woff", "font/woff"), ("/f.webp", "image/webp")):
        r = s.get(path)
        assert r.status_code == 200 and r.headers.get("content-type") == ctype, (path, r.headers)
    for path in ("/UPPER.HTML", "/a.gz", "/a.htm", "/a.xml"):
        assert s.get(path).status_code == 404, path


def test_no_path_traversal(start_server, www):
    s = start_server(www_dir=str(www))
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                 "/%2e%2e%2fsecret.txt", "/app.js/../../secret.txt", "//../secret.txt"):
        req = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        resp = raw_http(s.port, req)
        assert b"TOP-SECRET" not in resp.body, f"{path} escaped www_dir"
    assert s.alive()
