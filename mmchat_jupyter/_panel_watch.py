"""What a panel must refresh after changes made elsewhere: a `%%chat` cell, another kernel, `mmchat`, the server API.

Every write to the history, from any process, is announced in its change journal (`session.chats.change_seq()` is
one stat; `changes(since)` reads what is new). The panel polls it while it lives and refreshes only what changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._chats import Chats

#: Seconds between looks at the change journal.
INTERVAL = 0.5

EVERYTHING, SETTINGS, CHAT, MESSAGES, DRAWER = "everything", "settings", "chat", "messages", "drawer"


def changed(chats: Chats, since: int, chat_id: str) -> tuple[int, set[str]]:
    """The journal position to ask from next, and what to refresh: any of EVERYTHING (changes may have been
    missed), SETTINGS, CHAT (the current chat was renamed or deleted), MESSAGES (of the current chat), DRAWER."""
    if chats.change_seq() == since:
        return since, set()
    changes = chats.changes(since)
    if changes.resync:
        return changes.seq, {EVERYTHING}
    todo = set()
    kinds = {change.kind for change in changes.events if change.chat in (None, chat_id)}
    if "settings_changed" in kinds:
        todo.add(SETTINGS)
    if kinds & {"chat_deleted", "chat_renamed"}:
        todo.add(CHAT)
    elif kinds & {"message_added", "message_updated", "chat_cleared"}:
        todo.add(MESSAGES)
    if any(change.kind != "settings_changed" for change in changes.events):
        todo.add(DRAWER)
    return changes.seq, todo
