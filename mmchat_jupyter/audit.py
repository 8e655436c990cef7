"""The administrator's optional audit log: one JSON line per answer, in a file per user.

Enabled with `c.MMChat.audit_log = "/var/log/mmchat"`. It records who used which provider and model and how
many tokens, and the prompt text only when `c.MMChat.audit_prompts = True`. Never a secret, never the answer.

The kernel that writes the line runs as the user, so the directory must be writable by every user; the intended
layout is a sticky, write-only directory (`install -d -m 1733 /var/log/mmchat`): each user creates and appends to
their own 0600 file and cannot list or read anyone else's. Because the user owns their file, this is a usage log,
not tamper-proof evidence (see docs/deploy-jupyterhub.md). Opening refuses symlinks and files owned by someone
else, so another user cannot plant a file or link in the shared directory to read or redirect the entries.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import now_iso

if TYPE_CHECKING:
    from .config import MMChat
    from .session import Turn

log = logging.getLogger("mmchat_jupyter.audit")

#: Characters kept in a file name; anything else (a slash in a hub user name, say) becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
#: Paths we already warned about, so a missing directory is reported once per kernel, not once per answer.
_warned: set[str] = set()


def audit_user() -> str:
    """The name entries are filed under: the hub's user name when there is one, else the OS user's."""
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def audit_path(directory: str, user: str) -> Path:
    """`<directory>/<user>.jsonl`, with the user name made safe for a file name."""
    name = _UNSAFE.sub("_", user).lstrip(".") or "_"
    return Path(directory) / f"{name}.jsonl"


def entry_for(admin: MMChat, turn: Turn, user: str) -> dict[str, Any]:
    """The audit record of one answer: usage, never the answer, the prompt only when the admin asked for it."""
    entry: dict[str, Any] = {
        "time": now_iso(),
        "user": user,
        "provider": turn.provider,
        "model": turn.model,
        "status": turn.status,
        "usage": turn.usage.as_dict() if turn.usage else None,
    }
    if admin.audit_prompts:
        entry["prompt"] = turn.prompt
    return entry


def record_turn(admin: MMChat, turn: Turn) -> None:
    """Append one line for `turn` to the user's audit file; a failure to write never breaks the chat."""
    user = audit_user()
    path = audit_path(admin.audit_log, user)
    line = json.dumps(entry_for(admin, turn, user), ensure_ascii=False) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        _warn_once(path, "cannot write the audit log at %s: %s", path, exc.strerror)
        return
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            _warn_once(path, "not writing the audit log at %s: the file belongs to another user", path)
            return
        # One write() of one short line with O_APPEND: concurrent kernels of the user do not interleave lines.
        os.write(fd, line.encode("utf-8"))
    except OSError as exc:
        _warn_once(path, "cannot write the audit log at %s: %s", path, exc.strerror)
    finally:
        os.close(fd)


def _warn_once(path: Path, message: str, *args: Any) -> None:
    if str(path) not in _warned:
        _warned.add(str(path))
        log.warning(message, *args)
