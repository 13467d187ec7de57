# SPDX-License-Identifier: MIT
"""What the browser tests do with the web client's page (www/): sign in, read the sidebar and
the messages, send, wait for the DOM. Every wait polls a DOM condition; none sleeps."""
import asyncio
import os
import shutil

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import TimeoutException

from confabtest import T, Client

SHOTS = os.environ.get("CONFAB_BROWSER_SHOTS")
PASSWORD = "correct horse battery"

JS_MESSAGES = """return Array.from(document.querySelectorAll('#scroller .msg'), (li) => ({
    from: li.querySelector('.from').textContent, text: li.querySelector('.text').textContent,
    seq: li.dataset.seq ? Number(li.dataset.seq) : null, pending: li.classList.contains('pending'),
    failed: li.classList.contains('failed'), meta: li.querySelector('.meta').textContent,
    kept: !!li.querySelector('.kept')}));"""
JS_NAV = """return Array.from(document.querySelectorAll(arguments[0] + ' li'), (li) => {
    const b = li.querySelector('.unread');
    return [li.querySelector('.nav-name').textContent, b.hidden ? 0 : Number(b.textContent),
            li.querySelector('[aria-current]') !== null];
});"""
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


def by_id(d, id_):
    return d.find_element(By.ID, id_)


def text_of(d, id_):
    return by_id(d, id_).get_attribute("textContent").strip()


def messages(d):
    return d.execute_script(JS_MESSAGES)


def texts(d):
    """(from, text) of every message shown, in order, pending ones included."""
    return [(m["from"], m["text"]) for m in messages(d)]


def rooms(d):
    """{room: unread} of the sidebar, in order."""
    return {n: u for n, u, _ in d.execute_script(JS_NAV, "#room-list")}


def dms(d):
    return {n: u for n, u, _ in d.execute_script(JS_NAV, "#dm-list")}


def current(d):
    """The name of the sidebar entry shown now (aria-current)."""
    for sel in ("#room-list", "#dm-list"):
        for n, _, cur in d.execute_script(JS_NAV, sel):
            if cur:
                return n
    return None


def members(d):
    return sorted(d.execute_script(JS_MEMBERS))


def state(d):
    return by_id(d, "status").get_attribute("data-state")


def storage(d, key):
    return d.execute_script("return localStorage.getItem(arguments[0])", key)


def wait_online(b, timeout=10):
    wait_for(b, "status online", lambda d: state(d) == "online" and
             text_of(d, "status-text") == "Online", timeout)


def assert_no_console_errors(b, when):
    # The page declares an empty icon, so not even a favicon 404 is excused.
    severe = [e for e in b.read_console() if e["level"] == "SEVERE"]
    assert not severe, f"[{b.label}] console errors {when}: " + \
        "\n".join(e["message"] for e in severe)


def open_page(b, url):
    b.driver.get(url)
    wait_for(b, "the page's script", lambda d: not by_id(d, "auth-view").get_attribute("hidden")
             or not by_id(d, "app").get_attribute("hidden"))


def fill(d, id_, value):
    e = by_id(d, id_)
    e.clear()
    e.send_keys(value)


def account(b, url, name, op="signup", password=PASSWORD, expect_ok=True):
    """Signs up (op="signup") or in (op="signin") from the sign-in page at url."""
    d = b.driver
    if url:
        open_page(b, url)
    wait_for(b, "the sign-in page", lambda d: by_id(d, "account-form").is_displayed())
    fill(d, "account-name", name)
    fill(d, "account-password", password)
    by_id(d, op).click()
    if expect_ok:
        wait_for(b, "the app", lambda d: by_id(d, "app").is_displayed())
        wait_online(b)
        assert text_of(d, "me-name") == name


def guest(b, url, name):
    d = b.driver
    open_page(b, url)
    fill(d, "guest-name", name)
    by_id(d, "guest").click()
    wait_for(b, "the app", lambda d: by_id(d, "app").is_displayed())
    wait_online(b)


def in_room(b, room):
    wait_for(b, f"the view of {room}", lambda d: text_of(d, "view-title") == f"# {room}")
    wait_for(b, f"{room} joined", lambda d: d.execute_script(
        "return !!document.querySelector('#scroller .notice.start, #scroller .msg')"))


def send(b, text, enter=True):
    d = b.driver
    box = by_id(d, "text")
    box.send_keys(text)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        d.find_element(By.CSS_SELECTOR, "#send-form button[type=submit]").click()
    wait_for(b, "the composer to clear", lambda d: box.get_attribute("value") == "")


def open_nav(b, name):
    """Clicks the sidebar entry called name."""
    d = b.driver
    for li in d.find_elements(By.CSS_SELECTOR, "#room-list li, #dm-list li"):
        if li.find_element(By.CSS_SELECTOR, ".nav-name").get_attribute("textContent") == name:
            li.find_element(By.TAG_NAME, "button").click()
            wait_for(b, f"{name} shown", lambda d: current(d) == name)
            return
    raise AssertionError(f"[{b.label}] no sidebar entry {name!r}: {rooms(d)} {dms(d)}")


def join_room(b, room):
    """Joins room with the sidebar's join dialog."""
    d = b.driver
    by_id(d, "open-join").click()
    wait_for(b, "the join dialog", lambda d: by_id(d, "join-dialog").is_displayed())
    fill(d, "join-room", room)
    d.find_element(By.CSS_SELECTOR, "#join-form button[type=submit]").click()
    wait_for(b, "the join dialog to close", lambda d: not by_id(d, "join-dialog").is_displayed())
    in_room(b, room)


def shot(b, folder, name):
    """A screenshot for a person to look at: in the test's tmp dir, and CONFAB_BROWSER_SHOTS."""
    path = os.path.join(str(folder), f"{name}.png")
    b.driver.save_screenshot(path)
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        shutil.copy(path, os.path.join(SHOTS, f"{name}.png"))
    return path


def register(server, name, password=PASSWORD):
    """Registers an account over a plain confab.v1 socket (not the page under test)."""
    async def go():
        c = await Client.connect(server, hello=False)
        try:
            await c.ok("register", name=name, password=password)
        finally:
            await c.close()
    asyncio.run(go())


def seen(d):
    """The read receipt line under the last message ('' when hidden)."""
    return d.execute_script("const e = document.querySelector('#scroller .seen');"
                            "return e && !e.hidden ? e.textContent : '';")


def directory(d):
    """[(room, kind, members text, topic, joined)] of the join dialog's directory."""
    return [tuple(r) for r in d.execute_script("""return Array.from(
        document.querySelectorAll('#directory li'),
        (li) => [li.dataset.room, li.querySelector('.tag').textContent,
                 li.querySelector('.dir-head .muted').textContent,
                 (li.querySelector('.dir-topic') || {}).textContent || '',
                 !li.querySelector('button')]);""")]


def create_rooms(server, owner, rooms):
    """Registers the account owner and creates rooms ({name: (kind, topic)}) over a plain
    confab.v1 socket."""
    async def go():
        c = await Client.connect(server, hello=False)
        try:
            tok = (await c.ok("register", timeout=T(20), name=owner,
                              password=PASSWORD))["token"]
            await c.ok("hello", timeout=T(20), token=tok)
            for name, (kind, topic) in rooms.items():
                await c.ok("create", room=name, kind=kind, topic=topic)
        finally:
            await c.close()
    asyncio.run(go())
