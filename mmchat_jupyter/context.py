"""Building what is sent to a provider: the system prompt plus as much of the chat as fits its context."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from .types import STATUS_ERROR, GenerationParams, Message, MessageRecord

#: Room kept for the answer when the user set no max_tokens.
DEFAULT_ANSWER_TOKENS = 1024


def estimate_tokens(text: str) -> int:
    """A cheap upper-side token estimate: about 3 characters a token, which holds for Russian and English."""
    return len(text) // 3 + 4


def history_messages(records: Iterable[MessageRecord]) -> list[Message]:
    """The turns of a stored chat worth sending again: failed answers and empty ones are left out."""
    messages = []
    for record in records:
        if record.role == "system":
            continue
        if record.role == "assistant" and (record.status == STATUS_ERROR or not record.content):
            continue
        messages.append(record.as_message())
    return messages


def build_context(
    system: str | None,
    history: Sequence[Message],
    prompt: str,
    *,
    context_tokens: int,
    max_tokens: int | None,
) -> list[Message]:
    """System prompt + the newest history that fits + the prompt, trimming the oldest turns first.

    A user turn and the answers after it are dropped together, so the context never starts with an answer.
    """
    budget = context_tokens - (max_tokens or DEFAULT_ANSWER_TOKENS)
    head = [Message("system", system)] if system else []
    budget -= sum(estimate_tokens(m.content) for m in head) + estimate_tokens(prompt)
    kept: list[Message] = []
    pending: list[Message] = []
    for message in reversed(history):
        pending.insert(0, message)
        if message.role != "user":
            continue
        cost = sum(estimate_tokens(m.content) for m in pending)
        if cost > budget:
            break
        budget -= cost
        kept[:0] = pending
        pending = []
    return [*head, *kept, Message("user", prompt)]


def cache_key(provider: str, params: GenerationParams, messages: Sequence[Message]) -> str:
    """A stable hash of everything that determines an answer, for `--cache`."""
    payload = {
        "provider": provider,
        "params": params.as_dict(),
        "messages": [[m.role, m.content] for m in messages],
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
