"""One turn: a prompt checked and prepared into a request, then streamed and saved.

`prepare()` does everything that can fail because of the request itself (options, policy, text, the provider's
own check) before anything is written, so a bad request leaves no trace. `Run` holds the steps the blocking loop
(`iterate`, for %%chat, Chat and the CLI) and the async loop (`run_async`, for the panel and the server API) share:
start (the question and the answer placeholder in one write), take a chunk, end. Writes happen with SIGINT held
back (`deferred_interrupts`), so an interrupt at any moment leaves history consistent: question and answer both
saved and marked, or neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import context as ctx
from ._recorder import Recorder, unsaved
from ._text import check_text
from .errors import ChatNotFound, ConfigError, HistorySaveError, MMChatError, ProviderError
from .i18n import _
from .providers.options import unknown_option
from .types import (
    STATUS_COMPLETE,
    STATUS_ERROR,
    STATUS_INTERRUPTED,
    ChatRecord,
    Completion,
    GenerationParams,
    Message,
    MessageRecord,
    Usage,
)

if TYPE_CHECKING:
    from .providers import Provider
    from .session import ChatSession

#: Turn options that are not generation options (those are the provider's declared `Options`).
TURN_OPTIONS = ("provider", "system", "template", "chat", "new_chat", "save", "cache", "regenerate")


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
        #: Whether the question and the answer record are in history (see `save_error` when they are not).
        self.saved = False
        #: Set when the turn could not be saved (yet): the one line a face shows after the answer.
        self.save_error: HistorySaveError | None = None
        self.stop_requested = False

    def __repr__(self) -> str:
        return f"<Turn {self.status} {self.provider}/{self.model} {len(self.text)} chars>"

    def as_message(self, status: str | None = None) -> dict[str, Any]:
        """The answer as a stored message holds it, from the turn itself (`status`: the one to store, else the
        turn's): what the recorder saves and what the server API returns."""
        return {
            "role": "assistant",
            "content": self.text,
            "provider": self.provider,
            "model": self.model,
            "params": self.params.as_dict(),
            "usage": self.usage.as_dict() if self.usage else None,
            "status": status or self.status,
            "finish_reason": self.finish_reason,
            "error": self.error,
        }


@dataclass
class Request:
    """A prepared turn: what to send, to whom, and where to save it."""

    turn: Turn
    provider: Provider
    messages: list[Message]
    #: The chat to save to; None with `save` means a new chat, made when the turn starts (named `new_chat`).
    chat: ChatRecord | None
    new_chat: str | None = None
    save: bool = True
    #: A system prompt to store on the chat (given with this turn).
    system: str | None = None
    cache_key: str | None = None
    regenerate_id: str | None = None


def resolve_options(session: ChatSession, options: Mapping[str, Any]) -> tuple[str, GenerationParams, Any]:
    """The provider, generation parameters and settings resolution for turn `options`; UnknownOption (a
    ConfigError and a TypeError) for a name that neither the engine nor the provider takes, ConfigError for a
    value that is not valid."""
    from .providers.options import Options

    # The options a provider takes are known once the provider is: resolve it with the common options first.
    settings = session.settings
    call: dict[str, Any] = {"provider": options.get("provider"),
                            **{k: options[k] for k in Options.COMMON if options.get(k) is not None}}
    name = settings.resolve(call).provider.value
    cls = session.providers.provider_class(name)
    declared = cls.Options.names()
    for option in options:
        if option not in TURN_OPTIONS and option not in declared:
            raise unknown_option(option, (*TURN_OPTIONS, *declared))
    extras = {k: v for k, v in options.items() if k in cls.Options.extras() and v is not None}
    if extras:
        call["options"] = {name: extras}
    resolution = settings.resolve(call)
    return name, cls.Options.build(resolution.options(), provider=name).params(), resolution


def prepare(session: ChatSession, prompt: str, options: dict[str, Any], *, regenerate: bool = False) -> Request:
    """The request for `prompt` with `options`, checked; nothing is written. MMChatError when it cannot be made."""
    provider_name, params, resolution = resolve_options(session, options)
    system, template = options.get("system"), options.get("template")
    for what, text in ((_("the prompt"), prompt), (_("the system prompt"), system)):
        check_text(text, what)
    if template:
        prompt = session.templates.apply(template, prompt)
    save = options.get("save", True) is not False
    instance = session.providers.instance(provider_name)
    # Only the newest messages can fit the provider's context: read just those (estimate_tokens counts at
    # least one token per 3 characters, so nothing older than 3 characters a token can survive the trimming).
    chars = 3 * instance.context_tokens
    chat, records, new_chat = _target(session, options, save, chars)
    regenerate_id = None
    if regenerate:
        prompt, regenerate_id, records = _regenerating(records)
    if not prompt.strip():
        raise ConfigError(_("The question is empty: write something to ask."))
    check_text(prompt, _("the prompt"))
    system_prompt = system or (chat.meta.get("system") if chat else None) or resolution.values["system"].value
    if chat is not None:
        records = unsaved(session.store).overlay(chat.id, records)  # turns kept in memory after a failed save
    messages = ctx.build_context(
        system_prompt,
        ctx.history_messages(records),
        prompt,
        context_tokens=instance.context_tokens,
        max_tokens=params.max_tokens,
    )
    instance.check(messages, params)  # a configuration error surfaces here, before anything is saved
    model = params.model or instance.default_model
    turn = Turn(prompt, provider_name, model, params, chat=chat.name if chat else new_chat or None)
    key = ctx.cache_key(provider_name, params, messages) if options.get("cache") else None
    if key is not None:
        hit = session.store.find_cached(key)
        if hit is not None:
            turn.text, turn.cached = hit.content, True
            turn.usage = Usage(**hit.usage) if hit.usage else None
            turn.finish_reason = hit.finish_reason
    return Request(turn, instance, messages, chat, new_chat, save, system, key, regenerate_id)


def _target(
    session: ChatSession, options: Mapping[str, Any], save: bool, chars: int
) -> tuple[ChatRecord | None, list[MessageRecord], str | None]:
    """The chat a turn goes to (its header, messages=[]), its newest messages (`chars` of content at least), and,
    when the chat is to be made as the turn starts, the name for it ("" for a default name). Creates nothing."""
    chat, new = options.get("chat"), options.get("new_chat")
    if not save:
        return None, [], None
    if chat is not None and new not in (None, False):
        raise ConfigError(_("Give a chat or a new chat, not both."))
    if new not in (None, False):
        name = "" if new is True else str(new)
        check_text(name, _("the chat name"))
        return None, [], name
    if chat is None:
        chat = session.chat_ref
        if chat is None:
            return None, [], ""
    if isinstance(chat, str):
        check_text(chat, _("the chat name"))
    try:
        tail = session.store.tail(chat, chars=chars, at_least=2)
    except ChatNotFound:
        if not isinstance(chat, str):
            raise
        return None, [], chat
    header = ChatRecord(tail.id, tail.name, tail.created, tail.updated, [], dict(tail.meta))
    return header, list(tail.messages), None


def _regenerating(records: list[Any]) -> tuple[str, str | None, list[Any]]:
    """The last question, the answer to replace (None when it has none) and the history before them."""
    users = [i for i, r in enumerate(records) if r.role == "user"]
    if not users:
        raise MMChatError(_("Nothing to regenerate: this chat has no question yet."))
    last = users[-1]
    answers = [r for r in records[last + 1 :] if r.role == "assistant"]
    return records[last].content, answers[-1].id if answers else None, records[:last]


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT back while history is written, then deliver it: an interrupt cannot split a write in two.

    Only the main thread receives signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)


