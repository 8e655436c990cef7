"""What changed in the history, whoever changed it: this server, a kernel's `%%chat` or panel, `mmchat`.

Every write of the history, in any process, appends a line to its change journal (`HistoryStore.change_seq()` /
`changes(since)`, see history/journal.py). One `ChangeWatcher` per server polls the journal's position (one `stat()`)
while anyone listens and hands every new change to each listener. The journal's kinds are the feed's events:

    chat_created  chat_renamed  chat_deleted  chat_cleared  chat_updated  message_added  message_updated
    settings_changed        and `resync` when changes may have been missed (re-read the chat list)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger("mmchat_jupyter.server")

#: Seconds between looks at the journal: a change reaches every listener within this.
POLL_INTERVAL = 0.1

class Change(Protocol):
    """One line of the journal (history.journal.Change)."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def chat(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def time(self) -> str | None: ...


class Changes(Protocol):
    """What `changes(since)` returns (history.journal.Changes)."""

    @property
    def seq(self) -> int: ...
    @property
    def events(self) -> Sequence[Change]: ...
    @property
    def resync(self) -> bool: ...


#: What a listener gets: a batch of changes (`resync` set when some may be missing), or None to stop.
Batch = Changes | None


class ChangeWatcher:
    """Polls while it has listeners; each listener's queue gets every batch of changes made after it subscribed."""

    def __init__(self, seq: Callable[[], int], changes: Callable[[int], Changes]) -> None:
        self.seq, self.changes = seq, changes
        self.listeners: set[asyncio.Queue[Batch]] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen = 0

    def subscribe(self, since: int | None = None) -> asyncio.Queue[Batch]:
        """A queue of the changes from now on, or from position `since` (a client's Last-Event-ID)."""
        queue: asyncio.Queue[Batch] = asyncio.Queue()
        if self._task is None or self._task.done():
            self._seen = self.seq()
            self._task = asyncio.ensure_future(self._watch())
        if since is not None and since < self._seen:
            queue.put_nowait(self.changes(since))  # what this client missed while it was away
        self.listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Batch]) -> None:
        self.listeners.discard(queue)
        if not self.listeners and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                if self.seq() == self._seen:
                    continue
                batch = self.changes(self._seen)
            except OSError as exc:  # the history folder went away or became unreadable: keep watching
                log.warning("mmchat change feed: %s", exc)
                continue
            self._seen = batch.seq
            for queue in self.listeners:
                queue.put_nowait(batch)


def event_data(change: Change) -> dict[str, str | int]:
    """A change as the feed sends it: the chat's `id` and `name`, the `message_id`, its `time` and `seq`."""
    data: dict[str, str | int] = {"seq": change.seq}
    for key, value in (("id", change.chat), ("name", change.name), ("message_id", change.message),
                       ("time", change.time)):
        if value is not None:
            data[key] = value
    return data
