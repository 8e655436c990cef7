"""Turns this process could not save yet (a full disk, a read-only folder, a history locked too long), kept in
memory until they can be: what the user saw must never vanish because the disk said no.

The recorder (`mmchat_jupyter/_recorder.py`) queues a turn here when a save fails and flushes the queue, oldest
first, at every later save. Until then every read of this process's store shows the chat as it will be once saved
(`overlay`), so a panel that re-reads its chat after a turn, `%chat show` or an export keep the answer. Records
get their ids when queued, so a face can follow a message from screen to disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..types import MessageRecord
from .views import ChatTail

if TYPE_CHECKING:
    from .store import HistoryStore


@dataclass
class Item:
    """One turn not (all) in the history yet: the question unless it is saved already, and the answer's fields."""

    chat_id: str
    question: dict[str, Any] | None
    answer: dict[str, Any]
    saved_answer: bool  # whether the answer's record already exists (only its content or status is behind)
    turn: Any = field(default=None, repr=False)


class Unsaved:
    """The unsaved turns of one history root in this process, oldest first."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Item) -> None:
        with self.lock:
            self.items.append(item)

    def holds(self, item: Item) -> bool:
        with self.lock:
            return any(queued is item for queued in self.items)

    def flush(self, store: HistoryStore, wait: float | None = None) -> int:
        """Save what waits, in order, stopping at the first failure (raised); returns how many turns were saved."""
        saved = 0
        with self.lock:
            while self.items:
                item = self.items[0]
                if item.question is not None:
                    store.append_messages(item.chat_id, [item.question, item.answer], wait=wait)
                    item.question = None
                else:
                    changes = {k: v for k, v in item.answer.items() if k not in ("id", "role", "created")}
                    store.update_message(item.chat_id, item.answer["id"], wait=wait, **changes)
                if item.turn is not None:
                    item.turn.saved, item.turn.save_error = True, None
                self.items.pop(0)
                saved += 1
        return saved

    def overlay(self, chat_id: str, records: list[MessageRecord]) -> list[MessageRecord]:
        """A chat's messages (the newest run of them, at least) as they will be once its unsaved turns are saved.
        Idempotent: records already overlaid are left as they are."""
        mine = self._of(chat_id)
        if not mine:
            return records
        answers = {item.answer["id"]: item.answer for item in mine}
        merged = [
            replace(record, **_fields(answers[record.id])) if record.id in answers else record for record in records
        ]
        present = {record.id for record in merged}
        for item in mine:
            if item.question is not None and item.question["id"] not in present:
                merged += [MessageRecord(**item.question), MessageRecord(**item.answer)]
        return merged

    def added(self, chat_id: str) -> int:
        """How many messages the chat's unsaved turns add to it."""
        return sum(2 for item in self._of(chat_id) if item.question is not None)

    def view(self, tail: ChatTail, *, at_end: bool) -> ChatTail:
        """`tail` with the unsaved turns: answers brought up to date, and (when it reaches the end of the chat) the
        unsaved questions and answers after it; positions and total count them."""
        added = self.added(tail.id)
        if not added and not self._of(tail.id):
            return tail
        messages = self.overlay(tail.id, list(tail.messages)) if at_end else self.overlay_answers(tail)
        return replace(tail, messages=messages, total=tail.total + added)

    def overlay_answers(self, tail: ChatTail) -> list[MessageRecord]:
        answers = {item.answer["id"]: item.answer for item in self._of(tail.id)}
        return [replace(m, **_fields(answers[m.id])) if m.id in answers else m for m in tail.messages]

    def _of(self, chat_id: str) -> list[Item]:
        with self.lock:
            return [item for item in self.items if item.chat_id == chat_id]


def _fields(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("id", "created")}


_queues: dict[str, Unsaved] = {}
_guard = threading.Lock()


def of(root: object) -> Unsaved:
    """This process's queue of unsaved turns for the history at `root`."""
    with _guard:
        return _queues.setdefault(str(root), Unsaved())
