"""Plain data types shared by every part of mmchat_jupyter.

These are the nouns of the product: a `Message` in a conversation, the `GenerationParams` a request is made
with, the `Usage` a provider reports, the `Chunk` deltas a stream yields and the `Completion` they add up to.
History records (`MessageRecord`, `ChatRecord`) are the same nouns as stored on disk, with ids and timestamps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple

Role = Literal["system", "user", "assistant"]

#: Normalised reasons a generation ended, whatever the provider calls them.
FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_CONTENT_FILTER = "content_filter"
FINISH_TOOL_CALLS = "tool_calls"

#: Status of a stored answer.
STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"
STATUS_ERROR = "error"


@dataclass(frozen=True)
class Message:
    """One turn of a conversation as sent to a provider."""

    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """How to generate: model and sampling options. `None` means "the provider's default"."""

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def merged(self, **overrides: Any) -> GenerationParams:
        """A copy where every override that is not None replaces the current value."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, for history records and exports."""
        data = {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, {})}
        return data


@dataclass(frozen=True)
class Usage:
    """Token counts for one generation."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class Chunk(NamedTuple):
    """A piece of a streamed answer.

    `text` is a delta to append, unless `replace` is true: then the server rewrote earlier text and `text` is the
    whole answer so far (YandexGPT's cumulative stream may revise its prefix). `usage` and `finish_reason` are set
    on the chunk where the provider reports them. A NamedTuple: one is made per network event, so it must be cheap.
    """

    text: str
    usage: Usage | None = None
    finish_reason: str | None = None
    replace: bool = False


class Completion:
    """A whole answer: what a stream adds up to. Pieces are joined lazily, so adding stays O(1) per chunk.

    `chunks` counts the chunks added and `last` is the latest, so a display that follows the answer chunk by
    chunk can take just the delta (see `StreamingRenderer.follow`). With `keep_text=False` it keeps no text, only
    the rest: for a relay that passes each chunk on (the gateway), so that memory does not grow with the answer.
    """

    def __init__(
        self,
        text: str = "",
        usage: Usage | None = None,
        finish_reason: str | None = None,
        model: str | None = None,
        *,
        keep_text: bool = True,
    ) -> None:
        self._pieces = [text] if text else []
        self._keep = keep_text
        self.usage = usage
        self.finish_reason = finish_reason
        self.model = model
        self.chunks = 0
        self.last: Chunk | None = None

    @property
    def text(self) -> str:
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @text.setter
    def text(self, value: str) -> None:
        self._pieces = [value] if value else []

    def add(self, chunk: Chunk) -> None:
        self.chunks += 1
        self.last = chunk
        if self._keep:
            if chunk.replace:
                self._pieces = [chunk.text]
            elif chunk.text:
                self._pieces.append(chunk.text)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason

    def _key(self) -> tuple[object, ...]:
        return (self.text, self.usage, self.finish_reason, self.model)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Completion) and self._key() == other._key()

    # Mutable, so unhashable: Python sets __hash__ to None beside __eq__; this tells type checkers.
    __hash__: ClassVar[None]  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Completion(text={self.text!r}, usage={self.usage!r}, finish_reason={self.finish_reason!r})"


def now_iso() -> str:
    """The current UTC time as stored in history: ISO 8601 with microseconds and offset."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat()


@dataclass
class MessageRecord:
    """A message as stored in history. Timestamps are ISO 8601 UTC strings (`now_iso()`)."""

    id: str
    role: Role
    content: str
    created: str
    provider: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] | None = None
    status: str = STATUS_COMPLETE
    finish_reason: str | None = None
    #: The one-line error shown to the user when status is "error".
    error: str | None = None
    #: Hash of the exact request that produced this answer, for `%%chat --cache`.
    cache_key: str | None = None

    def as_message(self) -> Message:
        return Message(self.role, self.content)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class ChatRecord:
    """A named chat with its messages, oldest first. `meta` holds chat-level settings (system prompt, ...)."""

    id: str
    name: str
    created: str
    updated: str
    messages: list[MessageRecord] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatSummary:
    """One row of `HistoryStore.list_chats()`."""

    id: str
    name: str
    created: str
    updated: str
    message_count: int
    last_provider: str | None = None
    last_model: str | None = None
