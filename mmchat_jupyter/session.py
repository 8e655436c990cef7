"""ChatSession: the engine both faces use.

The `%%chat` magic calls `send()` (blocking, stopped by the kernel's interrupt); the panel awaits `asend()` in
a task on the kernel's loop (stopped by cancelling it). Both share `_prepare()` (settings, policy, context,
cache) and `_Recorder` (saving the answer as it grows), so the two faces cannot drift apart. Switching provider
or model mid-chat keeps the context: it is rebuilt from history on every turn.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from . import context as ctx
from ._recorder import Recorder, unsaved
from .config import MMChat, Settings, load_admin_config
from .errors import HistorySaveError, MMChatError, ProviderError
from .history import HistoryStore
from .i18n import _, set_language
from .providers import Provider, default_provider_name, get_provider, provider_class
from .types import (
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    ChatRecord,
    Completion,
    GenerationParams,
    Message,
    Usage,
)


class Turn(Completion):
    """One prompt and its answer as it streams; what the faces display and history stores."""

    def __init__(
        self, prompt: str, provider: str, model: str, params: GenerationParams, chat: str | None = None
    ) -> None:
        super().__init__(model=model)
        self.prompt, self.provider, self.params, self.chat = prompt, provider, params, chat
        self.status = STATUS_INTERRUPTED
        self.error: str | None = None
        self.exception: MMChatError | None = None
        self.cached = False
        self.started = time.monotonic()
        self.elapsed = 0.0
        self.chat_id: str | None = None
        self.user_id: str | None = None
        self.assistant_id: str | None = None
        #: Whether the question and the answer are in history (see `save_error` when they are not).
        self.saved = False
        #: Set when the turn could not be saved (yet): the one line a face shows after the answer.
        self.save_error: HistorySaveError | None = None

    def __repr__(self) -> str:
        return f"<Turn {self.status} {self.provider}/{self.model} {len(self.text)} chars>"


@dataclass
class _Request:
    turn: Turn
    provider: Provider
    messages: list[Message]
    #: The chat the turn is saved to; None for a one-off question (--no-history).
    chat: ChatRecord | None
    cache_key: str | None
    regenerate_id: str | None = None
    new_chat: str | None = None
    save: bool = True
    system: str | None = None


class ChatSession:
    """The current chat, the chosen provider and model, and the way to ask.

    `provider`/`model`/`params` given here are this session's choices; what is not chosen comes from the user's
    settings, the administrator's configuration and the environment (see `config`).
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
    ) -> None:
        self.store = store or HistoryStore()
        self.admin = admin or load_admin_config()
        self.provider_name = provider
        self.model = model
        self._chat_ref: str | None = None
        #: The chat named at construction: used, or created, on first use (like `%%chat -c NAME`).
        self._chat_name = chat
        self._extra_provider_settings = provider_settings or {}
        self._providers: dict[str, Provider] = {}
        self._task: asyncio.Task[Any] | None = None
        self.apply_language()

    # -- settings -------------------------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return Settings(self.admin, self.store.get_settings(), os.environ)

    def apply_language(self) -> str:
        """Make the persisted language (if any) the one new output uses."""
        return set_language(self.settings.get("lang"))

    def set_default(self, key: str, value: Any) -> Any:
        """Persist a default (`%chat set`, panel controls); checked against the administrator's policy."""
        settings = self.settings
        value = settings.check_user_change(key, value)
        if key == "lang":
            set_language(value)  # checked before it is saved: a stored bad language would break every new session
        self.store.update_settings(**{key: value})
        return value

    def resolve(self, provider: str | None = None, **options: Any) -> tuple[str, GenerationParams]:
        """The provider name and generation parameters a request would use, after policy checks."""
        settings = self.settings
        name = settings.get("provider", provider or self.provider_name) or default_provider_name()
        known = provider_class(name)  # an unknown name fails here, before anything is saved
        explicit = options.get("model") or (self.model if name == self.provider_name else None)
        if explicit:
            model = settings.get("model", explicit)
        else:
            # The default model goes with the default provider; another provider gets its own default.
            fallback = settings.get("model")
            fits = fallback in known.known_models or settings.get("provider") == name
            model = fallback if fallback and fits else known.default_model
        settings.check_provider(name, model)
        params = GenerationParams(
            model=model,
            temperature=settings.get("temperature", options.get("temperature")),
            max_tokens=settings.cap_max_tokens(settings.get("max_tokens", options.get("max_tokens"))),
        )
        return name, params

    def provider(self, name: str) -> Provider:
        """A cached provider instance configured from the settings layers."""
        if name not in self._providers:
            kwargs = {**self.settings.provider_settings(name), **self._extra_provider_settings.get(name, {})}
            self._providers[name] = get_provider(name, **kwargs)
        return self._providers[name]

    # -- chats ----------------------------------------------------------------------------------------------------

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

    def use_chat(self, name: str, *, create: bool = True) -> ChatRecord:
        """Make `name` the current chat; a new chat of that name when none exists and `create` is true.

        Returns the chat: with its messages when `create` is false, else its header only (messages=[]).
        """
        record = self.store.get_or_create_chat(name) if create else self.store.get_chat(name)
        self._chat_ref = record.id
        return record

    def new_chat(self, name: str | None = None) -> ChatRecord:
        record = self.store.create_chat(name)
        self._chat_ref = record.id
        return record

    @property
    def chat_ref(self) -> str | None:
        """The current chat's id (or the name it was opened by); None while none is chosen. Creates nothing."""
        return self._chat_ref or self._chat_name

    def delete_chat(self, name: str) -> ChatRecord:
        """Delete a chat and return what it held; deleting the current chat makes the next question start a new one."""
        record = self.store.get_chat(name)
        self.store.delete_chat(record)
        if record.id == self._chat_ref or record.name == self._chat_name:
            self._chat_ref = self._chat_name = None
        return record

    def clear(self) -> int:
        """Remove the current chat's messages; returns how many."""
        return self.store.clear_chat(self.chat)

    # -- asking ---------------------------------------------------------------------------------------------------

    def send(
        self,
        prompt: str,
        *,
        on_update: Callable[[Turn], None] | None = None,
        **options: Any,
    ) -> Turn:
        """Ask and stream the answer, calling `on_update(turn)` after every chunk.

        Never raises for provider failures or interrupts: the returned turn says `complete`, `interrupted` or
        `error` (with the one-line message and the exception), and whatever arrived is saved.
        """
        request = self._prepare(prompt, **options)
        turns = self._turns(request)
        try:
            for turn in turns:
                if on_update is not None:
                    on_update(turn)
        except (KeyboardInterrupt, ProviderError):
            pass  # saved and marked by _turns
        finally:
            turns.close()  # an interrupt inside on_update lands here: the partial answer is saved as interrupted
        return request.turn

    def stream(self, prompt: str, **options: Any) -> Iterator[str]:
        """The generator twin of `send()` (for `Chat.stream()`): yields the answer's text as it arrives.

        Saved like `send()`. A provider failure is saved, then raised. Stopping early (closing the generator,
        KeyboardInterrupt) keeps the partial answer as interrupted. When a provider revises earlier text
        (`Chunk.replace`), only text past what was already yielded comes out; history keeps the revised answer.
        """
        sent = 0
        for turn in self._turns(self._prepare(prompt, **options)):
            if turn.last is None or turn.last.replace:
                text = turn.text
                if len(text) > sent:
                    yield text[sent:]
                    sent = len(text)
            elif turn.last.text:
                yield turn.last.text
                sent += len(turn.last.text)

    def _turns(self, request: _Request) -> Generator[Turn, None, None]:
        """Stream `request`, saving as it goes; yields the turn after each chunk (once for a cached answer).

        Interrupts and provider failures are saved, marked, and re-raised for the caller to present.
        """
        turn, recorder = request.turn, _Recorder(self, request)
        if turn.cached:
            recorder.finish(STATUS_COMPLETE)
            yield turn
            return
        try:
            for chunk in request.provider.stream(request.messages, turn.params):
                turn.add(chunk)
                recorder.progress()
                yield turn
        except (KeyboardInterrupt, GeneratorExit):
            recorder.finish(STATUS_INTERRUPTED)
            raise
        except ProviderError as exc:
            recorder.fail(exc)
            raise
        recorder.finish(STATUS_COMPLETE)

    async def asend(
        self,
        prompt: str,
        *,
        on_update: Callable[[Turn], Any] | None = None,
        **options: Any,
    ) -> Turn:
        """The async twin of `send()`; cancelling the task stops the stream and keeps the partial answer."""
        request = self._prepare(prompt, **options)
        turn, recorder = request.turn, _Recorder(self, request)
        if turn.cached:
            return recorder.finish(STATUS_COMPLETE)
        self._task = asyncio.current_task()
        try:
            async for chunk in request.provider.astream(request.messages, turn.params):
                turn.add(chunk)
                recorder.progress()
                if on_update is not None:
                    await _maybe_await(on_update(turn))
        except asyncio.CancelledError:
            return recorder.finish(STATUS_INTERRUPTED)
        except ProviderError as exc:
            failed: Turn = recorder.fail(exc)
            return failed
        finally:
            self._task = None
        return recorder.finish(STATUS_COMPLETE)

    def stop(self) -> bool:
        """Stop the answer streaming in a task (the panel's Stop). True if there was one."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            return True
        return False

    def regenerate_prompt(self) -> str:
        """The last user prompt of the current chat, for regenerate; ConfigError when there is none."""
        for record in reversed(self.chat.messages):
            if record.role == "user":
                return record.content
        raise MMChatError(_("Nothing to regenerate: this chat has no question yet."))

    def _prepare(
        self,
        prompt: str,
        *,
        provider: str | None = None,
        system: str | None = None,
        save: bool = True,
        cache: bool = False,
        regenerate: bool = False,
        **options: Any,
    ) -> _Request:
        name, params = self.resolve(provider, **options)
        instance = self.provider(name)
        chat = self.chat if save else None
        records = list(chat.messages) if chat is not None else []
        regenerate_id = None
        if regenerate:
            prompt = self.regenerate_prompt()
            last_user = max(i for i, r in enumerate(records) if r.role == "user")
            answers = [r for r in records[last_user + 1 :] if r.role == "assistant"]
            regenerate_id = answers[-1].id if answers else None
            records = records[:last_user]
        system_prompt = system or (chat.meta.get("system") if chat else None) or self.settings.get("system")
        messages = ctx.build_context(
            system_prompt,
            ctx.history_messages(unsaved(self.store).overlay(chat.id, records)) if chat is not None else [],
            prompt,
            context_tokens=instance.context_tokens,
            max_tokens=params.max_tokens,
        )
        instance.check(messages, params)  # a configuration error surfaces here, before anything is saved
        if system is not None and chat is not None:
            self.store.update_chat_meta(chat, system=system)
        turn = Turn(prompt, name, params.model or instance.default_model, params, chat=chat.name if chat else None)
        key = ctx.cache_key(name, params, messages) if cache else None
        if key is not None:
            hit = self.store.find_cached(key)
            if hit is not None:
                turn.text, turn.cached = hit.content, True
                turn.usage = Usage(**hit.usage) if hit.usage else None
                turn.finish_reason = hit.finish_reason
        return _Request(turn, instance, messages, chat, key, regenerate_id, save=save)


class _Recorder(Recorder):
    """The history's recorder (see `_recorder.py`), plus the audit log of a finished turn."""

    def __init__(self, session: ChatSession, request: _Request) -> None:
        super().__init__(session.store, request)
        self.session = session
        self.start()

    def finish(self, status: str) -> Turn:
        turn: Turn = super().finish(status)
        if self.session.admin.audit_log and not turn.cached:
            from .audit import record_turn

            record_turn(self.session.admin, turn)
        return turn


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


_default: ChatSession | None = None


def default_session() -> ChatSession:
    """The kernel's one session, shared by `%%chat`, `ChatPanel()` and `Chat()` unless they name another chat."""
    global _default
    if _default is None:
        _default = ChatSession()
    return _default
