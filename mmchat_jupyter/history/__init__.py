"""The chat history: TinyDB files that many kernels share safely, crash-safe and fast at 10k messages.

    store = HistoryStore()                      # $MMCHAT_HOME, else <jupyter data dir>/mmchat
    chat = store.create_chat()                  # "chat-2026-11-24-1"
    answer = store.append_message(chat, role="assistant", content="", status="interrupted")
    store.update_message(chat, answer, content="Hello", status="complete")
    store.list_chats()                          # ChatSummary rows, newest first

How it stays safe is told in `storage` (atomic writes), `lock` (one writer across processes and threads),
`index` (the lazily refreshed list_chats cache), `lookup` (finding a chat without the lock) and `migrations`
(schema versions).
"""

from __future__ import annotations

from ..types import ChatRecord, ChatSummary, MessageRecord
from .journal import Change, Changes
from .lookup import ChatRef
from .migrations import SCHEMA_VERSION
from .paths import default_root
from .store import HistoryStore
from .views import ChatPage, ChatTail, SearchHit, UsageTotal

__all__ = [
    "SCHEMA_VERSION",
    "Change",
    "Changes",
    "ChatPage",
    "ChatRecord",
    "ChatRef",
    "ChatSummary",
    "ChatTail",
    "HistoryStore",
    "MessageRecord",
    "SearchHit",
    "UsageTotal",
    "default_root",
]
