"""The one exception tree of mmchat_jupyter.

    MMChatError                     every error we raise; str() is one line: what happened and what to do
    ├── ConfigError                 a setting is missing, malformed or not allowed (unknown provider, bad value, policy)
    │   └── UnknownOption           an option no face or provider takes (also a TypeError, as Python's own is)
    ├── HistoryError                the history store cannot do what was asked
    │   ├── ChatNotFound            no chat with that id or name
    │   ├── ChatNameTaken           rename or create would clash with an existing name
    │   ├── CorruptHistoryError     a history file is unreadable, truncated or from a newer version (names the file)
    │   └── HistorySaveError        a save could not happen now (disk full, read-only, no permission, lock busy)
    ├── ExportError                 an export or import failed (malformed file, newer format, unwritable path)
    └── ProviderError               a provider call failed; carries provider, status, request_id, partial_text
        ├── AuthError               401/403: credentials missing, wrong or expired
        ├── InvalidRequestError     400/404/413/422: the request was refused as it stands (model, size, params)
        ├── RateLimitError          429; retry_after in seconds when the server said
        ├── ServerError             5xx
        ├── ProviderTimeout         no answer within the read timeout
        ├── ProviderConnectionError the connection failed or dropped mid-stream
        ├── StreamError             the server sent something we cannot parse
        └── ContentFiltered         complete() only: the provider's filter replaced the answer with a refusal

Streams never raise ContentFiltered: a filtered stream ends with `finish_reason="content_filter"` and the
refusal text, which the faces show marked. Messages never contain a secret: they pass through `redact()`.

Raised into a notebook cell (`Chat("x").ask(...)` from code), every one of them shows as its one line, not a traceback:
IPython calls `_render_traceback_()`. Code that catches them sees ordinary exceptions.
"""

from __future__ import annotations

from typing import Any

from ._redact import redact


class MMChatError(Exception):
    """Base of every error mmchat_jupyter raises. `str()` is a single line meant for the user."""

    def __init__(self, message: str) -> None:
        one_line = " ".join(redact(message).split())
        super().__init__(one_line)

    @property
    def message(self) -> str:
        return str(self.args[0])

    def _render_traceback_(self) -> list[str]:
        """What IPython shows when this reaches a cell: the one line, like a UsageError, not library frames."""
        return [f"{type(self).__name__}: {self.message}"]


class ConfigError(MMChatError):
    """A setting is missing, malformed or forbidden by policy."""


class UnknownOption(ConfigError, TypeError):
    """An option that no face or provider takes (`Chat.ask(colour=1)`, `%%chat -o colour=1`)."""


class HistoryError(MMChatError):
    """The history store cannot do what was asked."""


class ChatNotFound(HistoryError):
    """No chat has that id or name."""


class ChatNameTaken(HistoryError):
    """Another chat already has that name."""


class CorruptHistoryError(HistoryError):
    """A history file cannot be read; it is kept as it is and named in the message."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class HistorySaveError(HistoryError):
    """A write to the history could not happen now; what was saved before is unchanged.

    `reason` says why, for code that reacts (the recorder keeps the turn in memory and saves it later):
    "full" (no space or quota), "read-only", "permission", "locked" (another process held the lock too long)
    or "io".
    """

    def __init__(self, message: str, reason: str = "io") -> None:
        super().__init__(message)
        self.reason = reason


class ExportError(MMChatError):
    """An export or import failed."""


class ProviderError(MMChatError):
    """A provider call failed.

    `provider` is the registry name, `status` the HTTP status (None when there was no response), `request_id`
    the server's id for support requests, and `partial_text` whatever answer text arrived before the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        request_id: str | None = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.partial_text = partial_text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"status={self.status!r}, request_id={self.request_id!r})"
        )


class AuthError(ProviderError):
    """The provider rejected the credentials (401/403)."""


class InvalidRequestError(ProviderError):
    """The provider refused the request as it stands (400/404/413/422)."""


class RateLimitError(ProviderError):
    """Too many requests (429). `retry_after` is in seconds, None when the server did not say."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(ProviderError):
    """The provider failed on its side (5xx)."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout."""


class ProviderConnectionError(ProviderError):
    """The connection could not be made or dropped mid-stream."""


class StreamError(ProviderError):
    """The provider sent a response we cannot parse."""


class ContentFiltered(ProviderError):
    """`complete()` only: the provider's content filter replaced the answer; `text` is its refusal."""

    def __init__(self, message: str, *, text: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.text = text


__all__ = [
    "AuthError",
    "ChatNameTaken",
    "ChatNotFound",
    "ConfigError",
    "ContentFiltered",
    "CorruptHistoryError",
    "ExportError",
    "HistoryError",
    "HistorySaveError",
    "InvalidRequestError",
    "MMChatError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimitError",
    "ServerError",
    "StreamError",
    "UnknownOption",
]
