"""Saving a turn to history while it streams, without ever costing the user the answer on screen.

    rec = Recorder(store, request)
    rec.start()                    # the question and an empty answer, in one write (a new chat made first)
    rec.progress()                 # after each chunk: the growing answer, every SAVE_INTERVAL s
    rec.finish(STATUS_COMPLETE)    # the final save (or rec.fail(provider_error))

The engine calls only these four. The answer is stored as `interrupted` until it completes, so a kernel that dies
mid-stream leaves an honest record, and the question goes in the same write as its answer record, so an interrupt
never leaves a question without one.

A save that fails (full disk, read-only folder, no permission, the history locked by another process for too long)
never reaches the stream: the recorder turns the `HistorySaveError` into state. The turn streams on, its text stays
in memory and on screen, `turn.save_error` holds the one line the face shows once after the answer, and the turn
waits in this process's queue of unsaved turns (one per history root). The next turn's first save, every later
save of this turn, and `retry_save()` (`%chat retry-save`) write the queue out first, oldest first, so the chat
keeps its order; `unsaved(store).overlay()` puts unsaved turns into the next turn's context.

A progress save never waits for the lock: when another process holds it, that save is skipped and the next one
carries the text. The saves that must happen wait at most `SAVE_WAIT` seconds.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from .errors import HistorySaveError, ProviderError
from .history import HistoryStore
from .history import unsaved as unsaved_turns
from .history.paths import new_id
from .history.unsaved import Item, Unsaved
from .i18n import _
from .types import STATUS_COMPLETE, STATUS_ERROR, STATUS_INTERRUPTED, ChatRecord, now_iso

#: How often a growing answer is written to history, so a crashed kernel loses at most this much.
SAVE_INTERVAL = 2.0
#: The longest a turn's first or final save waits for a history another process holds (never longer than the
#: store's own lock timeout); past it the turn is kept in memory and saved later, and the stream is never held up.
SAVE_WAIT = 5.0


class Request(Protocol):
    """What the recorder needs of a prepared turn (the engine's request)."""

    turn: Any  # the engine's Turn
    chat: ChatRecord | None
    new_chat: str | None
    save: bool
    system: str | None
    cache_key: str | None
    regenerate_id: str | None


def unsaved(store: HistoryStore) -> Unsaved:
    """This process's queue of unsaved turns for the history of `store`."""
    return unsaved_turns.of(store.root)


def retry_save(store: HistoryStore) -> int:
    """Save every turn kept in memory after a failed save (`%chat retry-save`); returns how many were saved.

    Raises `HistorySaveError` (one line) when the history still cannot be written.
    """
    return unsaved(store).flush(store)


class Recorder:
    """Saves the turn of `request` to `store` as it streams (nothing at all for a one-off question)."""

    def __init__(self, store: HistoryStore, request: Request) -> None:
        self.store, self.request, self.turn = store, request, request.turn
        self.wait = min(SAVE_WAIT, store.lock_timeout)
        self._queue = unsaved(store)
        self._item: Item | None = None
        self._last_save = time.monotonic()

    def start(self) -> None:
        """Make the chat if it is new, then store the question and the answer placeholder in one write (or, to
        regenerate, turn the old answer into the placeholder). A history that cannot be written is told once in
        `turn.save_error`; the turn goes on."""
        request, turn, store = self.request, self.turn, self.store
        turn.save_error = None
        if not request.save:
            return
        question = {"role": "user", "content": turn.prompt, "created": now_iso()}
        answer = self._fields(STATUS_INTERRUPTED)
        try:
            if request.chat is None:
                request.chat = store.create_chat(request.new_chat or None)
            chat = request.chat
            turn.chat, turn.chat_id = chat.name, chat.id
            self._queue.flush(store, self.wait)  # earlier unsaved turns first: the chat keeps its order
            if request.system is not None:
                store.update_chat_meta(chat, system=request.system or None)
            if request.regenerate_id is None:
                turn.user_id, turn.assistant_id = store.append_messages(chat, [question, answer], wait=self.wait)
            else:
                turn.assistant_id = request.regenerate_id
                store.update_message(chat, request.regenerate_id, wait=self.wait, **_changes(answer))
            turn.saved = True
        except HistorySaveError as exc:
            if request.chat is None:  # not even the chat could be made: nothing to attach a later save to
                self._tell(exc)
                return
            if request.regenerate_id is not None:
                turn.assistant_id = request.regenerate_id
            self._keep(exc, question if request.regenerate_id is None else None, answer)

    def progress(self) -> None:
        """Save the answer so far if SAVE_INTERVAL has passed; never raises, never waits for the lock."""
        if self.request.chat is None or time.monotonic() - self._last_save < SAVE_INTERVAL:
            return
        self._last_save = time.monotonic()
        self._save(STATUS_INTERRUPTED, wait=0)

    def finish(self, status: str) -> Any:
        """The answer's last state (`complete`, `interrupted` or `error`), saved; returns the turn."""
        turn = self.turn
        turn.status, turn.elapsed = status, time.monotonic() - turn.started
        if self.request.save and self.request.chat is not None:
            self._save(status, wait=self.wait)
        return turn

    def fail(self, exc: ProviderError) -> Any:
        """The provider failed: keep what arrived, with the one-line error."""
        self.turn.text = exc.partial_text or self.turn.text
        self.turn.error, self.turn.exception = exc.message, exc
        return self.finish(STATUS_ERROR)

    # --- internals ---------------------------------------------------------------------------------------------

    def _save(self, status: str, wait: float) -> None:
        answer = self._fields(status)
        if self._item is not None and not self._queue.holds(self._item):
            self._item = None  # another turn's save wrote it out
        try:
            if self._item is None:
                chat = self.request.chat
                assert chat is not None and self.turn.assistant_id is not None
                self.store.update_message(chat, self.turn.assistant_id, wait=wait, **_changes(answer))
            else:
                self._item.answer = {**answer, "id": self._item.answer["id"]}
                self._queue.flush(self.store, wait)
                self._item = None
        except HistorySaveError as exc:
            if self._item is None:
                self._keep(exc, None, answer, quiet=wait == 0)
            elif not (wait == 0 and exc.reason == "locked"):
                self._tell(exc)

    def _keep(
        self, exc: HistorySaveError, question: dict[str, Any] | None, answer: dict[str, Any], *, quiet: bool = False
    ) -> None:
        """Queue the turn for a later save; tell the user, unless a progress save merely found the history busy.

        A question and answer never saved get their ids now, so faces can follow them from screen to disk.
        """
        assert self.request.chat is not None
        turn = self.turn
        if question is not None:  # neither is in the history: both get their ids now
            question = {**question, "id": new_id()}
            turn.user_id, turn.assistant_id = question["id"], new_id()
        self._item = Item(self.request.chat.id, question, {**answer, "id": turn.assistant_id}, question is None, turn)
        self._queue.add(self._item)
        turn.saved = False
        if not (quiet and exc.reason == "locked"):
            self._tell(exc)

    def _tell(self, exc: HistorySaveError) -> None:
        """Set the turn's one-line notice, once."""
        if self.turn.save_error is None:
            text = _(
                "This answer is not saved yet: {error} It is kept in this kernel and saved with your next "
                "question, or now with %chat retry-save."
            )
            self.turn.save_error = HistorySaveError(text.format(error=exc.message), reason=exc.reason)

    def _fields(self, status: str) -> dict[str, Any]:
        cache_key = self.request.cache_key if status == STATUS_COMPLETE else None
        fields: dict[str, Any] = {**self.turn.as_message(status), "cache_key": cache_key, "created": now_iso()}
        return fields


def _changes(answer: dict[str, Any]) -> dict[str, Any]:
    """The fields of a stored answer to change (its `created` stays)."""
    return {k: v for k, v in answer.items() if k != "created"}


__all__ = ["SAVE_INTERVAL", "Recorder", "retry_save", "unsaved"]
