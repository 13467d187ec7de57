# SPDX-License-Identifier: MIT
"""A state directory confabd cannot use as the user it runs as: the state.dir itself, or a
file in it, left by a confabd that once ran as root (sh scripts/run.sh before it kept its state
in the checkout; a sysadmin who ran confabd by hand before installing the package). confabd
refuses to start, exit 1, before it listens, with an error that names the file, the user it runs
as, the file's owner and the command that fixes it; after that command it starts and keeps what
the directory holds.

confabd runs as nobody (setpriv), so these tests need root to set the scene up.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest
import requests

from confabtest import (CONFABD, VALGRIND, VALGRIND_CMD, Server, T, base_config, free_port,
                        poll_until_sync, render_config)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run confabd as nobody")

USER = "nobody"
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"


@pytest.fixture
def scene():
    """A temp dir nobody can enter, with a config whose state.dir is <dir>/state."""
    d = tempfile.mkdtemp(prefix="confab-owner-")
    os.chmod(d, 0o755)
    port = free_port()
    state = os.path.join(d, "state")
    values = base_config(port)
    values[("state", "dir")] = state
    conf = os.path.join(d, "confab.conf")
    with open(conf, "w") as f:
        f.write(render_config(values))
    os.chmod(conf, 0o644)
    try:
        yield d, state, conf, port
    finally:
        shutil.rmtree(d, ignore_errors=True)


def as_nobody(conf):
    pw = pwd.getpwnam(USER)
    cmd = [CONFABD, "--config", conf]
    if VALGRIND:
        cmd = VALGRIND_CMD + cmd
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONFAB_", "NOTIFY_", "LISTEN_"))}
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
            "--"] + cmd, env


def give_to_nobody(path):
    pw = pwd.getpwnam(USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def refused(conf, port):
    """Runs confabd as nobody; it must exit 1 without listening. Its stderr."""
    cmd, env = as_nobody(conf)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=T(20), env=env,
                       stdin=subprocess.DEVNULL, cwd="/")
    assert r.returncode == 1, (r.returncode, r.stderr)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=T(2)).close()
    return r.stderr


def starts(conf, port):
    """Runs confabd as nobody until /healthz answers 200, then SIGTERM: it must exit 0."""
    cmd, env = as_nobody(conf)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, cwd="/")
    try:
        def healthy():
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=T(2)).ok
            except requests.RequestException:
                return False
        poll_until_sync(healthy, T(20), what="confabd to answer /healthz")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(T(20)) == 0, proc.stdout.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(T(10))
        proc.stdout.close()


# (file name, mode, content): what a confabd run as root leaves there.
ROOT_FILES = [
    ("auth.key", 0o600, KEY),
    ("accounts.json", 0o600, '{"version":1,"accounts":[]}\n'),
    (".auth.key.tmp", 0o600, KEY),  # a write cut short by a crash
]


@pytest.mark.parametrize("name,mode,content", ROOT_FILES, ids=[f[0] for f in ROOT_FILES])
def test_root_owned_state_file_is_named_with_the_fix(scene, name, mode, content):
    _d, state, conf, port = scene
    os.mkdir(state, 0o750)
    give_to_nobody(state)
    path = os.path.join(state, name)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)  # and owned by root, who wrote it

    err = refused(conf, port)
    want = (f"{path}: Permission denied (running as {USER}, file owned by root): "
            f"chown -R {USER}: {state}")
    assert want in err, err

    # The fix it names works, and what the directory held is kept: the key is not replaced.
    subprocess.run(["chown", "-R", f"{USER}:", state], check=True, timeout=T(10))
    starts(conf, port)
    if name == "auth.key":
        with open(path) as f:
            assert f.read() == KEY


def test_root_owned_state_dir_is_named_with_the_fix(scene):
    _d, state, conf, port = scene
    os.mkdir(state, 0o755)  # root's, as a confabd run as root creates it (0750 then)
    err = refused(conf, port)
    want = (f"state.dir {state}: not writable by confabd: Permission denied (running as "
            f"{USER}, directory owned by root): chown -R {USER}: {state}")
    assert want in err, err
    subprocess.run(["chown", "-R", f"{USER}:", state], check=True, timeout=T(10))
    starts(conf, port)
    assert os.stat(os.path.join(state, "auth.key")).st_uid == pwd.getpwnam(USER).pw_uid


def test_own_unreadable_file_names_chmod(scene):
    """A file that is nobody's own but not readable and writable by it: chown would not help."""
    _d, state, conf, port = scene
    os.mkdir(state, 0o750)
    give_to_nobody(state)
    path = os.path.join(state, "auth.key")
    with open(path, "w") as f:
        f.write(KEY)
    os.chmod(path, 0o200)
    give_to_nobody(path)
    err = refused(conf, port)
    want = (f"{path}: Permission denied (running as {USER}, the file's owner, mode 0200): "
            f"chmod u+rw {path}")
    assert want in err, err
    os.chmod(path, 0o600)
    starts(conf, port)


def test_root_in_the_service_users_dir_is_warned():
    """How the root-owned files get there: confabd run by hand as root on the service user's
    directory. It still starts (root can), and says whose the directory is."""
    s = Server()
    try:
        state = os.path.join(s.dir, "state")
        os.mkdir(state, 0o750)
        give_to_nobody(state)
        s.start()
        want = (f"state.dir {state} belongs to {USER} but confabd runs as root: the files it "
                f"writes there will be root's (run it as {USER})")
        assert want in s.log_text(), s.log_text()
        assert s.stop() == 0
    finally:
        s.stop()
        s.cleanup()
