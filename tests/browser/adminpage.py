# SPDX-License-Identifier: MIT
"""What the browser tests do with the admin page (www/admin/): open it, give the token, read
its panels; and confab.v1 clients that stay connected meanwhile, on an event loop of their own
(the page is driven synchronously). Every wait polls a condition; none sleeps."""
import asyncio
import threading

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from confabtest import T, Client
from webclient import by_id, fill, text_of, wait_for


class Clients:
    """confab.v1 clients on an event loop in a thread: run(coro) waits for coro there."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.made = []

    def run(self, coro, timeout=20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(T(timeout))

    def connect(self, server, name):
        c = self.run(Client.connect(server, name))
        self.made.append(c)
        return c

    def event(self, c, pred, what):
        return self.run(c.wait_event(pred, what=what))

    def close(self):
        async def all_():
            await asyncio.gather(*(c.close() for c in self.made), return_exceptions=True)
        try:
            self.run(all_())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(T(5))
            self.loop.close()


def open_admin(b, server):
    b.driver.get(server.url("/admin"))
    wait_for(b, "the token form", lambda d: by_id(d, "token-form").is_displayed())


def give_token(b, token):
    d = b.driver
    fill(d, "token", token)
    d.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()


def room_names(d):
    return d.execute_script("return Array.from(document.querySelectorAll('#room-list button'),"
                            " (b) => b.dataset.room);")


def member_names(d):
    return sorted(d.execute_script(
        "return Array.from(document.querySelectorAll('#member-list .member-name'),"
        " (e) => e.textContent);"))


def member_button(d, name, label):
    for li in d.find_elements(By.CSS_SELECTOR, "#member-list li"):
        if li.find_element(By.CSS_SELECTOR, ".member-name").get_attribute("textContent") == name:
            for btn in li.find_elements(By.TAG_NAME, "button"):
                if btn.get_attribute("textContent") == label:
                    return btn
    raise AssertionError(f"no {label} button for {name}: {member_names(d)}")


def click_member(b, name, label):
    """Clicks a member's button; the list is redrawn when a poll changes it, so a button
    found just before may be gone: found again then."""
    def go(d):
        try:
            member_button(d, name, label).click()
            return True
        except StaleElementReferenceException:
            return False
    wait_for(b, f"{label} of {name} clicked", go)


def select_room(b, room):
    wait_for(b, f"{room} in the room list", lambda d: room in room_names(d))

    def go(d):
        try:
            d.find_element(By.CSS_SELECTOR, f"#room-list button[data-room='{room}']").click()
            return True
        except StaleElementReferenceException:  # redrawn by a poll meanwhile
            return False
    wait_for(b, f"{room} clicked", go)
    wait_for(b, f"{room} shown", lambda d: text_of(d, "room-name") == room)


def action_msg(d):
    return text_of(d, "action-msg")


def assert_no_script_errors(b, when):
    """No console error but the refused requests the test provoked (Chromium logs every
    answer of 4xx as an error): none from the page's script."""
    severe = [e["message"] for e in b.read_console() if e["level"] == "SEVERE" and
              "Failed to load resource: the server responded with a status of 4" not in
              e["message"]]
    assert not severe, f"[{b.label}] console errors {when}: " + "\n".join(severe)
