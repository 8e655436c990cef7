"""GET /events: the change feed, as Server-Sent Events, for every open client to stay current.

    event: ready          data: {"poll_interval"}               once, when the feed is listening
    event: chat_created   data: {"id", "name", "message_count", "updated"}    (and chat_renamed with
                                "previous_name", chat_deleted, chat_cleared, message_added, chat_updated)
    : keep-alive                                                 a comment every 15 s, so proxies keep it open

Changes come from any face or kernel of this user (see `_changes`). The feed has no replay: a client that
reconnects reads the chat list again.
"""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado.iostream import StreamClosedError

from ._base import MMChatHandler
from ._changes import POLL_INTERVAL, Change, ChangeWatcher
from .turns import sse

#: Seconds between keep-alive comments on a quiet feed.
KEEPALIVE = 15.0


class EventsHandler(MMChatHandler):
    # A client that only listens is not activity: it must not keep an idle server from being culled.
    _track_activity = False
    _queue: asyncio.Queue[Change | None] | None = None

    @property
    def watcher(self) -> ChangeWatcher:
        watcher: ChangeWatcher = self.settings["mmchat_watcher"]
        return watcher

    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        queue = self._queue = self.watcher.subscribe()
        try:
            self.write(sse("ready", {"poll_interval": POLL_INTERVAL}))
            await self.flush()
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    self.write(b": keep-alive\n\n")
                else:
                    if change is None:  # the client went away
                        return
                    self.write(sse(change.kind, change.chat))
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            self.watcher.unsubscribe(queue)

    def on_connection_close(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(None)
