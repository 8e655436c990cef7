"""Fixtures of the fault suite: a world-readable work folder, a small disk the kernel's user owns, the kernel."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..fakes.openai_compat import FakeOpenAI
from .disks import can_mount
from .kernel import REPO, Kernel, fault_user

#: Echo streams one word per chunk this far apart: long enough to land a fault mid-answer.
ECHO_DELAY = "0.02"


@pytest.fixture(scope="module")
def user():
    return fault_user()


@pytest.fixture(scope="module")
def world(user) -> Iterator[Path]:
    """A folder under /tmp the kernel's user can reach (pytest's own tmp is root's 0700), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="mmchat-faults-", dir="/tmp"))
    folder.chmod(0o755)
    src = folder / "src"
    shutil.copytree(REPO / "mmchat_jupyter", src / "mmchat_jupyter", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [src, *src.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield folder
    subprocess.run(["umount", "-l", str(folder / "disk")], capture_output=True, check=False)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def disk(world, user) -> Path:
    """The kernel's history lives on this 4 MB tmpfs, owned by the kernel's user."""
    reason = can_mount()
    if reason:
        pytest.skip(reason)
    mount = world / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=4m,mode=0700,uid={user.pw_uid},gid={user.pw_gid}",
                           "tmpfs", str(mount)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    return mount


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def kernel(world, disk, user, provider) -> Iterator[Kernel]:
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(world), "PYTHONPATH": str(world / "src"),
        "MMCHAT_HOME": str(disk / "mmchat"), "MMCHAT_LANG": "en", "MMCHAT_ECHO_DELAY": ECHO_DELAY,
        "MMCHAT_LOCK_TIMEOUT": "2",  # "locked" faults: a held lock is reported after 2 s, not 30
        "OPENAI_API_KEY": "sk-fault-suite", "OPENAI_BASE_URL": provider.url + "/v1",
        "JUPYTER_RUNTIME_DIR": str(world / "runtime"), "IPYTHONDIR": str(world / "ipython"),
    }
    for name in ("runtime", "ipython"):
        (world / name).mkdir(exist_ok=True)
        os.chown(world / name, user.pw_uid, user.pw_gid)
    started = Kernel(world, user, env)
    yield started
    started.stop()
