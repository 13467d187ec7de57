# SPDX-License-Identifier: MIT
"""The systemd units in systemd/: systemd-analyze verify finds nothing to say about them, and
their security exposure stays at or below 1.5 (systemd-analyze security --offline)."""
import os
import re
import subprocess

from confabtest import CONFABD, REPO

UNITS = os.path.join(REPO, "systemd")
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"


def copy_units(tmp_path, instance=None):
    """The units with ExecStart= pointing at the binary under test (verify checks that it
    exists); templates also as an instance, which is what verify can load."""
    paths = []
    for name in sorted(os.listdir(UNITS)):
        if not name.endswith((".service", ".socket")):
            continue
        with open(os.path.join(UNITS, name)) as f:
            text = f.read().replace("/usr/sbin/confabd", CONFABD)
        out = name.replace("@.", "@1.") if "@." in name else name
        (tmp_path / out).write_text(text)
        paths.append(str(tmp_path / out))
    return paths


def test_units_verify_clean(tmp_path):
    paths = copy_units(tmp_path)
    assert len(paths) == 4, paths
    r = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no"] + paths, capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), (
        r.stdout + r.stderr)


def test_services_security_exposure(tmp_path):
    for path in copy_units(tmp_path):
        if not path.endswith(".service"):
            continue
        r = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", path],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        assert m, r.stdout + r.stderr
        assert float(m.group(1)) <= 1.5, f"{path}: exposure {m.group(1)}\n{r.stdout}"


def test_sysusers_names_the_service_user():
    with open(os.path.join(UNITS, "confab.sysusers")) as f:
        lines = [x.split() for x in f if x.strip() and not x.startswith("#")]
    assert lines[0][:2] == ["u", "_confab"]
    for name in ("confab.service", "confab@.service"):
        with open(os.path.join(UNITS, name)) as f:
            text = f.read()
        assert "User=_confab" in text and "Type=notify" in text and "WatchdogSec=" in text
