# SPDX-License-Identifier: MIT
"""pytest glue of the headless-browser tests of the web client (www/).

A confabd started with the integration suite's Server helper (tests/integration/confabtest.py)
serves www/; Debian's chromium + chromium-driver, driven by python3-selenium, open it.

Environment: CONFABD (binary, default build/confabd), CONFAB_CHROMIUM / CONFAB_CHROMEDRIVER
(default /usr/bin/chromium, /usr/bin/chromedriver), CONFAB_BROWSER_SHOTS=DIR (also copy each
test's screenshots there; they are always saved in the test's tmp dir).
"""
import os
import shutil
import signal
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "integration")))

from confabtest import T, RedisServer, Server, ServerStartError  # noqa: E402

CHROMIUM = os.environ.get("CONFAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONFAB_CHROMEDRIVER", "/usr/bin/chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import WebDriverException
except ImportError as e:  # a missing dependency fails loudly rather than skipping
    raise ImportError(f"{e}: install python3-selenium (sh scripts/install-deps.sh)") from e


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach confabd's stderr and what each browser still has to say."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    mod = item.getparent(pytest.Module)
    for s in getattr(mod, "_confab_servers", []):
        rep.sections.append((f"confabd stderr (port {s.port})", s.log_text()))
    for b in getattr(item, "_confab_browsers", []):
        if b.driver is None:
            continue
        try:
            logs = b.driver.get_log("browser")
            body = b.driver.find_element("tag name", "body").text
        except Exception as e:  # noqa: BLE001 - the session may be gone already
            logs, body = [], f"(unavailable: {e})"
        b.console += logs
        rep.sections.append((f"browser {b.label}: console",
                             "\n".join(f"{x['level']} {x['message']}" for x in b.console)))
        rep.sections.append((f"browser {b.label}: page text", body))


# Typing indicators last 60 s (the most there is) instead of 6, so that one seen to go went
# for a reason other than its expiry; test_typing_expires has a server of its own for that.
OVERRIDES = {("rooms", "typing_ttl"): 60000}


@pytest.fixture(scope="module")
def server(request):
    """One confabd for the module (each test uses its own rooms and users); must exit 0 on
    SIGTERM."""
    s = Server(OVERRIDES)
    request.node._confab_servers = [s]
    try:
        s.start()
    except ServerStartError as e:
        pytest.fail(f"confabd did not start: {e}\n--- stderr ---\n{s.log_text()}")
    yield s
    alive = s.alive()
    code = s.stop()
    if not alive:
        pytest.fail(f"confabd died during the tests (exit {code})\n{s.log_text()}")
    if code != 0:
        pytest.fail(f"confabd did not exit cleanly on SIGTERM: exit {code}\n{s.log_text()}")
    s.cleanup()


@pytest.fixture
def own_server(request):
    """Factory: own_server(overrides, **Server kwargs) -> a started confabd for this test
    alone (one the test restarts, or configures apart); stopped at the end, where it must exit
    0."""
    made = []
    mod = request.node.getparent(pytest.Module)

    def new(overrides=None, **kw):
        s = Server({**OVERRIDES, **(overrides or {})}, **kw)
        made.append(s)
        mod._confab_servers = getattr(mod, "_confab_servers", []) + [s]
        try:
            s.start()
        except ServerStartError as e:
            pytest.fail(f"confabd did not start: {e}\n--- stderr ---\n{s.log_text()}")
        return s

    yield new
    for s in made:
        code = s.stop()
        assert code == 0, f"confabd did not exit cleanly: exit {code}\n{s.log_text()}"
        s.cleanup()


@pytest.fixture
def redis():
    """A redis-server of this test's own (cluster mode), killed at the end."""
    r = RedisServer().start()
    yield r
    r.cleanup()


class Browser:
    """One headless Chromium (own chromedriver, own profile, so own localStorage)."""

    def __init__(self, label, width=1200, height=800):
        self.label = label
        self.profile = tempfile.mkdtemp(prefix="confab-chromium-")
        self.console = []  # every console entry read so far
        self.driver = None
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--disable-background-networking", "--disable-sync", "--lang=en-US"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_path=os.devnull)
        try:
            self.driver = webdriver.Chrome(service=service, options=opts)
        except Exception:
            self.quit()
            raise
        self.driver.set_page_load_timeout(T(15))
        self.driver.set_script_timeout(T(10))

    def read_console(self):
        """Console entries since the last call (also kept in self.console)."""
        got = self.driver.get_log("browser")
        self.console += got
        return got

    def quit(self):
        """Ends the browser and its driver, then kills by PID anything still running on this
        profile (a Chromium child that outlived its parent)."""
        if self.driver is not None:
            d, self.driver = self.driver, None
            try:
                d.quit()
            except WebDriverException:
                pass
            proc = getattr(d.service, "process", None)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for pid in _pids_with_arg(f"--user-data-dir={self.profile}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


def _pids_with_arg(arg):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if arg.encode() in args:
            out.append(int(d))
    return out


@pytest.fixture
def browsers(request):
    """Factory: browsers(label) -> a new Browser; all are quit at the end of the test."""
    made = []
    request.node._confab_browsers = made
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: install chromium and chromium-driver "
                        "(sh scripts/install-deps.sh)")

    def new(label, **kw):
        b = Browser(label, **kw)
        made.append(b)
        return b

    yield new
    for b in made:
        b.quit()
