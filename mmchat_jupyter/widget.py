"""ChatPanel: the chat UI inside a notebook, an anywidget over the same `ChatSession` and history as `%%chat`.

    from mmchat_jupyter import ChatPanel
    ChatPanel()                      # continues the kernel's current chat (the one %%chat uses)
    ChatPanel(chat="review")         # that chat (created if new), in a session of its own
    %chat panel review               # the same from the magic

Front end: `static/panel.js` and `static/panel.css` are the only sources (plain ESM and CSS, no build step, shipped
in the wheel); `js/` holds `node --test` tests of panel.js's pure functions.

Wire protocol (panel.js mirrors it; this is the one place it is written down)
-----------------------------------------------------------------------------
State lives in synced traits, so a view rendered late (or re-rendered) shows everything:

    strings    {key: text}    every string the front end shows, from the i18n catalog (re-sent on a language change)
    chat       {id, name}     the current chat
    chats      [{id, name, detail, delete_prompt}]        the chat drawer, filtered while a search is typed
    messages   [{id, role, text, html?, status?, meta?, badge?, error?}]   finished messages, oldest first; `html`
               (answers only) is sanitized by render.py, `text` is the Markdown source that Copy copies
    pending    {turn} while an answer streams, else {}            busy: bool, the same as "a task is running"
    settings   {provider, model, temperature, max_tokens, system, lang}   what the next question will use
    providers  [{name, label, models}]     locked  [setting keys the administrator fixed]
    languages  [{code, label}]             templates  [{name, title, text}]     export_formats  [{id, label}]
    error      the one-line error shown in the panel ("" when none); errors travel as state, not as messages

Front end -> Python, custom messages (`view` is the asking view's id, echoed in the replies meant for it):

    {type: "send", text}    {type: "stop"}    {type: "regenerate"}    {type: "clear"}    {type: "refresh"}
    {type: "set", key, value}               provider, model, temperature, max_tokens, system or lang;
                                            persisted as defaults for the next panel and %%chat
    {type: "new_chat"}   {type: "use_chat", id}   {type: "rename_chat", id, name}   {type: "delete_chat", id}
    {type: "search", text}   {type: "template", name, text}   {type: "save_template", name, text}
    {type: "export", format}   {type: "dismiss"}   {type: "resync"}   (the front end saw a gap in the deltas)
    {type: "typesetter"}    the first formula on the page: send the math typesetter

Python -> front end, custom messages:

    {type: "delta", turn, seq, at, blocks, crc}   the answer in flight, as whole blocks (see _panel_stream.py):
                        replace every block from index `at` on by `blocks` (each sanitized HTML on its own); `crc`
                        is the CRC-32 of the whole result over UTF-16 code units. A delta that does not follow the
                        last one, or gives another CRC, is not shown: the front end asks for a resync (the whole
                        answer, `at` 0). At most 10 a second, the first at once.
    {type: "done", turn, seq, status}        the stream ended; `messages` already holds the finished answer
    {type: "fill", view, text}               a template applied to the input text
    {type: "download", view, filename, mime, content}                         an export to save
    {type: "typesetter", source}             the math typesetter, an ES module (vendored KaTeX), once per page

Generation runs as an asyncio task on the kernel's loop, so cells stay free and Stop (a custom message) is handled
while it streams. Every handler runs inside `_shown_errors()`: anywidget would swallow an exception otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import anywidget
import traitlets as t

from . import _panel_state as state
from ._panel_stream import AnswerStream
from .errors import ChatNotFound, MMChatError
from .i18n import _, get_language
from .providers import provider_class
from .session import ChatSession, Turn, default_session
from .templates import all_templates, apply_template
from .types import STATUS_ERROR, STATUS_INTERRUPTED, ChatRecord

log = logging.getLogger("mmchat_jupyter.widget")

STATIC = pathlib.Path(__file__).parent / "static"

#: Messages that are not a user action, so they leave the error line alone.
_PASSIVE = frozenset({"refresh", "resync", "search", "typesetter"})


class ChatPanel(anywidget.AnyWidget):
    """A chat panel: messages, an input box, Stop/Regenerate/Copy, provider and model switch, chats, templates.

    `chat` names the chat to show (created if new); with no arguments the panel continues the kernel's current
    chat, the one `%%chat` uses. `provider` and `model` choose for this panel only; choices made in the panel are
    saved as defaults. `session` lets code pass a configured `ChatSession` (tests, custom provider settings).
    """

    _esm = STATIC / "panel.js"
    _css = STATIC / "panel.css"

    _uid = t.Unicode().tag(sync=True)
    strings = t.Dict().tag(sync=True)
    chat = t.Dict({"id": "", "name": ""}).tag(sync=True)
    chats: t.List[Any] = t.List().tag(sync=True)
    messages: t.List[Any] = t.List().tag(sync=True)
    pending = t.Dict().tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    settings = t.Dict().tag(sync=True)
    providers: t.List[Any] = t.List().tag(sync=True)
    locked: t.List[Any] = t.List().tag(sync=True)
    languages: t.List[Any] = t.List().tag(sync=True)
    templates: t.List[Any] = t.List().tag(sync=True)
    export_formats: t.List[Any] = t.List().tag(sync=True)
    error = t.Unicode("").tag(sync=True)

    def __init__(
        self,
        chat: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        *,
        session: ChatSession | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(_uid=uuid.uuid4().hex, **kwargs)
        self._loop = _running_loop()  # the kernel's loop: streams run there, whatever thread a message comes on
        self._task: asyncio.Task[str] | None = None
        self._stream: AnswerStream | None = None
        self._turns = 0
        self._search = ""
        self._views = state.MessageViews()
        self.on_msg(self._on_message)
        if session is None:
            session = _session_for(chat, provider, model)
        elif chat is not None:
            session.use_chat(chat)
        self.session = session
        with self._shown_errors():  # the panel still shows, with the error in its one line
            self._refresh()

    # -- dispatch -------------------------------------------------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: list[bytes]) -> None:
        if self._loop is not None and _running_loop() is not self._loop:
            # JupyterLab may route comm messages to a kernel subshell thread: do the work on the kernel's loop.
            self._loop.call_soon_threadsafe(self.handle, content)
        else:
            self.handle(content)

    def handle(self, content: dict[str, Any]) -> None:
        """Act on one front-end message (see the module docstring); errors are shown in the panel."""
        kind = str(content.get("type", ""))
        with self._shown_errors():
            handler = getattr(self, f"_do_{kind}", None)
            if handler is None:
                raise MMChatError(_("The panel sent an unknown request {kind!r}: reload the page.").format(kind=kind))
            if kind not in _PASSIVE:
                self.error = ""
            handler(content)

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

    # -- asking ---------------------------------------------------------------------------------------------------

    def _do_send(self, msg: dict[str, Any]) -> None:
        prompt = str(msg.get("text", "")).strip()
        if prompt:
            self._start(prompt)

    def _do_regenerate(self, _msg: dict[str, Any]) -> None:
        self._start(self.session.regenerate_prompt(), regenerate=True)

    def _do_stop(self, _msg: dict[str, Any]) -> None:
        if self._task is not None:
            self._task.cancel()  # asend() keeps and saves the partial answer, marked interrupted

    def _do_typesetter(self, _msg: dict[str, Any]) -> None:
        # The first formula on the page asks for the math typesetter (render stream: render/_typeset.py).
        from .render import typesetter_module

        self.send({"type": "typesetter", "source": typesetter_module()})

    def _do_resync(self, _msg: dict[str, Any]) -> None:
        if self._stream is not None:
            self.send(self._stream.delta(resend=True))

    def _start(self, prompt: str, *, regenerate: bool = False) -> None:
        if self._task is not None:
            raise MMChatError(_("An answer is still streaming: wait for it or press Stop."))
        loop = self._loop or _running_loop()
        if loop is None:
            raise MMChatError(_("The panel needs a running kernel event loop to stream answers."))
        self._turns += 1
        shown = list(self.messages)
        if regenerate:
            while shown and shown[-1]["role"] == "assistant":  # the answer being replaced
                shown.pop()
        else:
            shown.append({"id": "", "role": "user", "text": prompt})
        with self.hold_sync():
            self.messages, self.pending, self.busy = shown, {"turn": self._turns}, True
        self._stream = AnswerStream(self._turns)
        self._task = loop.create_task(self._generate(prompt, regenerate))
        self._task.add_done_callback(self._finished)  # also runs for a task stopped before it ever started

    async def _generate(self, prompt: str, regenerate: bool) -> str:
        """Stream one answer; returns its status."""
        try:
            turn = await self.session.asend(prompt, on_update=self._on_update, regenerate=regenerate)
        except Exception as exc:  # noqa: BLE001 - a policy or history error before streaming began
            self._show_error(exc)
            return STATUS_ERROR
        if turn.error or turn.save_error:
            self.error = turn.error or turn.save_error.message  # type: ignore[union-attr]
        if turn.assistant_id and self._stream is not None:
            self._views.remember(turn.assistant_id, turn.text, self._stream.renderer.finish())
        return turn.status

    def _finished(self, task: asyncio.Task[str]) -> None:
        stream = self._stream
        self._task = self._stream = None
        status = STATUS_INTERRUPTED if task.cancelled() else task.result()
        with self._shown_errors():
            if stream is not None:
                self.send(stream.done(status))
            with self.hold_sync():
                self.busy, self.pending = False, {}
                self._refresh_chat()

    def _on_update(self, turn: Turn) -> None:
        if self._stream is not None and (delta := self._stream.update(turn)) is not None:
            self.send(delta)

    # -- chats ----------------------------------------------------------------------------------------------------

    def _do_refresh(self, _msg: dict[str, Any]) -> None:
        if self._task is None:  # mid-stream the panel is current already; re-reading would drop the pending prompt
            self._refresh()

    def _do_new_chat(self, _msg: dict[str, Any]) -> None:
        self._idle()
        if self.session.chat.messages:  # an empty current chat already is a new chat
            self.session.new_chat()
        self._refresh_chat()

    def _do_use_chat(self, msg: dict[str, Any]) -> None:
        self._idle()
        self.session.use_chat(str(msg["id"]), create=False)
        self._refresh_chat()

    def _do_rename_chat(self, msg: dict[str, Any]) -> None:
        self.session.store.rename_chat(str(msg["id"]), str(msg["name"]))
        self._refresh_chat()

    def _do_delete_chat(self, msg: dict[str, Any]) -> None:
        chat_id = str(msg["id"])
        if chat_id == self.chat.get("id"):
            self._idle()
        self.session.store.delete_chat(chat_id)
        self._refresh_chat()

    def _do_clear(self, _msg: dict[str, Any]) -> None:
        self._idle()
        self.session.clear()
        self._refresh_chat()

    def _do_search(self, msg: dict[str, Any]) -> None:
        self._search = str(msg.get("text", ""))
        self.chats = state.chat_rows(self.session.store, self._search)

    def _do_dismiss(self, _msg: dict[str, Any]) -> None:
        """Nothing more to do: `handle()` clears the error line for every user action."""

    def _idle(self) -> None:
        if self._task is not None:
            raise MMChatError(_("An answer is still streaming: press Stop first."))

    # -- settings, templates, export ------------------------------------------------------------------------------

    def _do_set(self, msg: dict[str, Any]) -> None:
        key, value = str(msg["key"]), msg.get("value")
        session = self.session
        if value in (None, "") and key in ("temperature", "max_tokens", "system"):
            if key in session.admin.locked:
                raise session.settings.locked_error(key)
            session.store.update_settings(**{key: None})  # back to the administrator's or provider's default
        elif key == "provider":
            value = session.set_default("provider", value)
            session.set_default("model", provider_class(value).default_model)
            if session.provider_name is not None:  # a panel opened with provider=... follows the switch
                session.provider_name, session.model = value, None
        else:
            value = session.set_default(key, value)
            if key == "model" and session.model is not None:
                session.model = value
        if key == "system":  # the chat's own system prompt would hide the new default: keep them the same
            session.store.update_chat_meta(session.chat, system=value or None)
        if key == "lang":
            self._refresh()
        else:
            self._refresh_settings()

    def _do_template(self, msg: dict[str, Any]) -> None:
        user = self.session.store.get_settings().get("templates") or {}
        text = apply_template(str(msg["name"]), str(msg.get("text", "")), user)
        self.send({"type": "fill", "view": msg.get("view"), "text": text})

    def _do_save_template(self, msg: dict[str, Any]) -> None:
        name, text = str(msg["name"]).strip(), str(msg["text"])
        if not name:
            raise MMChatError(_("A template needs a name: type one and press Save."))
        user = dict(self.session.store.get_settings().get("templates") or {})
        user[name] = text
        self.session.store.update_settings(templates=user)
        self._refresh_settings()

    def _do_export(self, msg: dict[str, Any]) -> None:
        from .export import FORMATS, export_chat, normalise_format, safe_filename

        fmt = normalise_format(str(msg["format"]))
        record = self.session.chat
        content = export_chat(record, fmt)
        self.send({
            "type": "download",
            "view": msg.get("view"),
            "filename": safe_filename(record.name) + FORMATS[fmt][0],
            "mime": state.EXPORT_MIME.get(fmt, "text/plain"),
            "content": str(content),
        })

    # -- state → traits -------------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Everything, as after a language change or when the panel regains focus (the magic may have asked)."""
        with self.hold_sync():
            self.strings = state.ui_strings()
            self.languages = state.languages()
            self.export_formats = state.export_formats()
            self._refresh_chat()
            self._refresh_settings()  # last: a policy error here still leaves the chat shown

    def _refresh_settings(self) -> None:
        session = self.session
        user = session.store.get_settings()
        with self.hold_sync():
            self.providers = state.provider_choices(session.admin)
            self.locked = list(session.admin.locked)
            self.templates = [
                {"name": name, "title": title, "text": text}
                for name, (title, text) in all_templates(user.get("templates") or {}).items()
            ]
            shown = {"lang": get_language(), "system": self._system()}
            try:
                name, params = session.resolve()
            except MMChatError:
                self.settings = shown  # e.g. a saved provider the administrator no longer allows: still switchable
                raise
            self.settings = {**shown, "provider": name, "model": params.model, "temperature": params.temperature,
                             "max_tokens": params.max_tokens}
            notices = session.notices()  # e.g. a saved provider that is no longer allowed: the default is used
            if notices:
                self.error = " ".join(notices)

    def _system(self) -> str:
        chat_system = self._current().meta.get("system")
        return chat_system or self.session.settings.get("system") or ""

    def _refresh_chat(self) -> None:
        record = self._current()
        with self.hold_sync():
            self.chat = {"id": record.id, "name": record.name}
            self.messages = self._views.views(record.messages)
            self.chats = state.chat_rows(self.session.store, self._search)

    def _current(self) -> ChatRecord:
        """The current chat; if it was deleted (here or elsewhere), the most recent one or a new one."""
        try:
            return self.session.chat
        except ChatNotFound:
            remaining = self.session.store.list_chats()
            if remaining:
                return self.session.use_chat(remaining[0].id, create=False)
            return self.session.new_chat()


def _session_for(chat: str | None, provider: str | None, model: str | None) -> ChatSession:
    """The kernel's shared session when nothing is chosen (so the panel continues %%chat's chat), else a new one."""
    if chat is None and provider is None and model is None:
        return default_session()
    session = ChatSession(provider=provider, model=model)
    if chat is not None:
        session.use_chat(chat)
    return session


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


__all__ = ["ChatPanel"]
