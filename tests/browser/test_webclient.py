# SPDX-License-Identifier: MIT
"""The web client (www/) in real headless Chromium sessions, two or three at once, against a
real confabd: accounts and guests, direct messages kept for an offline account, rooms with
unread counts (an account's read markers shared by its browsers, read receipts), the room
directory, edits and deletes, scroll-back, typing, moderation, a server restart resumed
without loss, and the phone layout. Each test saves screenshots in its tmp dir (webclient.shot)."""
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from confabtest import free_port, uniq
from webclient import (account, assert_no_console_errors, by_id, create_rooms, current,
                       directory, dms, fill, guest, in_room, join_room, members, messages,
                       open_nav, open_page, register, rooms, seen, send, shot, state, storage,
                       text_of, texts, wait_for, wait_online)


def test_sign_up_reload_sign_out_sign_in(server, browsers, tmp_path):
    room = uniq("web-acct")
    url = server.url(f"/?room={room}")
    name = uniq("ann")
    a = browsers("ann")
    d = a.driver

    open_page(a, url)
    assert by_id(d, "auth-view").is_displayed() and not by_id(d, "app").is_displayed()
    assert_no_console_errors(a, "on the sign-in page")
    account(a, None, name, "signup")
    in_room(a, room)
    assert text_of(d, "me-kind") == "account"
    send(a, "first words")
    wait_for(a, "the message", lambda d: ("You", "first words") in texts(d))
    shot(a, tmp_path, "signed-up")

    # The token is kept across a reload, and never shows in the URL.
    assert "token" not in d.current_url
    assert '"token"' in storage(d, "confab.session")
    d.refresh()
    wait_online(a)
    assert not by_id(d, "auth-view").is_displayed()
    in_room(a, room)
    wait_for(a, "the history after the reload", lambda d: texts(d) == [("You", "first words")])
    assert room in storage(d, f"confab.acct.{name}")  # the rooms and their last seq seen
    assert storage(d, f"confab.dms.{name}") is not None

    # Sign out: back to the sign-in page, the token forgotten.
    by_id(d, "signout").click()
    wait_for(a, "the sign-out dialog", lambda d: by_id(d, "signout-dialog").is_displayed())
    by_id(d, "signout-here").click()
    wait_for(a, "the sign-in page", lambda d: by_id(d, "auth-view").is_displayed())
    assert storage(d, "confab.session") is None
    for key in (f"confab.acct.{name}", f"confab.dms.{name}"):
        assert storage(d, key) is None, f"{key} kept after signing out"
    assert text_of(d, "status-text") == "Signed out"

    # The server's refusals, in words.
    account(a, None, name, "signup", expect_ok=False)
    wait_for(a, "the name-taken error",
             lambda d: by_id(d, "auth-error").is_displayed() and
             "taken" in text_of(d, "auth-error"))
    account(a, None, name, "signin", password="wrong password", expect_ok=False)
    wait_for(a, "the wrong-password error",
             lambda d: text_of(d, "auth-error") == "Wrong name or password.")
    shot(a, tmp_path, "wrong-password")
    account(a, None, name, "signin")
    assert '"token"' in storage(d, "confab.session")
    assert_no_console_errors(a, "after signing in again")