class Run:
    """One turn being streamed and saved; the steps both loops share."""

    def __init__(self, session: ChatSession, request: Request) -> None:
        self.session, self.request, self.turn = session, request, request.turn
        self.recorder = Recorder(session.store, request)
        self._open = False

    def start(self) -> None:
        """Save the question and the answer placeholder (a new chat first, if the turn makes one)."""
        with deferred_interrupts():
            self._open = True
            self.session.running.append(self.turn)
            self.recorder.start()
            if self.turn.chat_id is not None:
                self.session.use_chat(self.turn.chat_id, create=False, record=self.request.chat)

    def take(self, chunk: Any) -> None:
        self.turn.add(chunk)
        self.recorder.progress()

    def end(self, status: str, failure: ProviderError | None = None) -> Turn:
        """Save how the answer ended (once)."""
        with deferred_interrupts():
            turn = self.turn
            if not self._open:
                return turn
            self._open = False
            self.session.running[:] = [t for t in self.session.running if t is not turn]
            if failure is not None:
                self.recorder.fail(failure)
            else:
                self.recorder.finish(status)
            admin = self.session.admin
            if admin.audit_log and not turn.cached:
                from .audit import record_turn

                record_turn(admin, turn)
        return turn

    def end_if_open(self, status: str) -> None:
        """End a turn that stopped before its loop could (an interrupt between two steps)."""
        self.end(status)


def iterate(run: Run) -> Generator[Turn, None, None]:
    """Stream the turn, yielding it after each chunk (once for a cached answer). Closing the generator or an
    interrupt stops it, saved as interrupted; a provider failure is saved and marked, then raised."""
    turn = run.turn
    if turn.cached:
        run.end(STATUS_COMPLETE)
        yield turn
        return
    status, failure = STATUS_INTERRUPTED, None
    chunks = run.request.provider.stream(run.request.messages, turn.params)
    try:
        for chunk in chunks:
            run.take(chunk)
            yield turn
            if turn.stop_requested:
                break
        else:
            status = STATUS_COMPLETE
    except ProviderError as exc:
        status, failure = STATUS_ERROR, exc
        raise
    finally:
        with deferred_interrupts():
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            run.end(status, failure)


async def run_async(run: Run, on_update: Callable[[Turn], Any] | None) -> Turn:
    """The async twin of `iterate`: cancelling the task stops the stream and keeps the partial answer."""
    turn = run.turn
    if turn.cached:
        return run.end(STATUS_COMPLETE)
    status, failure = STATUS_INTERRUPTED, None
    chunks: AsyncIterator[Any] = run.request.provider.astream(run.request.messages, turn.params)
    try:
        async for chunk in chunks:
            run.take(chunk)
            if on_update is not None:
                result = on_update(turn)
                if asyncio.iscoroutine(result):
                    await result
            if turn.stop_requested:
                break
        else:
            status = STATUS_COMPLETE
    except asyncio.CancelledError:
        pass  # the panel's Stop, a closed API connection: the partial answer is kept, marked interrupted
    except ProviderError as exc:
        status, failure = STATUS_ERROR, exc
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            # A stream that fails to close must not keep the answer from being saved.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await aclose()
        run.end(status, failure)
    return turn
