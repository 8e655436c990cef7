"""The panel's state as its front end sees it: the synced traits, and how the session's state becomes them.

`PanelView` is ChatPanel's base: it shows (the traits, the message window, the transcript, the one error line);
ChatPanel (widget.py) acts (front-end requests, turns, the change watcher). The wire protocol of both is written
down once, in widget.py's module docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import anywidget
import traitlets as t
from IPython.display import DisplayHandle

from . import _panel_settings as settings
from . import _panel_state as state
from . import _panel_transcript as transcript
from ._panel_log import PAGE, MessageLog
from .errors import ChatNotFound, MMChatError
from .i18n import _
from .session import ChatSession

log = logging.getLogger("mmchat_jupyter.widget")


class PanelView(anywidget.AnyWidget):
    """The traits a ChatPanel syncs and the refreshes that fill them from its session (see widget.ChatPanel)."""

    _uid = t.Unicode().tag(sync=True)
    strings = t.Dict().tag(sync=True)
    chat = t.Dict({"id": "", "name": ""}).tag(sync=True)
    chats: t.List[Any] = t.List().tag(sync=True)
    pending = t.Dict().tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    settings = t.Dict().tag(sync=True)
    providers: t.List[Any] = t.List().tag(sync=True)
    locked: t.List[Any] = t.List().tag(sync=True)
    languages: t.List[Any] = t.List().tag(sync=True)
    templates: t.List[Any] = t.List().tag(sync=True)
    export_formats: t.List[Any] = t.List().tag(sync=True)
    error = t.Unicode("").tag(sync=True)

    # Set by ChatPanel.__init__.
    session: ChatSession
    _loop: asyncio.AbstractEventLoop | None
    _log: MessageLog
    _total: int  # messages in the current chat
    _drawer: str | None  # the drawer's search text while it is open
    _chat_system: str | None  # the current chat's own system prompt
    _transcripts: list[DisplayHandle]
    _shown_transcript: dict[str, str] | None  # what the transcript outputs show now
    _models: dict[str, list[str]]  # provider -> the models its server listed

    # -- the one error line ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _shown_errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - anywidget would swallow it: show it instead
            self._show_error(exc)

    def _show_error(self, exc: Exception) -> None:
        if isinstance(exc, MMChatError):
            self.error = exc.message
            return
        log.error("ChatPanel handler failed", exc_info=exc)  # a bug of ours: keep the panel alive, say so
        text = _("Unexpected error ({kind}: {error}); the panel keeps working. Please report it.")
        self.error = MMChatError(text.format(kind=type(exc).__name__, error=exc)).message

    # -- the message window and the transcript ---------------------------------------------------------------------

    def _show_newest(self) -> None:
        page = self.session.chats.page(self.chat["id"], limit=PAGE)
        self._total = page.total
        self.send(self._log.reset(page))
        self._update_transcript()

    def _sync(self, replaces: str | None = None) -> None:
        """Bring the window in step with the chat's newest messages (after a turn, or a change made elsewhere)."""
        page = self.session.chats.page(self.chat["id"], limit=PAGE)
        self._total = page.total
        for message in self._log.sync(page, replaces=replaces):
            self.send(message)
        self._update_transcript()

    def _transcript(self) -> dict[str, str]:
        return transcript.bundle(self._uid, self.chat.get("name", ""), self._log.newest(transcript.MESSAGES),
                                 self._total)

    def _update_transcript(self) -> None:
        bundle = self._transcript() if self._transcripts else None
        if bundle is not None and bundle != self._shown_transcript:  # up to 30 messages of HTML: only when changed
            self._shown_transcript = bundle
            for handle in self._transcripts:
                handle.update(bundle, raw=True)

    # -- state → traits -------------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Everything, as after a language change (the answers' marks and counts are words too)."""
        with self.hold_sync():
            self.strings = state.ui_strings()
            self.languages = state.languages()
            self.export_formats = state.export_formats()
            self._refresh_chat()
            self._refresh_settings()  # last: a policy error here still leaves the chat shown

    def _refresh_settings(self) -> None:
        provider = self.session.settings.get("provider")
        with self.hold_sync():
            self.providers = state.provider_choices(self.session, self._models)
            snapshot = settings.snapshot(self.session, self._chat_system)
            self.locked, self.templates, self.settings = snapshot["locked"], snapshot["templates"], snapshot["settings"]
        self._fetch_models(provider)
        notices = self.session.notices()  # e.g. a saved provider that is no longer allowed: the default is used
        if notices:
            self.error = " ".join(notices)

    def _fetch_models(self, provider: str) -> None:
        """Ask the provider's server for its models (an OpenAI-compatible server lists its own) off the kernel's
        loop, once per provider; the pickers show the known models meanwhile."""
        if provider in self._models or self._loop is None:
            return
        self._models[provider] = []
        future = self._loop.run_in_executor(None, self.session.providers.models, provider)
        future.add_done_callback(lambda done: self._got_models(provider, done))

    def _got_models(self, provider: str, done: asyncio.Future[list[str]]) -> None:
        with self._shown_errors():
            self._models[provider] = done.result()  # a refused key: its one line in the panel
            self.providers = state.provider_choices(self.session, self._models)

    def _refresh_chat(self) -> None:
        """The current chat's name and newest messages, as after switching to it."""
        info = self._current()
        self._chat_system = info.meta.get("system")
        with self.hold_sync():
            self.chat = {"id": info.id, "name": info.name}
            self._show_newest()
            self._refresh_drawer()

    def _refresh_drawer(self) -> None:
        if self._drawer is not None:
            self.chats = state.chat_rows(self.session, self._drawer)

    def _current(self) -> Any:
        """The current chat's header; if it was deleted (here or elsewhere), the most recent chat or a new one."""
        with contextlib.suppress(ChatNotFound):
            ref = self.session.chat_ref
            return self.session.chats.info(ref) if ref is not None else self.session.chat
        with contextlib.suppress(ChatNotFound):
            return self.session.chat  # a chat named but not created yet is created now
        remaining = self.session.chats.list(limit=1)
        if remaining:
            return self.session.use_chat(remaining[0].id, create=False)
        return self.session.new_chat()
