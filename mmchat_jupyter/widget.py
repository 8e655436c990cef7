"""ChatPanel: the chat UI inside a notebook, an anywidget over the same `ChatSession` and history as `%%chat`.

    from mmchat_jupyter import ChatPanel
    ChatPanel()                      # continues the kernel's current chat (the one %%chat uses)
    ChatPanel(chat="review")         # that chat (created if new), in a session of its own
    %chat panel review               # the same from the magic; `%chat panel --side` opens it beside the notebook

Front end: `static/panel.js` and `static/panel.css` are the only sources (plain ESM and CSS, no build step, shipped
in the wheel); `js/` holds `node --test` tests of panel.js's pure functions.

Wire protocol (panel.js mirrors it; this is the one place it is written down)
-----------------------------------------------------------------------------
Small state lives in synced traits, so a view rendered late (or re-rendered) shows it:

    strings    {key: text}    every string the front end shows, from the i18n catalog (re-sent on a language change)
    chat       {id, name}     the current chat
    chats      [{id, name, detail, when?, delete_prompt}]   the chat drawer's rows, kept current while it is open
    pending    {turn} while an answer streams, else {}      busy: bool, the same as "a task is running"
    settings   {provider, model, lang, system, options: [{name, kind, help, ..., value, accepts}]}   what the
               next question will use; `options` are the provider's declared options (temperature, top_p, ...)
    providers  [{name, label, models}]     locked  [setting keys the administrator fixed]
    languages  [{code, label}]             templates  [{name, title, text}]     export_formats  [{id, label}]
    error      the one-line error shown in the panel ("" when none); errors travel as state, not as messages

The messages are NOT a trait: a chat of thousands would travel whole on every change. The front end holds a window
of the current chat (the newest page, older pages as the user scrolls up), changed one message at a time by
custom messages numbered by `rev` (see _panel_log.py). A message view is {id, role, text, html?, status?, meta?,
badge?, error?}: `html` (answers only) is render.py's sanitized HTML, `text` the Markdown that Copy copies.

Front end -> Python, custom messages (`view` is the asking view's id, echoed in the replies meant for it):

    {type: "hello"}     a front-end model started (or saw a gap in `rev`): send the whole window
    {type: "older"}     the user scrolled to the top: the page before the first message shown
    {type: "send", text}    {type: "stop"}    {type: "regenerate"}    {type: "clear"}
    {type: "set", key, value}               provider, model, temperature, max_tokens, top_p or one of the
                                            provider's own options: this panel's choice (the session layer);
                                            system: the chat's own prompt; lang: saved for the user at once
    {type: "save_defaults"}                 this panel's choices become everyone's defaults (panel, %%chat, Chat)
    {type: "new_chat"}   {type: "use_chat", id}   {type: "rename_chat", id, name}   {type: "delete_chat", id}
    {type: "drawer", open, text}            the chat drawer opened, closed, or its search changed
    {type: "template", name, text}   {type: "save_template", name, text}   {type: "export", format}
    {type: "dismiss"}   {type: "resync"}    (the front end could not apply a delta: send the whole answer)
    {type: "typesetter"}    the first formula on the page: send the math typesetter

Python -> front end, custom messages:

    {type: "log" | "older" | "message" | "remove", rev, chat, ...}   the message window (_panel_log.py)
    {type: "delta", turn, seq, at, blocks, crc}   the answer in flight, as whole blocks (see _panel_stream.py):
                        replace every block from index `at` on by `blocks` (each sanitized HTML on its own); `crc`
                        is the CRC-32 of the whole result over UTF-16 code units. A delta that does not follow the
                        last one, or gives another CRC, is not shown: the front end asks for a resync (the whole
                        answer, `at` 0). At most 10 a second, the first at once.
    {type: "fill", view, text}               a template applied to the input text
    {type: "unsent", view, text}             a question refused before anything was saved, back to the input box
    {type: "saved"}                          the defaults were saved
    {type: "download", view, filename, mime, content}                         an export to save
    {type: "typesetter", source}             the math typesetter, an ES module (vendored KaTeX), once per page

When an answer ends, the question and the answer arrive as two `message`s and `pending` empties: the cost of a
turn's end does not depend on the chat's length. Changes made elsewhere (a `%%chat` cell, another kernel, the
server API) reach the panel through the history's change journal (_panel_watch.py).

Generation runs as an asyncio task on the kernel's loop, so cells stay free and Stop (a custom message) is handled
while it streams. Every handler runs inside `_shown_errors()`: anywidget would swallow an exception otherwise.
Displayed, the panel also leaves a static transcript output in the notebook (_panel_transcript.py).

ChatPanel acts (this module: front-end requests, turns, the change watcher); its base `_panel_view.PanelView` shows
(the traits above, the message window, the transcript, the error line, the refreshes from the session).
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from typing import Any

from IPython.display import DisplayHandle, display

from . import _panel_settings as settings
from . import _panel_state as state
from . import _panel_watch as watch
from ._panel_log import PAGE, MessageLog
from ._panel_stream import AnswerStream
from ._panel_view import PanelView
from .errors import MMChatError
from .i18n import _
from .session import ChatSession, Turn, default_session
from .types import STATUS_ERROR

STATIC = pathlib.Path(__file__).parent / "static"

#: Messages that are not a user action, so they leave the error line alone.
_PASSIVE = frozenset({"hello", "older", "resync", "drawer", "typesetter"})


class ChatPanel(PanelView):
    """A chat UI in the notebook over the same engine and history as `%%chat`: messages, an input box (Enter
    sends, Shift+Enter is a new line), Stop/Regenerate/Copy, provider, model and generation settings, chats,
    templates and export.

    `chat` names the chat to show (created if new); with no arguments the panel continues the kernel's current
    chat, the one `%%chat` uses. `provider` and `model` choose for this panel only, as do the choices made in the
    panel (the session layer of the one settings precedence) until "Save as defaults". `session` passes a
    configured `ChatSession` (tests, custom provider settings).

    The panel stays as fast at thousands of messages as at ten: it opens at the newest page and brings older ones
    as you scroll up, each change travels as one message, and an answer streams as the blocks that changed (checked
    by a CRC; a mismatch is resent whole, never shown wrong). What other cells, kernels or the server API write to
    the chat shows up while it is open. Displayed, it also leaves a static transcript of the newest messages, which
    the saved notebook keeps when the kernel is gone. `%chat panel --side` opens one beside the notebook.
    """

    _esm = STATIC / "panel.js"
    _css = STATIC / "panel.css"


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
        self._drawer: str | None = None  # the drawer's search text while it is open
        self._log = MessageLog(state.MessageViews())
        self._total = 0  # messages in the current chat
        self._chat_system: str | None = None  # the current chat's own system prompt
        self._transcripts: list[DisplayHandle] = []
        self._shown_transcript: dict[str, str] | None = None
        self._models: dict[str, list[str]] = {}  # provider -> the models its server listed
        self.on_msg(self._on_message)
        if session is None:
            session = _session_for(chat, provider, model)
        elif chat is not None:
            session.use_chat(chat)
        self.session = session
        self._seq = session.chats.change_seq()
        self._watcher = self._loop.create_task(self._watch()) if self._loop is not None else None
        with self._shown_errors():  # the panel still shows, with the error in its one line
            self._refresh()

    def __repr__(self) -> str:
        return f"ChatPanel(chat={self.chat.get('name', '')!r})"

    def _ipython_display_(self) -> None:
        """Its transcript, then the panel: the transcript is what a saved notebook keeps when the panel is gone."""
        self._shown_transcript = self._transcript()
        self._transcripts.append(display(self._shown_transcript, raw=True, display_id=True))
        bundle = self._repr_mimebundle_()
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})  # anywidget gives both
        display(data, metadata=metadata, raw=True)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        super().close()

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

    # -- the message window ---------------------------------------------------------------------------------------

    def _do_hello(self, _msg: dict[str, Any]) -> None:
        self._show_newest()

    def _do_older(self, _msg: dict[str, Any]) -> None:
        if self._log.more:
            self.send(self._log.older(self.session.chats.page(self._log.chat, before=self._log.first, limit=PAGE)))

    # -- asking ---------------------------------------------------------------------------------------------------

    def _do_send(self, msg: dict[str, Any]) -> None:
        text = str(msg.get("text", ""))
        if not text.strip():
            return
        # The front end cleared its input box: a question refused before anything was saved goes back there.
        unsent = {"type": "unsent", "view": msg.get("view"), "text": text}
        try:
            self._start(text.strip(), unsent=unsent)
        except Exception:
            self.send(unsent)
            raise

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

    def _start(self, prompt: str, *, regenerate: bool = False, unsent: dict[str, Any] | None = None) -> None:
        if self._task is not None:
            raise MMChatError(_("An answer is still streaming: wait for it or press Stop."))
        loop = self._loop or _running_loop()
        if loop is None:
            raise MMChatError(_("The panel needs a running kernel event loop to stream answers."))
        self._turns += 1
        question = f"pending:{self._turns}"
        if regenerate:  # the answer being replaced gives way at once
            shown = self._log.newest(1)
            if shown and shown[0]["role"] == "assistant" and (gone := self._log.remove([shown[0]["id"]])):
                self.send(gone)
        else:
            self.send(self._log.add({"id": question, "role": "user", "text": prompt}))
        with self.hold_sync():
            self.pending, self.busy = {"turn": self._turns}, True
        self._stream = AnswerStream(self._turns)
        self._task = loop.create_task(self._generate(prompt, regenerate, unsent))
        self._task.add_done_callback(lambda task: self._finished(task, None if regenerate else question))

    async def _generate(self, prompt: str, regenerate: bool, unsent: dict[str, Any] | None) -> str:
        """Stream one answer; returns its status."""
        try:
            turn = await self.session.asend(prompt, on_update=self._on_update, regenerate=regenerate)
        except Exception as exc:  # noqa: BLE001 - a policy or history error before streaming began
            self._show_error(exc)
            if unsent is not None:  # nothing was saved: the question is not lost
                self.send(unsent)
            return STATUS_ERROR
        if turn.error or turn.save_error:
            self.error = turn.error or turn.save_error.message  # type: ignore[union-attr]
        if turn.assistant_id and self._stream is not None:
            self._log.views.remember(turn.assistant_id, turn.text, self._stream.renderer.finish())
        return turn.status

    def _finished(self, _task: asyncio.Task[str], question: str | None) -> None:
        self._task = self._stream = None
        with self._shown_errors():
            self._sync(replaces=question)  # the saved question and answer take the streamed ones' places
        with self.hold_sync():
            self.busy, self.pending = False, {}
            self._refresh_drawer()

    def _on_update(self, turn: Turn) -> None:
        if self._stream is not None and (delta := self._stream.update(turn)) is not None:
            self.send(delta)

    # -- changes made elsewhere -----------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Follow the history's change journal, and the session's current chat (`%chat use` in this kernel)."""
        while True:
            await asyncio.sleep(watch.INTERVAL)
            with self._shown_errors():
                self._catch_up()

    def _catch_up(self) -> None:
        if self._task is not None:
            return  # mid-answer the panel is current; the turn's end brings it in step
        ref = self.session.chat_ref
        if ref is not None and ref not in (self.chat["id"], self.chat["name"]):
            self._refresh_chat()  # `%chat use` in this kernel
            return
        self._seq, todo = watch.changed(self.session.chats, self._seq, self.chat["id"])
        if watch.EVERYTHING in todo:
            self._refresh()
            return
        if watch.SETTINGS in todo:
            self._refresh_settings()
        if watch.CHAT in todo:
            self._refresh_chat()
        elif watch.MESSAGES in todo:
            self._sync()
        if watch.DRAWER in todo:
            self._refresh_drawer()

    # -- chats ----------------------------------------------------------------------------------------------------

    def _do_new_chat(self, _msg: dict[str, Any]) -> None:
        self._idle()
        if self._total:  # an empty current chat already is a new chat
            self.session.new_chat()
        self._refresh_chat()

    def _do_use_chat(self, msg: dict[str, Any]) -> None:
        self._idle()
        self.session.use_chat(str(msg["id"]), create=False)
        self._refresh_chat()

    def _do_rename_chat(self, msg: dict[str, Any]) -> None:
        self.session.chats.rename(str(msg["id"]), str(msg["name"]))
        self._refresh_chat()

    def _do_delete_chat(self, msg: dict[str, Any]) -> None:
        chat_id = str(msg["id"])
        if chat_id == self.chat.get("id"):
            self._idle()
        self.session.chats.delete(chat_id)
        if chat_id == self.chat.get("id"):  # show the most recent chat left rather than a new empty one
            remaining = self.session.chats.list(limit=1)
            if remaining:
                self.session.use_chat(remaining[0].id, create=False)
        self._refresh_chat()

    def _do_clear(self, _msg: dict[str, Any]) -> None:
        self._idle()
        self.session.clear()
        self._show_newest()
        self._refresh_drawer()

    def _do_drawer(self, msg: dict[str, Any]) -> None:
        self._drawer = str(msg.get("text", "")) if msg.get("open") else None
        self._refresh_drawer()

    def _do_dismiss(self, _msg: dict[str, Any]) -> None:
        """Nothing more to do: `handle()` clears the error line for every user action."""

    def _idle(self) -> None:
        if self._task is not None:
            raise MMChatError(_("An answer is still streaming: press Stop first."))

    # -- settings, templates, export ------------------------------------------------------------------------------

    def _do_set(self, msg: dict[str, Any]) -> None:
        settings.apply(self.session, self.chat["id"], str(msg["key"]), msg.get("value"))
        if msg["key"] == "system":
            self._chat_system = msg.get("value") or None
        if msg["key"] == "lang":
            self._refresh()
        else:
            self._refresh_settings()

    def _do_save_defaults(self, _msg: dict[str, Any]) -> None:
        settings.save_defaults(self.session)
        self.send({"type": "saved"})

    def _do_template(self, msg: dict[str, Any]) -> None:
        text = self.session.templates.apply(str(msg["name"]), str(msg.get("text", "")))
        self.send({"type": "fill", "view": msg.get("view"), "text": text})

    def _do_save_template(self, msg: dict[str, Any]) -> None:
        self.session.templates.add(str(msg["name"]).strip(), str(msg["text"]))
        self._refresh_settings()

    def _do_export(self, msg: dict[str, Any]) -> None:
        fields = settings.download(self.session, self.chat["id"], str(msg["format"]))
        self.send({"type": "download", "view": msg.get("view"), **fields})


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
