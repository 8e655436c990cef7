"""The administrator's optional audit log: one JSON line per answer, in a file per user.

Enabled with `c.MMChat.audit_log = "/var/log/mmchat"`. It records who used which provider and model and how
many tokens, and the prompt text only when `c.MMChat.audit_prompts = True`. Never a secret, never the answer.

Who: the JupyterHub user name (`JUPYTERHUB_USER`, set by the spawner), else the OS account of the process
(`pwd`, never `USER`/`LOGNAME`, which anyone can set). Every line also carries the OS account, so a line filed
under a hub name that does not match the account it came from stands out.

Where: `<directory>/<user>.jsonl`. The kernel writing the line runs as the user, and a user must not be able to
lock another out of their file (by creating it first) or make them write into one they can read. So:

  * the recommended layout is prepared by the admin side: `prepare(directory, user)` (as root: JupyterHub's
    `pre_spawn_hook`, see `pre_spawn_hook`, or `python -m mmchat_jupyter.audit prepare DIR USER...`) creates
    the directory 0711 owned by root (users cannot create, list or remove anything in it) and the user's file
    0600 owned by the user, moving aside a file someone else planted;
  * a kernel only appends to a regular file it owns (opened without following symlinks, without blocking on a
    FIFO). If there is none and the directory is a shared sticky one (`install -d -m 1733`, the older layout),
    it creates its own; a file that is not its own is refused, and so is a missing file in a directory it
    cannot write: every refused answer logs an ERROR line saying what the administrator must do (loud, and never
    breaking the chat).

Because the user owns their file, this is a usage log, not tamper-proof evidence (see docs/deploy-jupyterhub.md).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import re
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import now_iso

if TYPE_CHECKING:
    from .config import MMChat
    from .session import Turn

log = logging.getLogger("mmchat_jupyter.audit")

#: Characters kept in a file name; anything else (a slash in a hub user name, say) becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
#: Opening the user's file: append only, never through a symlink, never blocking on a FIFO someone planted.
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def os_account() -> str:
    """The OS account this process runs as (from the password database, not from the environment)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a container UID with no passwd entry
        return str(uid)


def audit_user() -> str:
    """The name entries are filed under: the hub's user name when there is one, else the OS account's."""
    return os.environ.get("JUPYTERHUB_USER") or os_account()


def audit_path(directory: str, user: str) -> Path:
    """`<directory>/<user>.jsonl`, with the user name made safe for a file name."""
    name = _UNSAFE.sub("_", user).lstrip(".") or "_"
    return Path(directory) / f"{name}.jsonl"


def entry_for(admin: MMChat, turn: Turn, user: str) -> dict[str, Any]:
    """The audit record of one answer: usage, never the answer, the prompt only when the admin asked for it."""
    entry: dict[str, Any] = {
        "time": now_iso(),
        "user": user,
        "account": os_account(),
        "provider": turn.provider,
        "model": turn.model,
        "status": turn.status,
        "usage": turn.usage.as_dict() if turn.usage else None,
    }
    if admin.audit_prompts:
        entry["prompt"] = turn.prompt
    return entry


def record_turn(admin: MMChat, turn: Turn) -> str | None:
    """Append one line for `turn` to the user's audit file. A failure never breaks the chat: it is logged as an
    ERROR (every time: the administrator must fix it) and returned as that one line; None when written."""
    user = audit_user()
    path = audit_path(admin.audit_log, user)
    line = json.dumps(entry_for(admin, turn, user), ensure_ascii=False) + "\n"
    problem = _append(path, line.encode("utf-8"))
    if problem is not None:
        log.error("%s", problem)
    return problem


def _append(path: Path, data: bytes) -> str | None:
    try:
        fd = _open_own(path)
    except _Refused as refused:
        return str(refused)
    try:
        # One write() of one short line with O_APPEND: concurrent kernels of the user do not interleave lines.
        os.write(fd, data)
    except OSError as exc:
        return f"audit log not written: cannot write {path}: {exc.strerror}"
    finally:
        os.close(fd)
    return None


class _Refused(Exception):
    pass


def _open_own(path: Path) -> int:
    """A descriptor for appending to the user's own audit file; _Refused (one line, with the fix) otherwise."""
    fix = f"the administrator must run: python -m mmchat_jupyter.audit prepare {path.parent} {path.stem}"
    try:
        fd = os.open(path, _APPEND)
    except FileNotFoundError:
        fd = _create_own(path, fix)
    except OSError as exc:
        raise _Refused(f"audit log not written: cannot open {path} ({exc.strerror}); {fix}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_nlink != 1:
        os.close(fd)
        raise _Refused(f"audit log not written: {path} is not this user's own file (someone else created or "
                       f"linked it); {fix}")
    return fd


def _create_own(path: Path, fix: str) -> int:
    try:
        return os.open(path, _APPEND | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created meanwhile: by another kernel of ours, or planted; the checks decide
        try:
            return os.open(path, _APPEND)
        except OSError as exc:
            raise _Refused(f"audit log not written: cannot open {path} ({exc.strerror}); {fix}") from None
    except OSError as exc:
        raise _Refused(f"audit log not written: {path} does not exist and cannot be created ({exc.strerror}); "
                       f"{fix}") from None


# --- the administrator's side ------------------------------------------------------------------------------------

def prepare(directory: str | os.PathLike[str], user: str, uid: int | None = None, gid: int | None = None) -> Path:
    """Create `user`'s audit file, owned by them and 0600, in a directory only root can write (run as root).

    `uid`/`gid` default to the OS account named `user`. A file in the way that is not a regular file of that
    user (planted by someone else, or a symlink) is renamed aside to `<name>.planted-<time>` and reported on
    stderr. Idempotent: an existing good file is kept as it is.
    """
    if uid is None or gid is None:
        account = pwd.getpwnam(user)
        uid = account.pw_uid if uid is None else uid
        gid = account.pw_gid if gid is None else gid
    root = Path(directory)
    if not root.exists():
        root.mkdir(mode=0o711, parents=True)
        os.chmod(root, 0o711)  # noqa: S103 - traversable, not listable; mkdir's mode is filtered by the umask
    path = audit_path(str(root), user)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and (not stat.S_ISREG(info.st_mode) or info.st_uid != uid or info.st_nlink != 1):
        aside = path.with_name(f"{path.name}.planted-{time.strftime('%Y%m%dT%H%M%S')}")
        os.rename(path, aside)
        print(f"mmchat audit: {path} was not {user}'s own file; moved to {aside}", file=sys.stderr)
        info = None
    if info is None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    return path


def pre_spawn_hook(directory: str, uid: int | None = None, gid: int | None = None) -> Callable[[Any], None]:
    """A JupyterHub `c.Spawner.pre_spawn_hook` that prepares the spawning user's audit file.

    `uid`/`gid`: the account the user's server runs as when it is not the OS account of the hub user's name
    (containers: usually 1000/100).
    """

    def hook(spawner: Any) -> None:
        prepare(directory, spawner.user.name, uid, gid)

    return hook


def main(argv: list[str] | None = None) -> int:
    """`python -m mmchat_jupyter.audit prepare DIR USER...`: prepare each user's audit file (as root)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[0] != "prepare":
        print("usage: python -m mmchat_jupyter.audit prepare DIR USER...", file=sys.stderr)
        return 2
    for user in args[2:]:
        try:
            print(prepare(args[1], user))
        except (KeyError, OSError) as exc:
            print(f"mmchat audit: cannot prepare the file of {user}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
