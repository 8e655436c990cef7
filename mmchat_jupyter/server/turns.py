"""A turn: ask in a chat and get the answer, streamed as Server-Sent Events or whole as JSON; regenerate; stop.

The stream (`Accept: text/event-stream`), one event per line group:

    event: start    data: {"chat_id", "message_id", "provider", "model"}      once, before the first delta
    event: delta    data: {"text"}            text to append; {"text", "replace": true}: the whole answer so far
                                              (a provider that revised earlier text)
    event: error    data: {"message"}         one line: what went wrong and what to do (then `done`)
    event: done     data: the answer as stored: {"id", "content", "status", "usage", "finish_reason", ...}

The turn runs on the engine's async path in a task of its own. Closing the connection cancels it, exactly like
the notebook's Stop: the partial answer is saved as interrupted and the provider's request is closed. A problem
found before anything is saved (an unknown provider, a bad value, a missing setting) is a one-line 4xx instead
of a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado.iostream import StreamClosedError

from ..errors import MMChatError
from ..session import Turn
from ..types import STATUS_ERROR
from . import _bodies
from ._base import MMChatHandler, accepts_event_stream, authorized_to
from ._service import turn_view
from .chats import PAGE_MAX, chat_view


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event. JSON never contains a raw newline, so `data` is one line."""
    head = b"" if event_id is None else b"id: %d\n" % event_id
    return head + b"event: " + event.encode() + b"\ndata: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


class TurnHandler(MMChatHandler):
    """POST /chats/{chat}/messages: ask."""

    fields = _bodies.TURN
    _task: asyncio.Task[Turn] | None = None
    _chat_id: str | None = None
    _started = False

    @authorized_to("execute")
    async def post(self, chat: str) -> None:
        body = self.body(self.fields)
        target = self.service.known_chat(chat)
        if target is None:
            target = await self.run(self.service.turn_chat, chat)
        chat_id = self._chat_id = target.id
        # Provider, model and values are checked by the engine as the turn starts, before anything is saved.
        options = await self.run(self.turn_options, body) if body.get("template") else self.turn_options(body)
        streaming = accepts_event_stream(self)
        work = self.service.session.asend(
            options.pop("prompt", ""), on_update=self.on_update if streaming else None, chat=target, **options
        )
        try:
            self._task = await self.service.run_turn(chat_id, lambda: work)
        except MMChatError as exc:
            work.close()
            raise self.error(exc) from None
        if streaming:
            await asyncio.sleep(0)  # let the engine check and save the question before the stream opens
            if not self._task.done():
                self.open_stream()
        try:
            turn = await self._task
        except asyncio.CancelledError:  # the client left before the engine began: nothing was saved
            self.finish()
            return
        except MMChatError as exc:  # found before anything was saved
            if not self._started:
                raise self.error(exc) from None
            await self.emit("error", {"message": exc.message})
            self.finish()
            return
        if streaming:
            await self.finish_stream(turn)
        elif turn.status == STATUS_ERROR:
            self.set_status(502)
            self.finish(json.dumps({"message": turn.error, "reason": "provider_error", "answer": turn_view(turn)},
                                   ensure_ascii=False))
        else:
            self.send(turn_view(turn))

    def turn_options(self, body: dict[str, Any]) -> dict[str, Any]:
        """The engine's options for this turn (a template applied to the prompt)."""
        try:
            prompt = self.service.prompt(body["prompt"], body.get("template"))
        except MMChatError as exc:
            raise self.error(exc) from None
        return {**{k: v for k, v in body.items() if k != "template"}, "prompt": prompt}

    def open_stream(self) -> None:
        if self._started:
            return
        self._started = True
        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx and JupyterHub's proxies: do not hold the stream back

    async def on_update(self, turn: Turn) -> None:
        """After every chunk: send its text. Never raises into the engine: a closed connection stops the turn."""
        if not self._started:
            self.open_stream()
        if turn.chunks == 1:
            self.write(sse("start", self.start_event(turn)))
        chunk = turn.last
        if chunk is not None and (chunk.text or chunk.replace):
            self.write(sse("delta", {"text": chunk.text, "replace": True} if chunk.replace else {"text": chunk.text}))
        try:
            await self.flush()
        except StreamClosedError:
            self.stop_turn()

    async def finish_stream(self, turn: Turn) -> None:
        self.open_stream()
        if turn.chunks == 0:  # a cached answer, or a failure before the first chunk
            self.write(sse("start", self.start_event(turn)))
            if turn.text:
                self.write(sse("delta", {"text": turn.text}))
        if turn.status == STATUS_ERROR:
            self.write(sse("error", {"message": turn.error}))
        self.write(sse("done", turn_view(turn)))
        try:
            await self.flush()
            self.finish()
        except StreamClosedError:
            pass

    async def emit(self, event: str, data: Any) -> None:
        self.write(sse(event, data))
        with contextlib.suppress(StreamClosedError):
            await self.flush()

    def stop_turn(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def on_connection_close(self) -> None:
        """The client went away: stop the turn as the Stop button would (the partial answer is saved)."""
        self.stop_turn()

    def start_event(self, turn: Turn) -> dict[str, Any]:
        return {"chat_id": self._chat_id, "message_id": turn.assistant_id, "provider": turn.provider,
                "model": turn.model}


class RegenerateHandler(TurnHandler):
    """POST /chats/{chat}/regenerate: answer the chat's last question again, replacing its last answer."""

    fields = _bodies.REGENERATE

    def turn_options(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "regenerate": True}

    def body(self, fields: _bodies.Body, *, empty_ok: bool = False) -> dict[str, Any]:
        return super().body(fields, empty_ok=True)


class StopHandler(MMChatHandler):
    """POST /chats/{chat}/stop: stop the answer streaming in the chat on this server."""

    @authorized_to("execute")
    async def post(self, chat: str) -> None:
        stopped = await self.run(self.service.stop, chat)
        self.send({"stopped": stopped})


class MessagesHandler(TurnHandler):
    """/chats/{chat}/messages: GET a page of messages; POST asks (see TurnHandler)."""

    @authorized
    async def get(self, chat: str) -> None:
        """The newest `limit` messages (before message `before`), as GET /chats/{chat} pages them."""
        limit = self.query_int("limit", 100, 1, PAGE_MAX)
        record = await self.run(self.service.get_chat, chat)
        view = chat_view(record, limit, self.get_argument("before", None))
        self.send({"messages": view["messages"], "has_more": view["has_more"]})
