# SPDX-License-Identifier: MIT
"""The admin page (www/admin/) in headless Chromium against a real confabd: the token refused
and taken, the connections and a room's members listed, kick, ban, close acting on connected
confab.v1 clients, a notice they receive, and the traffic chart filled from /metrics. Each test
saves screenshots in its tmp dir (webclient.shot)."""
import requests

from adminpage import (Clients, action_msg, assert_no_script_errors, click_member, give_token,
                       member_names, open_admin, room_names, select_room)
from confabtest import ADMIN_TOKEN, T, quote_room, uniq
from webclient import by_id, fill, shot, text_of, wait_for


def test_admin_page_refuses_a_wrong_token_lists_and_acts(server, browsers, tmp_path):
    room = uniq("adm")
    r = requests.post(server.url(f"/api/v1/rooms/{quote_room(room)}/rules"),
                      json={"op": "create", "topic": "ops"},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=T(5))
    assert r.status_code == 200, r.text
    cl = Clients()
    try:
        kim, ben, ned = (cl.connect(server, uniq(n)) for n in ("kim", "ben", "ned"))
        for c in (kim, ben, ned):
            cl.run(c.join(room))
        a = browsers("admin", width=1280, height=1100)
        d = a.driver
        # /admin is /admin/; a wrong token is refused in words, and never put in the URL.
        open_admin(a, server)
        assert d.current_url.endswith("/admin/")
        give_token(a, "not-the-token")
        wait_for(a, "the refusal", lambda d: "token is wrong" in text_of(d, "login-error"))
        assert "401" in text_of(d, "login-error")
        assert not by_id(d, "dash").is_displayed()
        assert "token" not in d.current_url
        shot(a, tmp_path, "admin-wrong-token")
        give_token(a, ADMIN_TOKEN)
        wait_for(a, "the dashboard", lambda d: by_id(d, "dash").is_displayed())
        assert not by_id(d, "login").is_displayed()
        # The connections and the room's members.
        wait_for(a, "kim among the connections", lambda d: kim.name in text_of(d, "conn-list"))
        select_room(a, room)
        wait_for(a, "the three members", lambda d: member_names(d) ==
                 sorted([kim.name, ben.name, ned.name]))
        assert "ops" in text_of(d, "room-info")
        # Traffic, for the chart.
        for i in range(20):
            cl.run(ned.send(room, f"traffic {i}"))
        wait_for(a, "the traffic in the charts", lambda d: int(
            by_id(d, "dash").get_attribute("data-samples") or 0) >= 2 and float(
            by_id(d, "chart-rate").get_attribute("data-peak") or 0) > 0 and d.execute_script(
            "return Number(document.querySelector('#chart-latency polyline.mean')"
            ".dataset.points) >= 1"), timeout=15)
        shot(a, tmp_path, "admin-dashboard")
        # Kick, then ban for a minute: each acts on the connected client.
        click_member(a, kim.name, "Kick")
        k = cl.event(kim, lambda e: e.get("ev") == "kicked" and e.get("room") == room, "kick")
        assert k["ban"] is False and k["by"] is None, k
        wait_for(a, "the kick said", lambda d: "was kicked" in action_msg(d))
        fill(d, "ban-seconds", "60")
        click_member(a, ben.name, "Ban")
        k = cl.event(ben, lambda e: e.get("ev") == "kicked" and e.get("room") == room, "ban")
        assert k["ban"] is True and "until" in k, k
        wait_for(a, "the ban said", lambda d: "banned for 60 s" in action_msg(d))
        wait_for(a, "only ned left", lambda d: member_names(d) == [ned.name])
        # A notice every session receives.
        fill(d, "notice-text", "Maintenance at five")
        d.find_element("css selector", "#notice-form button[type=submit]").click()
        for c in (kim, ben, ned):
            cl.event(c, lambda e: e.get("ev") == "notice" and e["text"] == "Maintenance at five",
                     "the notice")
        wait_for(a, "the notice said", lambda d: "notice was sent" in action_msg(d))
        # Close: two clicks; ned is removed, the room leaves the list.
        by_id(d, "close-room").click()
        wait_for(a, "the close armed", lambda d: "Really" in text_of(d, "close-room"))
        by_id(d, "close-room").click()
        k = cl.event(ned, lambda e: e.get("ev") == "kicked" and e.get("room") == room, "close")
        assert k["reason"] == "closed", k
        wait_for(a, "the close said", lambda d: "was closed" in action_msg(d))
        wait_for(a, "the room gone", lambda d: room not in room_names(d))
        shot(a, tmp_path, "admin-closed")
        # An action the server refuses is said in words: kick in a room without rules.
        plain = uniq("plain")
        cl.run(ned.join(plain))
        select_room(a, plain)
        wait_for(a, "ned in the plain room", lambda d: member_names(d) == [ned.name])
        click_member(a, ned.name, "Kick")
        wait_for(a, "the refusal", lambda d: "404" in action_msg(d) and "no rules" in
                 action_msg(d))
        assert_no_script_errors(a, "on the dashboard")
    finally:
        cl.close()