def test_guest_mode(server, browsers, tmp_path):
    room = uniq("web-guest")
    url = server.url(f"/?room={room}")
    taken = uniq("acct")
    register(server, taken)
    g = browsers("gus")
    r = browsers("random")

    # A guest cannot take an account's name.
    open_page(g, url)
    fill(g.driver, "guest-name", taken)
    by_id(g.driver, "guest").click()
    wait_for(g, "the account-name refusal", lambda d: by_id(d, "auth-view").is_displayed() and
             "belongs to an account" in text_of(d, "auth-error"))

    guest(g, url, "gus")
    in_room(g, room)
    assert text_of(g.driver, "me-kind") == "guest"
    guest(r, url, "")  # no name: the server picks guest-XXXXXX
    in_room(r, room)
    rname = text_of(r.driver, "me-name")
    assert rname.startswith("guest-")
    for x in (g, r):
        wait_for(x, "both guests in the member list",
                 lambda d: members(d) == sorted(["gus", rname]))

    markup = "<b>x</b> <img src=x onerror=alert(1)>"
    send(g, "hello from gus")
    send(r, markup, enter=False)
    for x in (g, r):
        wait_for(x, "both messages",
                 lambda d: [t for _, t in texts(d)] == ["hello from gus", markup])
        for sel in ("#scroller b", "#scroller img"):
            assert x.driver.find_elements(By.CSS_SELECTOR, sel) == [], \
                f"[{x.label}] user text became a <{sel.split()[-1]}> element"

    # Guests join open rooms but cannot create rooms with rules.
    by_id(g.driver, "open-join").click()
    wait_for(g, "the join dialog", lambda d: by_id(d, "join-dialog").is_displayed())
    assert by_id(g.driver, "create-guest").is_displayed()
    assert not by_id(g.driver, "create-submit").is_displayed()
    shot(g, tmp_path, "guest-join-dialog")
    by_id(g.driver, "join-room").send_keys(Keys.ESCAPE)
    wait_for(g, "Esc to close the dialog", lambda d: not by_id(d, "join-dialog").is_displayed())

    # Desktop notifications are opt-in, by a click (the browser's permission is granted here,
    # as a user answering its prompt would).
    nt = by_id(g.driver, "notify-toggle")
    assert nt.text == "Enable notifications" and nt.get_attribute("aria-pressed") == "false"
    g.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "permissions": ["notifications"], "origin": server.url("").rstrip("/")})
    nt.click()
    wait_for(g, "notifications on", lambda d: nt.text == "Notifications: on" and
             nt.get_attribute("aria-pressed") == "true")
    nt.click()
    wait_for(g, "notifications off again", lambda d: nt.text == "Enable notifications")

    # A reload keeps the guest's name.
    g.driver.refresh()
    wait_online(g)
    assert text_of(g.driver, "me-name") == "gus"

    # The keyboard's first stop skips the sidebar to the message box.
    ActionChains(g.driver).send_keys(Keys.TAB).perform()
    skip = g.driver.switch_to.active_element
    assert skip.get_attribute("id") == "skip" and skip.is_displayed()
    skip.send_keys(Keys.ENTER)
    wait_for(g, "the message box focused",
             lambda d: d.switch_to.active_element.get_attribute("id") == "text")
    for x in (g, r):
        assert_no_console_errors(x, "as guests")


def test_dm_to_offline_account_seen_after_sign_in(server, browsers, tmp_path):
    url = server.url(f"/?room={uniq('web-dm')}")
    amy, bob = uniq("amy"), uniq("bob")
    a = browsers("amy")
    b = browsers("bob")

    # bob signs up, then signs out: he has no session anywhere.
    account(b, url, bob, "signup")
    by_id(b.driver, "signout").click()
    wait_for(b, "the sign-out dialog", lambda d: by_id(d, "signout-dialog").is_displayed())
    by_id(b.driver, "signout-here").click()
    wait_for(b, "the sign-in page", lambda d: by_id(d, "auth-view").is_displayed())

    account(a, url, amy, "signup")
    by_id(a.driver, "open-dm").click()
    wait_for(a, "the DM dialog", lambda d: by_id(d, "dm-dialog").is_displayed())
    fill(a.driver, "dm-to", bob)
    a.driver.find_element(By.CSS_SELECTOR, "#dm-form button[type=submit]").click()
    wait_for(a, "the conversation with bob", lambda d: current(d) == bob)
    send(a, "are you there?")
    wait_for(a, "the message kept for bob",
             lambda d: [m["meta"] for m in messages(d)] == [f"You kept until {bob} is back"])
    shot(a, tmp_path, "dm-kept")

    # A DM to a guest nobody is: refused, and shown as not sent.
    by_id(a.driver, "open-dm").click()
    fill(a.driver, "dm-to", "guest:" + uniq("nobody"))
    a.driver.find_element(By.CSS_SELECTOR, "#dm-form button[type=submit]").click()
    send(a, "hello?")
    wait_for(a, "the refusal", lambda d: [m["failed"] for m in messages(d)] == [True] and
             "not online" in messages(d)[0]["meta"].lower())

    # bob signs in: the kept message is there, counted unread.
    account(b, None, bob, "signin")
    wait_for(b, "amy's conversation with 1 unread", lambda d: dms(d) == {amy: 1})
    open_nav(b, amy)
    wait_for(b, "the kept message",
             lambda d: [(m["from"], m["text"], m["kept"]) for m in messages(d)] ==
             [(amy, "are you there?", True)])
    assert dms(b.driver) == {amy: 0}
    shot(b, tmp_path, "dm-received")

    # bob answers; amy, in the conversation, sees it live without an unread count.
    open_nav(a, bob)
    send(b, "here now")
    wait_for(a, "bob's answer",
             lambda d: texts(d) == [("You", "are you there?"), (bob, "here now")])
    assert dms(a.driver)[bob] == 0

    # A reload keeps the conversation once (the mid is not shown twice).
    b.driver.refresh()
    wait_online(b)
    open_nav(b, amy)
    wait_for(b, "the conversation after a reload",
             lambda d: texts(d) == [(amy, "are you there?"), ("You", "here now")])
    for x in (a, b):
        assert_no_console_errors(x, "after the DMs")


