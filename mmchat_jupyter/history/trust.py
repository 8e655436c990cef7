"""Whether a history folder is the user's own, and so safe to read settings from and to write chats to.

A history folder that another user can write to is a way into the user's session: a `settings.json` planted there
can point a provider at the other user's server, which then receives the user's API key and chat (issue 12). So a
folder is used only if it is the user's own:

- the folder (after following a symbolic link given as MMCHAT_HOME) is a directory owned by the user and not
  writable by group or others, and so are the `chats` and `backups` folders inside it;
- every symbolic link on the way was made by the user or by root, not by someone else;
- every folder above it is owned by the user or root, and is not writable by others unless it is sticky
  (like /tmp, where others cannot rename or replace what is not theirs).

Files inside are opened with O_NOFOLLOW, and `settings.json` must also be the user's and not writable by others
(it may have been planted before the folder was made private).
Anything else is refused with one line saying why and what to do. Checks use `lstat`, never following a link
they do not mean to follow.
"""

from __future__ import annotations

import os
import pwd
import stat
from contextlib import suppress
from pathlib import Path

from ..errors import HistoryError
from ..i18n import _

_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def check_folder(root: Path) -> None:
    """Raise `HistoryError` (one line) unless `root` is safe to use as the user's history folder.

    A folder that does not exist yet is fine if the folder it will be created in is.
    """
    me = os.geteuid()
    _check_links(root, me)
    real = Path(os.path.realpath(root))
    existing = real
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent  # created later by us, 0700: what matters is where
    if existing == real:
        _check_own(real, os.lstat(real), me)
        for inner in ("chats", "backups"):
            with suppress(FileNotFoundError):
                _check_own(real / inner, os.lstat(real / inner), me)
        _check_parents(real, list(real.parents), me)
    else:
        _check_parents(real, [existing, *existing.parents], me)


def check_file(path: Path) -> None:
    """Refuse a settings file that is not the user's own: another user could have put a provider address there
    (before the folder was made private). Inside a folder that passed `check_folder` nobody else can swap it."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & _OTHERS_WRITE:
        text = _(
            "The settings file {path} belongs to another user or can be written by others, so it was not used: "
            "delete it (your chats are not in it) and make your settings again."
        )
        raise HistoryError(text.format(path=path))


def _check_links(root: Path, me: int) -> None:
    """Every symbolic link on the way to `root` must be the user's or root's: another user could repoint it."""
    for prefix in [*reversed(root.parents), root]:
        try:
            info = os.lstat(prefix)
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in (me, 0):
            text = _(
                "The history folder {path} goes through a symbolic link made by another user ({link}, by "
                "{owner}); mmchat-jupyter only uses a folder of your own: set MMCHAT_HOME to a folder you own."
            )
            raise HistoryError(text.format(path=root, link=prefix, owner=_owner(info.st_uid)))


def _check_own(path: Path, info: os.stat_result, me: int) -> None:
    if not stat.S_ISDIR(info.st_mode):
        if stat.S_ISLNK(info.st_mode):
            text = _("The history folder {path} is a symbolic link, which mmchat-jupyter does not follow inside the "
                     "history: replace it with a folder.")
            raise HistoryError(text.format(path=path))
        text = _("The history folder {path} is not a folder: set MMCHAT_HOME to a folder of your own.")
        raise HistoryError(text.format(path=path))
    if info.st_uid != me:
        text = _(
            "The history folder {path} belongs to another user ({owner}); mmchat-jupyter only uses a folder of "
            "your own: set MMCHAT_HOME to a folder you own."
        )
        raise HistoryError(text.format(path=path, owner=_owner(info.st_uid)))
    if info.st_mode & _OTHERS_WRITE:
        text = _(
            "The history folder {path} can be changed by other users (mode {mode}), who could redirect your "
            "providers and read your chats: run `chmod 700 {path}`, or set MMCHAT_HOME to a private folder."
        )
        raise HistoryError(text.format(path=path, mode=f"{stat.S_IMODE(info.st_mode):04o}"))


def _check_parents(path: Path, parents: list[Path], me: int) -> None:
    for parent in parents:
        info = os.lstat(parent)
        foreign = info.st_uid not in (me, 0)
        open_to_others = info.st_mode & _OTHERS_WRITE and not info.st_mode & stat.S_ISVTX
        if foreign or open_to_others:
            text = _(
                "The history folder {path} is inside {parent}, which another user can change ({why}): set "
                "MMCHAT_HOME to a folder only you control."
            )
            why = (
                _("it belongs to {owner}").format(owner=_owner(info.st_uid))
                if foreign
                else _("mode {mode}").format(mode=f"{stat.S_IMODE(info.st_mode):04o}")
            )
            raise HistoryError(text.format(path=path, parent=parent, why=why))


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
