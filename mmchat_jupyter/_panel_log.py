"""The messages the panel's front end holds, kept in step with one message at a time (issue 16).

The front end holds a window of the current chat: the newest page when the chat opens, older pages as the user
scrolls up. `MessageLog` remembers that window (ids and the views sent) and turns each change into the smallest
wire message: one message added or replaced, a few removed, a page prepended. It never resends the list; only a
change it cannot express that way (another face cleared the chat, many messages arrived at once) resets the window
to the newest page. Every message carries `rev`, one more than the last: a front end that sees a gap asks again.

    {type: "log", rev, chat, messages, more}        the whole window: a chat opened, switched or reset
    {type: "older", rev, chat, messages, more}      a page of older messages to put before the first one
    {type: "message", rev, chat, message, replaces?}   add at the end, or replace the message with this id (or with
                                                    the id in `replaces`: the question shown while it was unsaved)
    {type: "remove", rev, chat, ids}

`more` says whether older messages exist. Views come from `_panel_state.MessageViews` (HTML cached per message).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ._panel_state import MessageViews
from .types import MessageRecord

#: Messages per page: the newest page is what a chat opens with, each scroll to the top brings one more.
PAGE = 40


class Page(Protocol):
    """A run of a chat's messages (the history's ChatTail): `first` is the position of `messages[0]`."""

    @property
    def id(self) -> str: ...
    @property
    def messages(self) -> list[MessageRecord]: ...
    @property
    def first(self) -> int: ...


class MessageLog:
    """The window of the current chat the front end holds (see the module docstring)."""

    def __init__(self, views: MessageViews) -> None:
        self.views = views
        self.chat = ""
        self.rev = 0
        self.first = 0  # the position in the chat of the oldest message shown (where older pages end)
        self.shown: dict[str, dict[str, Any]] = {}  # id -> view, oldest first (dicts keep insertion order)

    @property
    def more(self) -> bool:
        return self.first > 0

    def newest(self, count: int) -> list[dict[str, Any]]:
        """The newest `count` views shown (for the transcript), oldest first."""
        return list(self.shown.values())[-count:] if count else []

    def reset(self, page: Page) -> dict[str, Any]:
        """Show `page` (the newest messages of a chat) and nothing else."""
        self.chat, self.first = page.id, page.first
        self.shown = {view["id"]: view for view in self._views(page.messages)}
        self.views.keep(self.shown)
        return self._message("log", messages=list(self.shown.values()), more=self.more)

    def older(self, page: Page) -> dict[str, Any]:
        """Put `page` (the messages just before the first one shown) before the window."""
        views = [view for view in self._views(page.messages) if view["id"] not in self.shown]
        self.first = page.first
        self.shown = {**{view["id"]: view for view in views}, **self.shown}
        return self._message("older", messages=views, more=self.more)

    def add(self, view: dict[str, Any]) -> dict[str, Any]:
        """Show a message that is not saved yet (the question while its answer streams) at the end."""
        self.shown[view["id"]] = view
        return self._message("message", message=view)

    def remove(self, ids: Sequence[str]) -> dict[str, Any] | None:
        gone = [message_id for message_id in ids if self.shown.pop(message_id, None) is not None]
        return self._message("remove", ids=gone) if gone else None

    def sync(self, page: Page, *, replaces: str | None = None) -> list[dict[str, Any]]:
        """The messages that bring the window in step with `page`, the chat's newest messages now.

        `replaces` is the id of an unsaved question shown meanwhile: the first new question takes its place. When
        the window's newest messages are not where `page` has them (removed elsewhere, or more arrived than a page
        holds), the window is reset to `page`.
        """
        placeholder = self.shown.pop(replaces, None) if replaces is not None else None
        views = self._views(page.messages)
        ids = list(self.shown)
        start = ids.index(views[0]["id"]) if views and views[0]["id"] in self.shown else len(ids) if not ids else -1
        overlap = ids[start:] if start >= 0 else None
        if page.id != self.chat or overlap is None or [view["id"] for view in views[: len(overlap)]] != overlap:
            return [self.reset(page)]
        out: list[dict[str, Any]] = []
        for view in views:
            if self.shown.get(view["id"]) == view:
                continue
            fields: dict[str, Any] = {"message": view}
            if placeholder is not None and view["id"] not in self.shown and view["role"] == "user":
                fields["replaces"], placeholder = replaces, None
            self.shown[view["id"]] = view
            out.append(self._message("message", **fields))
        if placeholder is not None:  # the question was never saved: take it back
            out.append(self._message("remove", ids=[replaces]))
        return out

    def _views(self, records: Sequence[MessageRecord]) -> list[dict[str, Any]]:
        return [self.views.view(record) for record in records if record.role in ("user", "assistant")]

    def _message(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.rev += 1
        return {"type": kind, "rev": self.rev, "chat": self.chat, **fields}