def test_switch_rooms_unread_counts(server, browsers, tmp_path):
    r1, r2 = uniq("web-one"), uniq("web-two")
    url = server.url(f"/?room={r1}")
    name = uniq("una")
    a = browsers("una")
    b = browsers("ben")

    account(a, url, name, "signup")
    in_room(a, r1)
    join_room(a, r2)
    guest(b, url, "ben")
    in_room(b, r1)
    join_room(b, r2)
    open_nav(a, r1)
    assert rooms(a.driver) == {r1: 0, r2: 0}

    # Messages in the room not shown are counted; in the room shown, not.
    send(b, "two-a")
    send(b, "two-b")
    wait_for(a, f"2 unread in {r2}", lambda d: rooms(d) == {r1: 0, r2: 2})
    assert a.driver.title.startswith("(2) ")
    open_nav(b, r1)
    send(b, "one-a")
    wait_for(a, "ben's message in the room shown", lambda d: ("ben", "one-a") in texts(d))
    assert rooms(a.driver) == {r1: 0, r2: 2}
    shot(a, tmp_path, "unread-badge")

    # Opening the room reads it: the count goes, a line marks where the new messages start.
    open_nav(a, r2)
    wait_for(a, f"{r2} read", lambda d: rooms(d) == {r1: 0, r2: 0})
    assert texts(a.driver) == [("ben", "two-a"), ("ben", "two-b")]
    marker = a.driver.execute_script(
        "const m = document.querySelector('#scroller .unread-marker');"
        "return m && m.nextElementSibling.querySelector('.text').textContent;")
    assert marker == "two-a"
    shot(a, tmp_path, "read-marker")

    # The counts outlive a reload: what arrived while the page was away is unread.
    send(b, "one-b")
    wait_for(a, f"1 unread in {r1}", lambda d: rooms(d) == {r1: 1, r2: 0})
    a.driver.refresh()
    wait_online(a)
    wait_for(a, "the counts after a reload",
             lambda d: rooms(d) == {r1: 1, r2: 0} and current(d) == r2)
    send(b, "one-c")
    wait_for(a, f"2 unread in {r1}", lambda d: rooms(d) == {r1: 2, r2: 0})
    open_nav(a, r1)
    wait_for(a, f"{r1} read", lambda d: rooms(d) == {r1: 0, r2: 0})
    wait_for(a, f"{r1}'s messages",
             lambda d: [t for _, t in texts(d)] == ["one-a", "one-b", "one-c"])
    for x in (a, b):
        assert_no_console_errors(x, "switching rooms")


