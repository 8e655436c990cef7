"""What the JupyterHub test needs from the machine: root, configurable-http-proxy, a Python environment the test
users can execute, and the two OS users. Outside CI a missing piece skips the test; in CI (CI=true) it fails it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("MMCHAT_HUB_VENV", "/opt/mmchat-hub-test/venv"))
USERS = ("mmchat-alice", "mmchat-bob")
#: The GECOS comment of users this test created: a user of that name without it is someone else's, left alone.
MARKER = "mmchat-jupyter hub test user"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail loudly in CI, where this test must run."""
    if in_ci():
        pytest.fail(f"the JupyterHub test must run in CI but cannot: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Machine:
    """The prepared machine: the proxy, the users' venv, a fresh copy of the package and a private work area."""

    proxy: str
    venv: Path
    run_dir: Path
    src: Path
    users: dict[str, pwd.struct_passwd]

    @property
    def admin_config(self) -> Path:
        """`{sys.prefix}/etc/ipython/ipython_config.py` of the users' interpreter: a system-wide IPython config
        that only root can write, exactly where an administrator would put the policy."""
        return self.venv / "etc" / "ipython" / "ipython_config.py"


@pytest.fixture(scope="session")
def machine() -> Iterator[Machine]:
    if os.geteuid() != 0:
        unavailable("needs root: it creates OS users and spawns their servers as them")
    try:
        setup = subprocess.run(
            ["bash", str(REPO / ".ci" / "hub-setup.sh"), sys.executable],
            check=False, capture_output=True, text=True, timeout=900, env={**os.environ, "MMCHAT_HUB_VENV": str(VENV)},
        )
    except subprocess.TimeoutExpired:
        unavailable(".ci/hub-setup.sh took more than 15 minutes")
    if setup.returncode != 0:
        unavailable(f".ci/hub-setup.sh failed (configurable-http-proxy or the users' venv): {setup.stderr[-3000:]}")
    proxy = shutil.which("configurable-http-proxy")
    if proxy is None:
        unavailable("configurable-http-proxy is not on PATH after .ci/hub-setup.sh")
    users = {name: ensure_user(name) for name in USERS}
    # Everything the users' processes read must be reachable by them: a world-traversable dir beside the venv.
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=VENV.parent))
    run_dir.chmod(0o755)
    src = run_dir / "src"
    shutil.copytree(REPO / "mmchat_jupyter", src / "mmchat_jupyter", ignore=shutil.ignore_patterns("__pycache__"))
    make_readable(src)
    try:
        yield Machine(proxy, VENV, run_dir, src, users)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def ensure_user(name: str) -> pwd.struct_passwd:
    """The OS user `name`, created on first use and reused after; its mmchat history from earlier runs removed."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--comment", MARKER, "--shell", "/bin/bash", name], check=True)
        entry = pwd.getpwnam(name)
    if entry.pw_gecos != MARKER:
        unavailable(f"the OS user {name} exists and was not made by this test: not touching it")
    home = Path(entry.pw_dir)
    # A traversable home (Debian's old default): only mmchat's own 0700/0600 may keep the other user out.
    home.chmod(0o755)
    shutil.rmtree(home / ".local" / "share" / "jupyter" / "mmchat", ignore_errors=True)
    return entry


def make_readable(top: Path) -> None:
    """Directories 0755 and files 0644 under `top`, whatever the umask or the checkout's modes were."""
    for path in [top, *top.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else stat.S_IMODE(path.stat().st_mode) | 0o444)


def open_parents(user: pwd.struct_passwd, root: Path) -> None:
    """Make every directory from the user's home down to (not including) `root` world-traversable, so that the
    other user is stopped by the history's own modes and by nothing else."""
    home = Path(user.pw_dir)
    for parent in reversed(root.parents):
        if parent == home or home in parent.parents:
            parent.chmod(0o755)
