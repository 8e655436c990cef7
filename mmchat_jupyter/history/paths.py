"""Where the history lives, what its files are called, and the ids that name chats and messages.

<root>/                  $MMCHAT_HOME, else <jupyter data dir>/mmchat          (0700)
    index.json           list_chats() cache + the store's schema version       (0600, derivable)
    settings.json        persisted settings, one TinyDB row per key            (0600)
    chats/<id>.json      one TinyDB file per chat: header + messages           (0600)
    backups/             copies taken before each migration                    (0700)
    .lock                the cross-process lock every write takes              (0600)
    changes.jsonl        the change journal the panel and the server API follow (0600, derivable)
"""

from __future__ import annotations

import errno
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import HistorySaveError
from ..i18n import _

APP_DIR = "mmchat"
DIR_MODE = 0o700
FILE_MODE = 0o600
#: Temp files are hidden and end in this suffix, so a crashed writer's leftovers are easy to find and never
#: mistaken for data.
TEMP_SUFFIX = ".tmp"

_ID_RE = re.compile(r"[0-9a-f]{32}")


def default_root() -> Path:
    """`$MMCHAT_HOME`, else `<jupyter data dir>/mmchat` (per user, so per user on a JupyterHub too)."""
    env = os.environ.get("MMCHAT_HOME")
    if env:
        return Path(env).expanduser()
    try:
        from jupyter_core.paths import jupyter_data_dir
    except ImportError:
        # platformdirs' "jupyter" data dir is the path jupyter_core would give, so the history does not move
        # when jupyter_core is installed later.
        from platformdirs import user_data_dir

        return Path(user_data_dir("jupyter")) / APP_DIR
    return Path(jupyter_data_dir()) / APP_DIR


def new_id() -> str:
    """A fresh id for a chat or a message: ours, never TinyDB's doc ids (those are per-file and get reused)."""
    return uuid.uuid4().hex


def is_id(value: str) -> bool:
    """Whether `value` has the shape of one of our ids (and so is safe to use as a file name)."""
    return bool(_ID_RE.fullmatch(value))


def make_dir(path: Path) -> None:
    """Create `path` (and missing parents) as 0700; a directory that already exists keeps its mode.

    An existing root may be a directory the user chose and shares on purpose, so only what we create is tightened.
    """
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another kernel created it first
            continue
        except OSError as exc:
            text = _("Cannot create the history folder {path} ({reason}): set MMCHAT_HOME to a folder you can "
                     "write to.")
            reason = "full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "read-only"
            message = text.format(path=directory, reason=exc.strerror or type(exc).__name__)
            raise HistorySaveError(message, reason=reason) from None
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask


@dataclass(frozen=True)
class Layout:
    """The paths of one history root."""

    root: Path

    @property
    def index(self) -> Path:
        return self.root / "index.json"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def chats(self) -> Path:
        return self.root / "chats"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def changes(self) -> Path:
        """The change journal (see `journal.py`)."""
        return self.root / "changes.jsonl"

    @property
    def legacy(self) -> Path:
        """Schema 1's single TinyDB file, present only until migration."""
        return self.root / "history.json"

    def chat_path(self, chat_id: str) -> Path:
        return self.chats / f"{chat_id}.json"