def test_unread_counts_shared_by_an_accounts_browsers(server, browsers, tmp_path):
    # Read markers are the server's (read, unread, the read event): what one browser of an
    # account reads is read in the other.
    r1, r2 = uniq("web-mark"), uniq("web-mark2")
    url = server.url(f"/?room={r1}")
    name = uniq("mia")
    a1 = browsers("mia-1")
    a2 = browsers("mia-2")
    account(a1, url, name, "signup")
    account(a2, url, name, "signin")
    for x in (a1, a2):
        in_room(x, r1)
        join_room(x, r2)
        open_nav(x, r1)

    def post(room, text):  # another user writes
        assert server.post_message(room, text, sender="bo").status_code == 200

    post(r2, "two-a")
    post(r2, "two-b")
    for x in (a1, a2):
        wait_for(x, f"2 unread in {r2}", lambda d: rooms(d) == {r1: 0, r2: 2})
    assert a2.driver.title.startswith("(2) ")
    shot(a2, tmp_path, "unread-before")

    # Reading in one browser clears the count in the other.
    open_nav(a1, r2)
    for x in (a1, a2):
        wait_for(x, f"{r2} read", lambda d: rooms(d) == {r1: 0, r2: 0})

    # A browser that comes back counts by the server's markers, whatever it kept (here: that
    # nothing was read).
    a2.driver.execute_script("""const k = 'confab.acct.' + arguments[0];
        const s = JSON.parse(localStorage.getItem(k));
        for (const r of s.rooms) r.readSeq = 0;
        localStorage.setItem(k, JSON.stringify(s));
        Storage.prototype.setItem = () => {}; // the page going saves nothing over it""", name)
    a2.driver.get("about:blank")
    post(r1, "one-a")
    wait_for(a1, f"1 unread in {r1}", lambda d: rooms(d) == {r1: 1, r2: 0})
    open_page(a2, url)
    wait_online(a2)
    in_room(a2, r1)
    # ... and opening r1 there reads it in both.
    for x in (a1, a2):
        wait_for(x, "the server's counts", lambda d: rooms(d) == {r1: 0, r2: 0})
    for x in (a1, a2):
        assert_no_console_errors(x, "with shared read markers")


def test_room_directory(server, browsers, tmp_path):
    # The join dialog lists the server's directory (rooms): by prefix, a page at a time.
    prefix = uniq("dir") + "-"
    listed = {f"{prefix}r{i:02d}": ("open", f"topic {i}") for i in range(11)}
    create_rooms(server, uniq("dee"), {**listed, f"{prefix}hidden": ("private", "secret")})
    g = browsers("gil")
    guest(g, server.url(f"/?room={uniq('web-dir-home')}"), "gil")
    d = g.driver
    by_id(d, "open-join").click()
    wait_for(g, "the directory", lambda d: len(directory(d)) > 0)
    fill(d, "directory-filter", prefix)
    names = sorted(listed)
    # The unfiltered first page may look the same: wait for the filter's own.
    wait_for(g, "the first page", lambda d: by_id(d, "directory").get_attribute(
        "data-prefix") == prefix and [r[0] for r in directory(d)] == names[:10])
    assert directory(d)[0] == (names[0], "open", "0 online", "topic 0", False)
    more = by_id(d, "directory-more")
    assert more.is_displayed()
    shot(g, tmp_path, "directory")
    more.click()
    wait_for(g, "the second page", lambda d: [r[0] for r in directory(d)] == names)
    assert not more.is_displayed()

    # Joining from the directory.
    last = names[-1]
    d.find_element(By.CSS_SELECTOR, f'#directory li[data-room="{last}"] button').click()
    wait_for(g, "the join dialog to close", lambda d: not by_id(d, "join-dialog").is_displayed())
    in_room(g, last)
    wait_for(g, "the room's topic", lambda d: text_of(d, "view-topic") == "topic 10")
    by_id(d, "open-join").click()
    fill(d, "directory-filter", last)
    wait_for(g, "the room joined",
             lambda d: directory(d) == [(last, "open", "1 online", "topic 10", True)])
    fill(d, "directory-filter", prefix + "x")
    wait_for(g, "no room", lambda d: directory(d) == [] and
             text_of(d, "directory-status") == f"No listed room starts with “{prefix}x”.")
    assert_no_console_errors(g, "in the directory")


