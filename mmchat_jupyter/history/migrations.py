"""Schema versions of the history store and the ordered migrations between them.

Version 1 is the prototype's layout: one plain TinyDB file, `history.json`, with a `chats` table and a `messages`
table whose rows point at their chat by TinyDB doc id, times in Unix seconds, token counts as
`{"input": n, "output": n}` and an `interrupted` flag. That is the layout issue 3 measured breaking under several
kernels, so it is only ever read, to migrate it.

Version 2 is `index.json` plus one TinyDB file per chat; every file carries the version in its `_meta` table.

Version 3 (current) keeps that layout but bounds each chat file: it is the chat's head, and older messages live in
sealed segments beside it (see `segments.py`). A version-2 chat file is a head without segments, so only chat files
too long for a head are rewritten; the others become version 3 on their next write.

`MIGRATIONS[n - 1]` takes a store from version n to n + 1. A migration is a function of the root directory, run
under the store lock after `backup()` copied every data file; it writes raw JSON as that version defined it (not
through today's classes, which will move on) and makes the new version visible only in its last steps, so an
interrupted migration is simply run again on the next open.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import CorruptHistoryError
from ..i18n import _
from . import segments, summary
from .paths import FILE_MODE, Layout, make_dir, new_id
from .records import row_problem
from .storage import check_schema, fsync_dir, read_json, schema_of, write_json_atomic

SCHEMA_VERSION = 3


def _iso(seconds: Any) -> str:
    """Schema 1 stored Unix seconds; schema 2 stores ISO 8601 UTC, as `types.now_iso()` writes it."""
    try:
        return datetime.fromtimestamp(float(seconds), timezone.utc).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, timezone.utc).isoformat()


def _m001_message(row: dict[str, Any]) -> dict[str, Any]:
    tokens = row.get("tokens") or {}
    usage = None
    if tokens:
        prompt, completion = int(tokens.get("input", 0)), int(tokens.get("output", 0))
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {
        "id": new_id(),
        "role": row.get("role", "user"),
        "content": row.get("content", ""),
        "created": _iso(row.get("ts")),
        "provider": row.get("provider"),
        "model": row.get("model"),
        "params": row.get("params") or {},
        "usage": usage,
        "status": "interrupted" if row.get("interrupted") else "complete",
        "finish_reason": None,
        "error": None,
    }


def m001_split_single_file(root: Path) -> None:
    """1 -> 2: split `history.json` into one file per chat with our own ids, plus the index."""
    layout = Layout(root)
    legacy = read_json(layout.legacy) or {}
    chats_dir = layout.chats
    # The new chat files are built in a staging directory that becomes `chats/` in one rename: `chats/` existing
    # beside `history.json` means a previous run got that far, and only the version record is left to write.
    if not chats_dir.exists():
        staging = root / "chats.m001"
        if staging.exists():
            shutil.rmtree(staging)  # a run killed while filling it; history.json is still the source
        make_dir(staging)
        for row in _m001_chats(legacy):
            write_json_atomic(staging / f"{row['chat']['1']['id']}.json", row)
        os.rename(staging, chats_dir)
        fsync_dir(root)
    # history.json goes before the index is written: a root with `chats/` and neither file reads as schema 2.
    layout.legacy.unlink()  # a copy is in backups/
    fsync_dir(root)
    write_json_atomic(layout.index, {"_meta": {"1": {"schema": 2}}, "chats": {}})


def _m001_chats(legacy: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema-2 chat files for a schema-1 database, in its chat order."""
    messages_by_chat: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(legacy.get("messages", {}), key=_doc_id_order):
        row = legacy["messages"][key]
        messages_by_chat.setdefault(str(row.get("chat")), []).append(row)
    chats = dict(legacy.get("chats", {}))
    # Messages whose chat row is gone are kept in a chat of their own rather than dropped.
    orphans = [chat for chat in messages_by_chat if chat not in chats]
    if orphans:
        chats["orphans"] = {"name": _("recovered messages"), "created": None}
        messages_by_chat["orphans"] = [row for chat in orphans for row in messages_by_chat[chat]]
    files, taken = [], set()
    for key in sorted(chats, key=_doc_id_order):
        chat, rows = chats[key], messages_by_chat.get(key, [])
        name = base = str(chat.get("name") or "").strip() or _("chat") + f"-{key}"
        suffix = 2
        while name in taken:
            name, suffix = f"{base}-{suffix}", suffix + 1
        taken.add(name)
        messages = [_m001_message(row) for row in rows]
        created = (
            _iso(chat["created"])
            if chat.get("created") is not None
            else min([message["created"] for message in messages] or [_iso(0)])
        )
        updated = max([created] + [message["created"] for message in messages])
        header: dict[str, Any] = {"id": new_id(), "name": name, "created": created, "updated": updated, "meta": {}}
        files.append(
            {
                "_meta": {"1": {"schema": 2}},
                "chat": {"1": header},
                "messages": {str(n): message for n, message in enumerate(messages, 1)},
            }
        )
    return files


