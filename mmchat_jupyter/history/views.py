"""What the store's reads return besides whole chats: a chat's tail or one page of it, search hits, usage sums."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import MessageRecord


@dataclass(frozen=True)
class ChatTail:
    """A chat's header with a run of its messages: the newest ones (`HistoryStore.tail`), one page of them
    (`HistoryStore.page`) or none (`HistoryStore.chat_info`).

    `first` is the position in the chat of `messages[0]` (0 is the oldest message), `total` how many messages
    the chat holds; `first == 0` means nothing older was left out.
    """

    id: str
    name: str
    created: str
    updated: str
    meta: dict[str, Any]
    messages: list[MessageRecord] = field(default_factory=list)
    first: int = 0
    total: int = 0


#: One page of a chat's messages, as the panel scrolls up: the same shape as a tail.
ChatPage = ChatTail


@dataclass(frozen=True)
class SearchHit:
    """One message found by `HistoryStore.search()`."""

    chat_id: str
    chat_name: str
    message: MessageRecord


@dataclass(frozen=True)
class UsageTotal:
    """Tokens used on one UTC day with one provider and model, summed over the stored messages that report usage."""

    day: str
    provider: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    messages: int