def test_an_edit_seen_by_the_other_browser(server, browsers, tmp_path):
    # Edit and delete (docs/protocol.md): the author's browser edits and deletes, the other
    # applies the events, and after a reload the history's corrected view says the same.
    room = uniq("web-edit")
    url = server.url(f"/?room={room}")
    name = uniq("eve")
    a = browsers("eve")
    b = browsers("ed")
    account(a, url, name, "signup")  # guests correct nothing: their names pass to others
    guest(b, url, "ed")
    for x in (a, b):
        in_room(x, room)
    send(a, "helo wrold")
    send(a, "to be deleted")
    send(b, "ed's line")
    for x in (a, b):
        wait_for(x, "three messages", lambda d: len([m for m in messages(d) if m["seq"]]) == 3)
    # eve has read ed's line: a read receipt (the room is small) under it.
    wait_for(b, "the read receipt", lambda d: seen(d) == f"Seen by {name}")
    d = a.driver
    box = by_id(d, "text")

    # Up in the empty composer edits the last own message; Esc gives the composer back.
    box.send_keys(Keys.ARROW_UP)
    wait_for(a, "editing the last message", lambda d: by_id(d, "edit-bar").is_displayed() and
             box.get_attribute("value") == "to be deleted")
    box.send_keys(Keys.ESCAPE)
    wait_for(a, "the edit cancelled", lambda d: not by_id(d, "edit-bar").is_displayed() and
             box.get_attribute("value") == "")

    # The message's own Edit control, then Enter saves.
    first = d.find_element(By.CSS_SELECTOR, "#scroller .msg.own")
    ActionChains(d).move_to_element(first).perform()
    edit_button = first.find_element(By.CSS_SELECTOR, ".msg-actions .edit")
    wait_for(a, "the Edit control on hover", lambda d: edit_button.is_displayed())
    edit_button.click()
    wait_for(a, "editing the first message", lambda d: box.get_attribute("value") == "helo wrold")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("hello world", Keys.ENTER)
    wait_for(a, "the edit saved", lambda d: not by_id(d, "edit-bar").is_displayed() and
             box.get_attribute("value") == "")

    # Delete, after a confirmation.
    box.send_keys(Keys.ARROW_UP)
    wait_for(a, "editing the last message", lambda d: by_id(d, "edit-bar").is_displayed())
    by_id(d, "edit-delete").click()
    wait_for(a, "the confirmation", lambda d: by_id(d, "delete-dialog").is_displayed() and
             text_of(d, "delete-text") == "to be deleted")
    shot(a, tmp_path, "delete-confirm")
    by_id(d, "delete-confirm").click()
    wait_for(a, "the dialog closed", lambda d: not by_id(d, "delete-dialog").is_displayed())

    want = [("hello world", True), ("ed's line", False)]
    for x in (a, b):
        wait_for(x, "the corrected view", lambda d: [(m["text"], "(edited)" in m["meta"])
                                                     for m in messages(d)] == want)
    shot(b, tmp_path, "edited")
    b.driver.refresh()
    wait_online(b)
    in_room(b, room)
    wait_for(b, "the corrected view after a reload",
             lambda d: [(m["text"], "(edited)" in m["meta"]) for m in messages(d)] == want)
    # Another user's message has no Edit control, and no Delete for a member; a guest has none.
    other = d.find_element(By.CSS_SELECTOR, "#scroller .msg:not(.own)")
    assert other.find_elements(By.CSS_SELECTOR, ".edit") == []
    assert d.execute_script(
        "return getComputedStyle(arguments[0].querySelector('.delete')).display", other) == "none"
    assert b.driver.find_elements(By.CSS_SELECTOR, "#scroller .msg-actions button") == []
    for x in (a, b):
        assert_no_console_errors(x, "editing")


def test_scroll_back(server, browsers, tmp_path):
    room = uniq("web-long")
    total = 120  # more than the 100 the room keeps (rooms.history) and the 20 a join shows
    for i in range(1, total + 1):
        r = server.post_message(room, f"line {i:03d}", sender="bot")
        assert r.status_code in (200, 201, 202), r.text
    a = browsers("reader", height=700)
    guest(a, server.url(f"/?room={room}"), "reader")
    in_room(a, room)
    wait_for(a, "the last 20", lambda d: [m["seq"] for m in messages(d)] == list(range(101, 121)))
    # What a room said before the user first joined is not counted as new.
    assert a.driver.find_elements(By.CSS_SELECTOR, ".unread-marker") == []
    assert rooms(a.driver) == {room: 0}
    shot(a, tmp_path, "before-scroll-back")

    # Scrolling to the top loads the pages before, until the room keeps no more.
    def scrolled_back(d):
        d.execute_script("const s = document.getElementById('scroller'); s.scrollTop = 0;"
                         "s.dispatchEvent(new Event('scroll'));")
        return d.execute_script("return !!document.querySelector('#scroller .notice.start')")

    wait_for(a, "the start of what the room keeps", scrolled_back)
    got = messages(a.driver)
    assert [m["seq"] for m in got] == list(range(21, 121)), "holes or duplicates"
    assert [m["text"] for m in got] == [f"line {i:03d}" for i in range(21, 121)]
    assert text_of(a.driver, "scroller").startswith("Earlier messages are no longer kept.")
    a.driver.execute_script("document.getElementById('scroller').scrollTop = 0")
    shot(a, tmp_path, "scrolled-back")
    assert_no_console_errors(a, "scrolling back")