def m002_segments(root: Path) -> None:
    """2 -> 3: chat files too long for a head are split into a head and sealed segments, chat by chat.

    A chat is done when its new head replaced the old file (the segments were written first); a run killed before
    that leaves the old file, and the segments it wrote are thrown away by the next run. The index (a cache with
    the same rows) is stamped with the new version last.
    """
    layout = Layout(root)
    for path in sorted(layout.chats.glob("*.json")):
        try:
            data = read_json(path)
        except CorruptHistoryError:
            continue  # left as it is, for the index to report
        if data is None or schema_of(data) != 2 or not isinstance(data.get("messages"), dict):
            continue
        stored = data["messages"]
        rows = list(stored.values())
        if any(row_problem(row) is not None for row in rows):
            continue  # damaged: reported, never rewritten
        seal = segments.to_seal(rows)
        if not seal:
            continue
        segments.tidy(path, None)
        epoch = segments.new_epoch()
        last = segments.seal(path, epoch, 0, rows[:seal], None)
        sealed = {"epoch": epoch, "count": seal, "last": last, "summary": summary.of_rows(rows[:seal])}
        head = {
            **data,
            "_meta": {"1": {"schema": 3}},
            "sealed": {"1": sealed},
            "messages": dict(list(stored.items())[seal:]),
        }
        write_json_atomic(path, head)
    try:
        index = read_json(layout.index) or {}
    except CorruptHistoryError:
        index = {}
    write_json_atomic(layout.index, {**index, "_meta": {"1": {"schema": 3}}})


def _doc_id_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 62, key)


MIGRATIONS: list[Callable[[Path], None]] = [m001_split_single_file, m002_segments]
assert len(MIGRATIONS) == SCHEMA_VERSION - 1, "one migration per schema step"


def stored_version(layout: Layout) -> int | None:
    """The schema the data under `layout` is at; None for a new, empty root.

    A damaged index reads as current: it is a cache, rebuilt by the index, and every chat file checks its own version.
    """
    if layout.index.exists():
        try:
            data = read_json(layout.index)
        except CorruptHistoryError:
            return SCHEMA_VERSION
        return schema_of(data or {}) or SCHEMA_VERSION
    if layout.legacy.exists():
        return schema_of(read_json(layout.legacy) or {}) or 1
    if layout.chats.exists():
        return SCHEMA_VERSION
    return None


def backup(layout: Layout, version: int) -> Path:
    """Copy every data file to `backups/schema-<version>-<UTC time>/` (0700 / 0600) and return that folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = layout.backups / f"schema-{version}-{stamp}"
    make_dir(target)
    skip = {layout.backups.name, layout.lock.name}
    for entry in sorted(layout.root.iterdir()):
        if entry.name in skip or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        else:
            shutil.copy2(entry, target / entry.name)
    for path in [target, *target.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else FILE_MODE)
    return target


def migrate(layout: Layout) -> list[str]:
    """Bring the store to `SCHEMA_VERSION`; the caller holds the store lock. Returns the migrations run.

    A new root gets an empty index recording the current version. Data from a newer mmchat-jupyter is refused
    with `CorruptHistoryError` and left as it is.
    """
    version = stored_version(layout)
    if version is None:
        make_dir(layout.chats)
        write_json_atomic(layout.index, {"_meta": {"1": {"schema": SCHEMA_VERSION}}, "chats": {}})
        return []
    if version > SCHEMA_VERSION:
        source = layout.index if layout.index.exists() else layout.legacy
        check_schema(source, read_json(source) or {}, SCHEMA_VERSION)
    if version == SCHEMA_VERSION:
        make_dir(layout.chats)
        return []
    backup(layout, version)
    applied = []
    for migration in MIGRATIONS[version - 1 :]:
        migration(layout.root)
        applied.append(migration.__name__)
    return applied
