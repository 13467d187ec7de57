# SPDX-License-Identifier: MIT
"""Secrets are never printed (issue 12, item 11): --check-config, configuration errors and the
log show the Redis URL's password, redis.password (and its seed aliases REDIS_SECRET and
REDIS_PASSWORD) and server.admin_token masked, whichever way they were given."""
import os
import re
import subprocess

import pytest

from confabtest import CONFABD, T, poll_until_sync

SECRETS = ("urlpw4711", "keypw4712", "tokn4713", "envpw4714")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONFAB_", "REDIS_")) and k not in ("PORT", "SERVER_PORT")}
    env.update(extra)
    return env


def run(*args, env=None):
    return subprocess.run([CONFABD, *args], capture_output=True, text=True, timeout=T(30),
                          env=env or clean_env(), stdin=subprocess.DEVNULL)


def conf(tmp_path, url, extra=""):
    p = tmp_path / "confab.conf"
    p.write_text(f"[server]\nlisten = 127.0.0.1:1\nadmin_token = tokn4713\n{extra}"
                 f"[state]\ndir = {tmp_path}/state\n[redis]\nurl = {url}\n")
    return str(p)


def assert_no_secret(r):
    for s in SECRETS:
        assert s not in r.stdout and s not in r.stderr, (r.stdout, r.stderr)


def test_check_config_masks_every_secret(tmp_path):
    path = conf(tmp_path, "redis://app:urlpw4711@127.0.0.1:6379/2")
    with open(path, "a") as f:
        f.write("password = keypw4712\n")
    r = run("--config", path, "--check-config")
    assert r.returncode == 0, r.stderr
    assert_no_secret(r)
    assert "\nurl = redis://app:(hidden)@127.0.0.1:6379/2\n" in r.stdout, r.stdout
    assert "\npassword = (set)\n" in r.stdout and "\nadmin_token = (set)\n" in r.stdout


@pytest.mark.parametrize("url", [
    "redis://app:urlpw4711@127.0.0.1:99999/0",     # bad port
    "redis://:urlpw4711/with/a/slash@127.0.0.1",  # an unescaped '/' in the password
    "sentinel://:urlpw4711@/master",              # no sentinel
    "http://app:urlpw4711@127.0.0.1",             # wrong scheme
    "unix://:urlpw4711@run/redis.sock",           # relative path
])
def test_bad_url_errors_mask_the_password(tmp_path, url):
    path = conf(tmp_path, url)
    r = run("--config", path, "--check-config")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "redis.url" in r.stderr and "(hidden)" in r.stderr, r.stderr
    assert_no_secret(r)
    # Starting (not only checking) logs the same error, masked.
    r = run("--config", path)
    assert r.returncode != 0
    assert "invalid configuration" in r.stderr, r.stderr
    assert_no_secret(r)


@pytest.mark.parametrize("how", ["REDIS_URL", "CONFAB_REDIS_URL", "--redis"])
def test_url_from_environment_and_command_line(tmp_path, how):
    p = tmp_path / "confab.conf"
    p.write_text(f"[server]\nlisten = 127.0.0.1:1\n[state]\ndir = {tmp_path}/state\n")
    good, bad = "redis://:envpw4714@127.0.0.1:6379/0", "redis://:envpw4714@127.0.0.1:0"
    for url, code in ((good, 0), (bad, 1)):
        if how == "--redis":
            r = run("--config", str(p), "--check-config", "--redis", url)
        else:
            r = run("--config", str(p), "--check-config", env=clean_env(**{how: url}))
        assert r.returncode == code, (r.stdout, r.stderr)
        assert_no_secret(r)
        assert "(hidden)" in (r.stdout if code == 0 else r.stderr)


@pytest.mark.parametrize("addr,secret", [("REDIS_ENDPOINT", "REDIS_SECRET"),
                                         ("REDIS_ADDRESS", "REDIS_PASSWORD")])
def test_seed_password_aliases(tmp_path, addr, secret):
    p = tmp_path / "confab.conf"
    p.write_text(f"[server]\nlisten = 127.0.0.1:1\n[state]\ndir = {tmp_path}/state\n")
    r = run("--config", str(p), "--check-config",
            env=clean_env(**{addr: "127.0.0.1:6379", secret: "envpw4714"}))
    assert r.returncode == 0, r.stderr
    assert_no_secret(r)
    assert "\npassword = (set)\n" in r.stdout, r.stdout
    assert f"redis.password from {secret}" in r.stderr, r.stderr


def test_reload_error_masks_the_password(start_server):
    """A SIGHUP with a bad URL in the file: the running configuration stays, and neither the
    log nor the status systemd shows repeats the password."""
    s = start_server()
    values = dict(s.overrides)
    values[("redis", "url")] = "redis://app:urlpw4711@127.0.0.1:99999/0"
    s.reload(values)
    poll_until_sync(lambda: "reload failed" in s.log_text(), T(10), what="the reload error")
    log = s.log_text()
    assert "redis.url" in log and "(hidden)" in log, log
    assert "urlpw4711" not in log, log
    # The status line (sd_notify STATUS=) carries the reload error too.
    s.wait_notify(re.compile(r"^STATUS=.*reload at .* failed"), T(10))
    assert not [n for n in s.notifications if "urlpw4711" in n], s.notifications
    assert s.get("/healthz").status_code == 200
