# SPDX-License-Identifier: MIT
"""The web client (www/) in two real headless Chromium sessions against a real confabd: join,
chat both ways, presence, text rendered as text, and a page without console errors."""
import os

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import TimeoutException

from confabtest import T, uniq

SHOTS = os.environ.get("CONFAB_BROWSER_SHOTS")

JS_MESSAGES = """return Array.from(document.querySelectorAll('#messages .msg'), (li) =>
    [li.querySelector('.from').textContent, li.querySelector('.text').textContent]);"""
JS_MEMBERS = """return Array.from(document.querySelectorAll('#member-list .member-name'),
    (e) => e.textContent);"""


def wait_for(b, what, fn, timeout=10):
    """Polls fn(driver) until it returns a true value (returned); fails naming what and the
    last value seen."""
    last = [None]

    def check(d):
        last[0] = fn(d)
        return last[0]

    try:
        return WebDriverWait(b.driver, T(timeout), poll_frequency=0.05).until(check)
    except TimeoutException:
        raise AssertionError(f"[{b.label}] timed out after {T(timeout):.0f} s waiting for "
                             f"{what}; last seen: {last[0]!r}") from None


def messages(d):
    return [tuple(x) for x in d.execute_script(JS_MESSAGES)]


def members(d):
    return sorted(d.execute_script(JS_MEMBERS))


def status(d):
    return d.find_element(By.ID, "status-text").text


def assert_no_console_errors(b, when):
    # The page declares an empty icon, so not even a favicon 404 is excused.
    severe = [e for e in b.read_console() if e["level"] == "SEVERE"]
    assert not severe, f"[{b.label}] console errors {when}: " + \
        "\n".join(e["message"] for e in severe)


def join(b, url, name, room):
    d = b.driver
    d.get(url)
    form = wait_for(b, "the join form", lambda d: d.find_element(By.ID, "join-form"))
    assert form.is_displayed()
    assert not d.find_element(By.ID, "chat-view").is_displayed()
    assert_no_console_errors(b, "after loading the page")
    for field, value in (("name", name), ("room", room)):
        e = d.find_element(By.ID, field)
        e.clear()
        e.send_keys(value)
    d.find_element(By.CSS_SELECTOR, "#join-form button[type=submit]").click()
    wait_for(b, "status Connected", lambda d: status(d) == "Connected")
    assert d.find_element(By.ID, "room-name").text == room
    assert not d.find_element(By.ID, "join-view").is_displayed()


def send(b, *keys, enter=False):
    d = b.driver
    box = d.find_element(By.ID, "text")
    box.send_keys(*keys)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        d.find_element(By.CSS_SELECTOR, "#send-form button[type=submit]").click()
    wait_for(b, "the composer to clear", lambda d: box.get_attribute("value") == "")


def screenshots(b, folder):
    """A desktop and a phone screenshot of the chat in progress (and the phone's members
    drawer open), for a person to look at."""
    d = b.driver

    def viewport(width, height, scale, mobile):
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})
        wait_for(b, f"a {width}px viewport",
                 lambda d: d.execute_script("return window.innerWidth") == width)

    viewport(1200, 800, 1, False)
    d.save_screenshot(os.path.join(folder, "confab-desktop.png"))
    viewport(390, 844, 2, True)
    d.save_screenshot(os.path.join(folder, "confab-phone.png"))
    d.find_element(By.ID, "members-toggle").click()
    wait_for(b, "the members drawer", lambda d: d.find_element(By.ID, "members").is_displayed())
    d.save_screenshot(os.path.join(folder, "confab-phone-members.png"))
    d.find_element(By.ID, "members-toggle").click()
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_two_browsers_chat(server, browsers):
    room = uniq("web")
    url = server.url(f"/?room={room}")
    a = browsers("alice")
    b = browsers("bob")

    join(a, url, "alice", room)
    wait_for(a, "alice alone in the member list", lambda d: members(d) == ["alice"])
    join(b, url, "bob", room)
    for x in (a, b):
        wait_for(x, "both names in the member list", lambda d: members(d) == ["alice", "bob"])
        assert x.driver.find_element(By.ID, "member-count").get_attribute("textContent") == "2"

    send(a, "hello from alice", enter=True)
    wait_for(b, "alice's message", lambda d: ("alice", "hello from alice") in messages(d))
    send(b, "hi from bob")
    # Each page shows both messages, in the same order; its own as "You".
    want = {a: [("You", "hello from alice"), ("bob", "hi from bob")],
            b: [("alice", "hello from alice"), ("You", "hi from bob")]}
    for x in (a, b):
        wait_for(x, "both messages", lambda d, w=want[x]: messages(d) == w)
        assert x.driver.find_elements(By.CSS_SELECTOR, "#pending .msg") == [], \
            f"[{x.label}] a sent message stayed in the pending list"

    # User text is text, never markup.
    markup = "<b>x</b> <img src=x onerror=alert(1)>"
    send(b, markup, enter=True)
    for x in (a, b):
        wait_for(x, "the markup message", lambda d: markup in [t for _, t in messages(d)])
        for sel in ("#messages b", "#messages img", "#pending b"):
            assert x.driver.find_elements(By.CSS_SELECTOR, sel) == [], \
                f"[{x.label}] user text became a <{sel.split()[-1]}> element"

    if SHOTS:
        send(a, "A longer message, to see how a bubble wraps: " + "lorem ipsum dolor sit "
             "amet " * 12)
        send(b, "line one", Keys.SHIFT, Keys.ENTER, Keys.NULL, "line two")
        wait_for(a, "the last message", lambda d: len(messages(d)) == 5)
        screenshots(a, SHOTS)

    for x in (a, b):
        assert_no_console_errors(x, "while chatting")

    # Closing one browser drops its user from the other's member list.
    b.quit()
    wait_for(a, "bob to leave the member list", lambda d: members(d) == ["alice"])
    assert a.driver.find_element(By.ID, "member-count").get_attribute("textContent") == "1"
    assert status(a.driver) == "Connected"
    assert_no_console_errors(a, "after the other browser closed")
