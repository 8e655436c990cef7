"""GET /events: the change feed, as Server-Sent Events, for every open client to stay current.

    event: ready            data: {"seq"}                                  once, when the feed is listening
    id: <seq>
    event: chat_created     data: {"seq", "id", "name", "time"}           and chat_renamed (the new name),
                            chat_deleted, chat_cleared, chat_updated, message_added and message_updated (with
                            "message_id"), settings_changed (no chat)
    event: resync           data: {"seq"}          changes may have been missed: read the chat list again
    : keep-alive                                   a comment every 15 s, so proxies keep the stream open

Changes come from any face or kernel of this user (see `_changes`). A client that reconnects with the standard
`Last-Event-ID` header gets what it missed (or `resync` when the journal no longer goes back that far).
"""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado.iostream import StreamClosedError

from ._base import MMChatHandler
from ._changes import Batch, ChangeWatcher, event_data
from .turns import sse

#: Seconds between keep-alive comments on a quiet feed.
KEEPALIVE = 15.0


class EventsHandler(MMChatHandler):
    # A client that only listens is not activity: it must not keep an idle server from being culled.
    _track_activity = False
    _queue: asyncio.Queue[Batch] | None = None

    @property
    def watcher(self) -> ChangeWatcher:
        watcher: ChangeWatcher = self.settings["mmchat_watcher"]
        return watcher

    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        last = self.request.headers.get("Last-Event-ID", "")
        queue = self._queue = self.watcher.subscribe(int(last) if last.isdigit() else None)
        try:
            self.write(sse("ready", {"seq": self.watcher.seq()}))
            await self.flush()
            while True:
                try:
                    batch = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    self.write(b": keep-alive\n\n")
                else:
                    if batch is None:  # the client went away
                        return
                    if batch.resync:
                        self.write(sse("resync", {"seq": batch.seq}, event_id=batch.seq))
                    for change in batch.events:
                        self.write(sse(change.kind, event_data(change), event_id=change.seq))
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            self.watcher.unsubscribe(queue)

    def on_connection_close(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(None)