def typing(d):
    return text_of(d, "typing")


def two_typists(url, room, browsers):
    a = browsers("tia")
    b = browsers("tom")
    guest(a, url, "tia")
    guest(b, url, "tom")
    for x in (a, b):
        in_room(x, room)
        wait_for(x, "both in the room", lambda d: members(d) == ["tia", "tom"])
    return a, b, by_id(a.driver, "text")


def test_typing_shown_and_gone(server, browsers, tmp_path):
    # The module's server keeps an indicator 60 s: each one seen to go here went for its cause.
    room = uniq("web-typing")
    a, b, box = two_typists(server.url(f"/?room={room}"), room, browsers)

    # Gone when the text is cleared (typing:false).
    box.send_keys("hel")
    wait_for(b, "tia typing", lambda d: typing(d) == "tia is typing…")
    shot(b, tmp_path, "typing-shown")
    assert typing(a.driver) == ""  # not one's own
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    wait_for(b, "the indicator gone after clearing", lambda d: typing(d) == "")

    # Gone when the message arrives.
    box.send_keys("hello")
    wait_for(b, "tia typing once more", lambda d: typing(d) == "tia is typing…")
    box.send_keys(Keys.ENTER)
    wait_for(b, "the message, and no indicator",
             lambda d: texts(d) == [("tia", "hello")] and typing(d) == "")
    assert text_of(b.driver, "announcer") == "tia: hello"  # read out by screen readers
    shot(b, tmp_path, "typing-gone")
    for x in (a, b):
        assert_no_console_errors(x, "typing")


def test_typing_expires(own_server, browsers, tmp_path):
    s = own_server({("rooms", "typing_ttl"): 1000})
    room = uniq("web-typing-ttl")
    a, b, box = two_typists(s.url(f"/?room={room}"), room, browsers)

    # Shown, then gone when typing_ttl passes without another typing:true: tia stopped
    # typing without clearing the text or sending it.
    box.send_keys("hel")
    wait_for(b, "tia typing", lambda d: typing(d) == "tia is typing…")
    wait_for(b, "the indicator to expire", lambda d: typing(d) == "")
    assert by_id(a.driver, "text").get_attribute("value") == "hel"
    shot(b, tmp_path, "typing-expired")
    for x in (a, b):
        assert_no_console_errors(x, "typing")


