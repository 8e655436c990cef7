"""ChatSession: the one engine every face calls — `%%chat`, `ChatPanel`, `Chat`, `mmchat` and the server API.

    session = ChatSession()
    session.chats.list()                     chats, settings, providers, templates: one facet each
    session.settings.explain("model")        the value and where it came from (one precedence, see _settings)
    session.providers.status("openai")       configured, and from where
    turn = session.send("Hello")             a turn, blocking; `await session.asend(...)` is its async twin

No face touches the history store: they call this. A session holds what is particular to one face: its current
chat and its own choices (the "session" layer of the settings). The turn itself is prepared and run in `_turns`,
and saved by `_recorder`; switching provider or model mid-chat keeps the context, which is rebuilt from history
on every turn.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._chats import ChatRef, Chats
from ._provider_status import Providers
from ._text import check_text
from ._turns import Run, Turn, iterate, prepare, resolve_options, run_async
from .errors import ProviderError
from .history import HistoryStore, UsageTotal
from .i18n import _, set_language
from .templates import Templates
from .types import STATUS_INTERRUPTED, ChatRecord, GenerationParams

if TYPE_CHECKING:
    # Imported when first needed: `mmchat list` must not pay for traitlets (see the CLI's import test).
    from ._settings import Settings
    from .config import MMChat

__all__ = ["ChatSession", "Turn", "UsageTotal", "default_session", "saved_language"]


class ChatSession:
    """The current chat, this face's choices, and the way to ask (see the module docstring).

    `chat` names the chat to continue (made on the first question if it does not exist); `provider` and `model`
    are this session's choices, as `choose()` makes them; `provider_settings` overrides keyword settings of
    providers (tests, custom transports).
    """

    def __init__(
        self,
        chat: str | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        store: HistoryStore | None = None,
        admin: MMChat | None = None,
        provider_settings: dict[str, dict[str, Any]] | None = None,
        language: bool = True,
    ) -> None:
        self._store = store
        self._admin = admin
        #: This session's choices: the "session" layer of the settings ({key: value}, "models", "options").
        self.choices: dict[str, Any] = {}
        self._chat_ref: str | None = None
        #: The chat named at construction: used, or created, on first use (like `%%chat -c NAME`).
        self._chat_name = chat
        #: Keyword settings that override every layer, per provider (tests, custom transports).
        self.provider_overrides = provider_settings or {}
        #: Turns streaming now, and the tasks of those started with `asend`.
        self.running: list[Turn] = []
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._notices: list[str] = []
        self.chats = Chats(self)
        self.providers = Providers(self)
        if provider:
            self.choose("provider", provider)
        if model:
            self.choose("model", model)
        if language:
            self.apply_language()

    @property
    def store(self) -> HistoryStore:
        """The history store (faces must not use it: they call the facets)."""
        if self._store is None:
            self._store = HistoryStore()
        return self._store

    @property
    def admin(self) -> MMChat:
        """The effective `c.MMChat` configuration, read on first use."""
        if self._admin is None:
            from .config import load_admin_config

            self._admin = load_admin_config()
        return self._admin

    @property
    def templates(self) -> Templates:
        return Templates(self.store)

    # -- settings -------------------------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings as they stand now (the saved ones are read afresh: another kernel may have changed them)."""
        from ._settings import Settings
        from .config import KERNEL

        return Settings(self.admin, self.store.get_settings(), os.environ, session=self.choices, kernel=KERNEL,
                        store=self.store, notices=self._notices)

    def choose(self, key: str, value: Any) -> Any:
        """Choose a setting for this session only (None or "" forgets the choice); validated like a saved one."""
        name, provider, value = self.settings.check(key, value)
        if provider is None:
            self.choices[name] = value
        elif name == "model":
            self.choices.setdefault("models", {})[provider] = value
        else:
            self.choices.setdefault("options", {}).setdefault(provider, {})[name] = value
        return value

    def notices(self) -> list[str]:
        """One-line notices not shown yet (a saved value that became invalid, ...); each is returned once."""
        taken, self._notices[:] = list(self._notices), []
        return taken

    def apply_language(self) -> str:
        """Make the configured language (if any) the one new output uses."""
        return set_language(self.settings.get("lang"))

    def resolve(self, provider: str | None = None, **options: Any) -> tuple[str, GenerationParams]:
        """The provider and generation parameters a turn with these options would use, after every check a turn
        makes of its options (UnknownOption for one nobody takes); nothing is written."""
        name, params, _resolution = resolve_options(self, {"provider": provider, **options})
        return name, params

    # Kept for faces not moved yet: the session's provider and model choices.
    @property
    def provider_name(self) -> str | None:
        return self.choices.get("provider")

    @provider_name.setter
    def provider_name(self, value: str | None) -> None:
        self.choose("provider", value)

    @property
    def model(self) -> str | None:
        provider = self.choices.get("provider")
        return (self.choices.get("models") or {}).get(provider) if provider else self.choices.get("model")

    @model.setter
    def model(self, value: str | None) -> None:
        self.choose("model", value)

    def set_default(self, key: str, value: Any) -> Any:
        """Save a setting for every later session (`session.settings.set`)."""
        return self.settings.set(key, value)

    def usage(self) -> list[UsageTotal]:
        """Tokens used per UTC day, provider and model, over the whole history."""
        return self.store.usage_totals()

    def retry_save(self) -> int:
        """Save the turns this process kept in memory after a save failed (`%chat retry-save`); returns how many.

        Raises `HistorySaveError` (one line) when the history still cannot be written.
        """
        from ._recorder import retry_save

        return retry_save(self.store)

    # -- the current chat -----------------------------------------------------------------------------------------

    @property
    def chat(self) -> ChatRecord:
        """The current chat, created on first use."""
        if self._chat_ref is None:
            if self._chat_name is not None:
                self.use_chat(self._chat_name)
            else:
                self._chat_ref = self.store.create_chat().id
        assert self._chat_ref is not None  # use_chat() set it
        return self.store.get_chat(self._chat_ref)

    @property
    def chat_ref(self) -> str | None:
        """The current chat's id (or the name it was opened by); None while none is chosen. Creates nothing."""
        return self._chat_ref or self._chat_name

    def use_chat(self, chat: ChatRef, *, create: bool = True, record: ChatRecord | None = None) -> ChatRecord:
        """Make `chat` current; a new chat of that name when none exists and `create` is true. Returns the chat:
        with its messages when `create` is false, else its header only (messages=[])."""
        if record is None:
            if create and isinstance(chat, str):
                check_text(chat, _("the chat name"))
                record = self.store.get_or_create_chat(chat)
            else:
                record = self.store.get_chat(chat)
        self._chat_ref = record.id
        return record

    def new_chat(self, name: str | None = None) -> ChatRecord:
        """Start a new chat and make it current."""
        record = self.chats.create(name)
        self._chat_ref = record.id
        return record

    def forget_chat(self, record: ChatRecord) -> None:
        """`record` was deleted: if it was current, the next question starts a new chat."""
        if record.id == self._chat_ref or record.name == self._chat_name:
            self._chat_ref = self._chat_name = None

    def clear(self) -> int:
        """Remove the current chat's messages; returns how many."""
        return self.chats.clear()

    def regenerate_prompt(self) -> str:
        """The last question of the current chat; MMChatError when there is none."""
        from ._turns import _regenerating

        return _regenerating(list(self.chat.messages))[0]

    # -- turns ----------------------------------------------------------------------------------------------------

    def send(self, prompt: str, *, on_update: Callable[[Turn], None] | None = None, **options: Any) -> Turn:
        """Ask and stream the answer, calling `on_update(turn)` after every chunk.

        Options (validated; an unknown one is UnknownOption): provider, model, temperature, max_tokens, top_p, the
        provider's extras, system, template, chat, new_chat, save, cache, regenerate. Raises MMChatError for a bad
        request, before anything is saved. Never raises for provider failures or interrupts once the question is
        saved: the turn says `complete`, `interrupted` or `error` (with the one-line message and the exception).
        """
        run = Run(self, self._prepare(prompt, options))
        turns = iterate(run)
        try:
            run.start()
            for turn in turns:
                if on_update is not None:
                    on_update(turn)
        except (KeyboardInterrupt, ProviderError):
            pass  # saved and marked by iterate()
        finally:
            turns.close()  # an interrupt inside on_update lands here: the partial answer is saved as interrupted
            run.end_if_open(STATUS_INTERRUPTED)
        return run.turn

    def stream(self, prompt: str, **options: Any) -> Iterator[str]:
        """The generator twin of `send()` (for `Chat.stream()`): yields the answer's text as it arrives.

        Saved like `send()`. A provider failure is saved, then raised. Stopping early (closing the generator,
        KeyboardInterrupt) keeps the partial answer as interrupted. When a provider revises earlier text
        (`Chunk.replace`), only text past what was already yielded comes out; history keeps the revised answer.
        """
        run = Run(self, self._prepare(prompt, options))
        sent = 0
        try:
            run.start()
            for turn in iterate(run):
                if turn.last is None or turn.last.replace:
                    text = turn.text
                    if len(text) > sent:
                        yield text[sent:]
                        sent = len(text)
                elif turn.last.text:
                    yield turn.last.text
                    sent += len(turn.last.text)
        finally:
            run.end_if_open(STATUS_INTERRUPTED)

    async def asend(
        self, prompt: str, *, on_update: Callable[[Turn], Any] | None = None, **options: Any
    ) -> Turn:
        """The async twin of `send()`; cancelling the task (or `stop()`) ends the stream and keeps the partial
        answer. `on_update` may be a coroutine function."""
        run = Run(self, self._prepare(prompt, options))
        task = asyncio.current_task()
        try:
            run.start()
            if task is not None:
                self._tasks[id(run.turn)] = task
            return await run_async(run, on_update)
        finally:
            self._tasks.pop(id(run.turn), None)
            run.end_if_open(STATUS_INTERRUPTED)

    def regenerate(self, *, on_update: Callable[[Turn], None] | None = None, **options: Any) -> Turn:
        """Ask the last question of the chat again, replacing its answer in place."""
        return self.send("", on_update=on_update, regenerate=True, **options)

    async def aregenerate(self, *, on_update: Callable[[Turn], Any] | None = None, **options: Any) -> Turn:
        """The async twin of `regenerate()`."""
        return await self.asend("", on_update=on_update, regenerate=True, **options)

    def stop(self, chat: ChatRef | None = None) -> bool:
        """Stop this session's streaming turns (only those in `chat` when given): a task started with `asend` is
        cancelled, a blocking `send` stops at its next chunk. True if there was one."""
        wanted = None
        if chat is not None:
            found = self.chats.find(chat)
            if found is None:
                return False
            wanted = found.id
        stopped = False
        for turn in list(self.running):
            if wanted is not None and turn.chat_id != wanted:
                continue
            turn.stop_requested = stopped = True
            task = self._tasks.get(id(turn))
            if task is not None and not task.done():
                task.cancel()
        return stopped

    def close(self) -> None:
        """Close the providers' pooled connections."""
        self.providers.close()

    def _prepare(self, prompt: str, options: dict[str, Any]) -> Any:
        regenerate = bool(options.pop("regenerate", False))
        return prepare(self, prompt, options, regenerate=regenerate)


def saved_language() -> str | None:
    """The language saved in the history root (`%chat set lang=...`), read without creating anything there."""
    from .history.paths import default_root

    if not (default_root() / "settings.json").exists():
        return None
    return HistoryStore().get_settings().get("lang") or None


_default: ChatSession | None = None


def default_session() -> ChatSession:
    """The kernel's one session, shared by `%%chat`, `ChatPanel()` and `Chat()` unless they name another chat."""
    global _default
    if _default is None:
        _default = ChatSession()
    return _default
