"""What changed in the history, whoever changed it: this server, a kernel's `%%chat` or panel, `mmchat`.

One `ChangeWatcher` per server polls while anyone listens. The cheap signal is the chats folder itself: every write
of a chat file is an atomic rename into it (and a delete removes one), so the folder's modification time moves on
every change from any process. Only when it moved (or moved so recently that a change within the same clock tick
could hide behind it) is the chat list read and compared with the last one, which gives the events:

    chat_created   chat_renamed   chat_deleted   chat_cleared   message_added   chat_updated

each with the chat's `id`, `name`, `message_count` and `updated` (`chat_renamed` also the old `previous_name`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import MMChatError
from ..types import ChatSummary

log = logging.getLogger("mmchat_jupyter.server")

#: Seconds between looks at the folder: a change reaches every listener within this plus one read of the list.
POLL_INTERVAL = 0.2
#: A folder stamp younger than this is looked at again: a second change within the same timestamp tick would not
#: move it (file systems keep modification times at a coarser grain than nanoseconds).
SETTLE = 1.0


@dataclass(frozen=True)
class Change:
    kind: str
    chat: dict[str, Any]


def diff(before: dict[str, ChatSummary], after: dict[str, ChatSummary]) -> list[Change]:
    """The changes that turn chat list `before` into `after` (both by id)."""
    changes = []
    for chat_id, gone in before.items():
        if chat_id not in after:
            changes.append(Change("chat_deleted", _row(gone)))
    for chat_id, new in after.items():
        old = before.get(chat_id)
        if old is None:
            changes.append(Change("chat_created", _row(new)))
            if new.message_count:
                changes.append(Change("message_added", _row(new)))
            continue
        if new.name != old.name:
            changes.append(Change("chat_renamed", {**_row(new), "previous_name": old.name}))
        if new.message_count > old.message_count:
            changes.append(Change("message_added", _row(new)))
        elif new.message_count < old.message_count:
            changes.append(Change("chat_cleared", _row(new)))
        elif new.updated != old.updated:
            changes.append(Change("chat_updated", _row(new)))
    return changes


def _row(chat: ChatSummary) -> dict[str, Any]:
    return {"id": chat.id, "name": chat.name, "message_count": chat.message_count, "updated": chat.updated}


class ChangeWatcher:
    """Polls while it has listeners; each listener gets every change through its queue."""

    def __init__(self, folder: os.PathLike[str] | str, list_chats: Callable[[], list[ChatSummary]]) -> None:
        self.folder = folder
        self.list_chats = list_chats
        self.listeners: set[asyncio.Queue[Change | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._known: dict[str, ChatSummary] | None = None

    def subscribe(self) -> asyncio.Queue[Change | None]:
        """A queue of every change from now on (None is for the listener's own use: it means "stop")."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.listeners.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._watch())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change | None]) -> None:
        self.listeners.discard(queue)
        if not self.listeners and self._task is not None:
            self._task.cancel()
            self._task = None
            self._known = None

    def stop(self) -> None:
        for queue in list(self.listeners):
            self.unsubscribe(queue)

    async def _watch(self) -> None:
        self._known = await self._read()
        seen = self._stamp()
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            stamp = self._stamp()
            if stamp == seen and (stamp is None or time.time_ns() - stamp[0] > SETTLE * 1e9):
                continue
            seen = stamp
            current = await self._read()
            if current is None or self._known is None:
                self._known = current
                continue
            for change in diff(self._known, current):
                for queue in self.listeners:
                    queue.put_nowait(change)
            self._known = current

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.folder)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_ino

    async def _read(self) -> dict[str, ChatSummary] | None:
        try:
            chats = await asyncio.to_thread(self.list_chats)
        except MMChatError as exc:  # a locked or damaged history: say so once per poll, keep watching
            log.warning("mmchat change feed: %s", exc)
            return None
        return {chat.id: chat for chat in chats}