def test_moderator_kicks_and_bans(server, browsers, tmp_path):
    room = uniq("web-mod")
    owner = uniq("olga")
    o = browsers("owner")
    k = browsers("kim")
    n = browsers("ned")  # a member who watches
    account(o, server.url("/"), owner, "signup")

    # The owner creates the room with the join dialog.
    by_id(o.driver, "open-join").click()
    wait_for(o, "the join dialog", lambda d: by_id(d, "join-dialog").is_displayed())
    fill(o.driver, "create-room", room)
    fill(o.driver, "create-topic", "Plans for the week")
    by_id(o.driver, "create-submit").click()
    in_room(o, room)
    wait_for(o, "the room's rules in the header",
             lambda d: text_of(d, "view-topic") == "Plans for the week" and
             text_of(d, "view-role") == "you: owner" and text_of(d, "view-kind") == "open")

    for x, name in ((k, "kim"), (n, "ned")):
        guest(x, server.url(f"/?room={room}"), name)
        in_room(x, room)
    wait_for(o, "kim and ned in the member list",
             lambda d: members(d) == sorted(["kim", "ned", owner]))
    # Only the owner gets the actions; a member gets a direct-message button.
    assert n.driver.find_elements(By.CSS_SELECTOR, "[aria-label='Actions for kim']") == []
    assert n.driver.find_elements(By.CSS_SELECTOR, "[aria-label='Message kim']")

    def act(label, duration=None):
        o.driver.find_element(By.CSS_SELECTOR, "[aria-label='Actions for kim']").click()
        wait_for(o, "the member dialog", lambda d: by_id(d, "member-dialog").is_displayed())
        if duration:
            Select(by_id(o.driver, "member-duration")).select_by_visible_text(duration)
        for btn in o.driver.find_elements(By.CSS_SELECTOR, "#member-actions button"):
            if btn.text == label:
                btn.click()
                break
        else:
            raise AssertionError(f"no {label} action")
        wait_for(o, "the dialog to close", lambda d: not by_id(d, "member-dialog").is_displayed())

    # A kick: kim is told, and the room leaves her sidebar.
    act("Kick")
    wait_for(k, "the kick notice", lambda d: by_id(d, "alert").is_displayed() and
             text_of(d, "alert-text") == f"{owner} removed you from {room}.")
    wait_for(k, "the room gone from the sidebar", lambda d: room not in rooms(d))
    shot(k, tmp_path, "kicked")
    for x in (o, n):
        wait_for(x, "kim gone from the member list", lambda d: members(d) == sorted(["ned", owner]))
        wait_for(x, "the kick's line in the room",
                 lambda d: f"{owner} removed guest:kim." in text_of(d, "scroller"))

    # A kick lets her back; a ban does not.
    join_room(k, room)
    wait_for(o, "kim back", lambda d: members(d) == sorted(["kim", "ned", owner]))
    act("Ban", "Until lifted")
    wait_for(k, "the ban notice",
             lambda d: text_of(d, "alert-text") == f"{owner} banned you from {room} for good.")
    wait_for(k, "the room gone again", lambda d: room not in rooms(d))
    by_id(k.driver, "open-join").click()
    fill(k.driver, "join-room", room)
    k.driver.find_element(By.CSS_SELECTOR, "#join-form button[type=submit]").click()
    wait_for(k, "the refusal",
             lambda d: text_of(d, "join-error") == "You are banned from that room.")
    shot(k, tmp_path, "banned")

    # A moderator deletes anyone's message (a member, only its own).
    send(n, "buy cheap stuff")
    wait_for(o, "ned's message", lambda d: ("ned", "buy cheap stuff") in texts(d))
    msg = o.driver.find_element(By.CSS_SELECTOR, "#scroller .msg:not(.own)")
    ActionChains(o.driver).move_to_element(msg).perform()
    delete = msg.find_element(By.CSS_SELECTOR, ".msg-actions .delete")
    wait_for(o, "the Delete control on hover", lambda d: delete.is_displayed())
    delete.click()
    wait_for(o, "the confirmation", lambda d: by_id(d, "delete-dialog").is_displayed())
    by_id(o.driver, "delete-confirm").click()
    for x in (o, n):
        wait_for(x, "the message deleted", lambda d: "buy cheap stuff" not in
                 [t for _, t in texts(d)])
    shot(o, tmp_path, "owner-view")
    shot(n, tmp_path, "member-view")
    for x in (o, k, n):
        assert_no_console_errors(x, "moderating")


def test_server_restart_resumed_without_loss(own_server, browsers, tmp_path):
    s = own_server(port=free_port())
    room = uniq("web-restart")
    url = s.url(f"/?room={room}")
    a = browsers("rae")
    b = browsers("rob")
    guest(a, url, "rae")
    guest(b, url, "rob")
    for x in (a, b):
        in_room(x, room)
    send(a, "before-1")
    send(b, "before-2")
    for x in (a, b):
        wait_for(x, "both messages", lambda d: [t for _, t in texts(d)] == ["before-1", "before-2"])

    # The server goes; the page says so, and keeps what is written meanwhile.
    assert s.stop() == 0
    s.stopped = False
    for x in (a, b):
        wait_for(x, "the reconnecting state", lambda d: state(d) == "reconnecting")
    shot(a, tmp_path, "server-down")
    send(a, "during-outage")
    wait_for(a, "the message waiting", lambda d: messages(d)[-1]["pending"] and
             "waiting for connection" in messages(d)[-1]["meta"])

    # Same port, same state directory: both resume, the waiting message goes out once.
    s.start()
    for x in (a, b):
        wait_online(x, timeout=30)  # the backoff can reach 15 s
    wait_for(b, "the message written during the outage",
             lambda d: [t for _, t in texts(d)] == ["before-1", "before-2", "during-outage"])
    send(b, "after-restart")
    want = ["before-1", "before-2", "during-outage", "after-restart"]
    for x in (a, b):
        wait_for(x, "every message once, in order", lambda d: [t for _, t in texts(d)] == want)
        assert not any(m["pending"] for m in messages(x.driver))
    wait_for(a, "the new epoch's seqs", lambda d: [m["seq"] for m in messages(d)][2:] == [1, 2])
    shot(a, tmp_path, "resumed")


