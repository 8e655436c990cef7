"""Disks that refuse writes, made without LD_PRELOAD: a tiny tmpfs (ENOSPC) and a read-only bind mount (EROFS).

Both need root (CAP_SYS_ADMIN) and `mount`; where the machine cannot, the test is skipped with the reason. Every
mount is undone when the fixture ends (a lazy unmount, so a process still inside cannot keep it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"mount {' '.join(args)} failed")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def can_mount() -> str | None:
    """None when this process can mount; else why not (the skip reason)."""
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs or a read-only bind mount"
    if shutil.which("mount") is None:
        return "no `mount` command on this machine"
    return None


def _require_mount() -> None:
    reason = can_mount()
    if reason:
        pytest.skip(reason)


@contextmanager
def small_disk(path: Path, size: str = "256k") -> Iterator[Path]:
    """`path` as its own tmpfs of `size`: fill it (see `fill`) and every write fails with ENOSPC."""
    _require_mount()
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield path
    finally:
        _umount(path)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk`; delete the returned file to give the space back."""
    filler = disk / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 1):  # big pieces first, then the last bytes
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """`path` (an existing folder) made read-only in place by a read-only bind mount over itself."""
    _require_mount()
    try:
        _mount("--bind", str(path), str(path))
    except OSError as exc:
        pytest.skip(f"cannot bind-mount here: {exc}")
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        _umount(path)
