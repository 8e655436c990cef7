"""The casefolded text of history files, for search: a file is parsed only when its raw text holds the needle.

JSON keeps message text as it is, except quotes, backslashes and control characters, so a needle free of those that
is not in a file's casefolded text is in none of its messages. Casefolding is the expensive part of a search
(Cyrillic text especially), so each process keeps the folded text of the files it searched, by (inode, mtime,
size), up to `BUDGET` characters. Sealed segments never change, so typing a search in the panel folds each of them
once; a rewritten head has a new stamp and is folded again. A full cache takes nothing new: a search scans every
file in the same order, which would make a least-recently-used cache smaller than the history miss every time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .storage import read_bytes

#: Characters of folded text kept per process (CPython stores Cyrillic text at 2 bytes a character).
BUDGET = 24_000_000

_cache: dict[str, tuple[tuple[int, int, int], str]] = {}
_size = 0
_guard = threading.Lock()


def usable(needle: str) -> bool:
    """Whether raw file text can rule out `needle` (casefolded): it holds nothing JSON would escape."""
    return bool(needle) and '"' not in needle and "\\" not in needle and all(ord(ch) >= 32 for ch in needle)


def may_hold(path: Path, needle: str) -> bool:
    """False only when no message stored in `path` can contain `needle` (casefolded, `usable`)."""
    global _size
    try:
        info = os.stat(path)
    except OSError:
        return True  # let the real read say what is wrong
    stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
    key = str(path)
    with _guard:
        cached = _cache.get(key)
        if cached is not None and cached[0] == stamp:
            return needle in cached[1]
    try:
        text = read_bytes(path).decode("utf-8", "replace").casefold()
    except OSError:
        return True
    with _guard:
        old = _cache.pop(key, None)
        if old is not None:
            _size -= len(old[1])
        if _size + len(text) <= BUDGET:
            _cache[key] = (stamp, text)
            _size += len(text)
    return needle in text