def test_node_restart_resumed_from_the_room_log(own_server, redis, browsers, tmp_path):
    # Cluster mode: the room's log outlives the node, so the page that comes back asks for
    # what it missed (join since/epoch) and gets it, in the same epoch.
    n1 = own_server({("redis", "url"): redis.url, ("server", "node_id"): "web-1"}, port=free_port())
    n2 = own_server({("redis", "url"): redis.url, ("server", "node_id"): "web-2"})
    room = uniq("web-node")
    a = browsers("ria")
    b = browsers("ray")
    guest(a, n1.url(f"/?room={room}"), "ria")
    guest(b, n2.url(f"/?room={room}"), "ray")
    for x in (a, b):
        in_room(x, room)
    send(a, "one")
    send(b, "two")
    for x in (a, b):
        wait_for(x, "both messages", lambda d: [t for _, t in texts(d)] == ["one", "two"])

    assert n1.stop() == 0
    n1.stopped = False
    wait_for(a, "the reconnecting state", lambda d: state(d) == "reconnecting")
    # More than the 20 messages a join without `since` would bring.
    send(b, "three, while ria is away")
    away = [f"away {i:02d}" for i in range(24)]
    for t in away:
        assert n2.post_message(room, t, sender="bot").status_code == 200
    send(a, "written offline")
    n1.start()
    wait_online(a, timeout=30)
    want = ["one", "two", "three, while ria is away"] + away + ["written offline"]
    for x in (a, b):
        wait_for(x, "every message once, in order", lambda d: [t for _, t in texts(d)] == want)
    assert [m["seq"] for m in messages(a.driver)] == list(range(1, len(want) + 1))
    assert "missed" not in text_of(a.driver, "scroller")
    shot(a, tmp_path, "node-resumed")


def test_phone_layout(server, browsers, tmp_path):
    r1, r2 = uniq("web-phone"), uniq("web-phone2")
    p = browsers("phone")
    d = p.driver
    # A phone's viewport: Chromium's headless window is no narrower than 500 px.
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    guest(p, server.url(f"/?room={r1}"), "pia")
    in_room(p, r1)
    assert d.execute_script("return window.innerWidth") == 390
    sidebar, toggle = by_id(d, "sidebar"), by_id(d, "sidebar-toggle")
    assert toggle.is_displayed()
    wait_for(p, "the sidebar hidden", lambda d: not sidebar.is_displayed())

    toggle.click()
    wait_for(p, "the sidebar open", lambda d: sidebar.is_displayed() and
             d.execute_script("return arguments[0].getBoundingClientRect().left", sidebar) == 0)
    assert toggle.get_attribute("aria-expanded") == "true"
    shot(p, tmp_path, "phone-sidebar")
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(p, "Esc to close the sidebar", lambda d: not sidebar.is_displayed())
    assert d.switch_to.active_element == toggle

    # Joining from the drawer: the drawer closes on the new room.
    toggle.click()
    wait_for(p, "the sidebar open", lambda d: sidebar.is_displayed())
    join_room(p, r2)
    wait_for(p, "the sidebar closed", lambda d: not sidebar.is_displayed())
    send(p, "from the phone")
    wait_for(p, "the message", lambda d: texts(d) == [("You", "from the phone")])
    by_id(d, "members-toggle").click()
    wait_for(p, "the members drawer", lambda d: by_id(d, "members").is_displayed())
    shot(p, tmp_path, "phone-members")
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(p, "Esc to close the members", lambda d: not by_id(d, "members").is_displayed())

    # Every control has a name a screen reader can say, and the landmarks are there.
    unnamed = d.execute_script("""return Array.from(document.querySelectorAll(
        'button, input, textarea, select')).filter((e) => !(e.getAttribute('aria-label') ||
        (e.labels && e.labels.length) || e.textContent.trim())).map((e) => e.outerHTML);""")
    assert unnamed == []
    assert d.execute_script("return ['nav', 'main', 'aside', 'header'].every((t) => "
                            "document.querySelector('#app ' + t))")
    assert by_id(d, "announcer").get_attribute("aria-live") == "polite"
    shot(p, tmp_path, "phone-chat")
    assert_no_console_errors(p, "on a phone")
