"""Keeping secrets out of everything a user or a log can see.

A `Secret` wraps a credential: its `str()` and `repr()` never show the value, only `reveal()` does, and only the
code that puts it on the wire calls that. Every secret value ever wrapped is remembered, so `redact()` can scrub
it from any text (a server's error message that echoes a header, an exception from deep inside httpx), and
`RedactingFilter` does the same for log records.

Text a server sent (an error body, a proxy's echo of our request) goes through `clip()` instead: it also masks
whatever follows an authorization scheme word (`Bearer`, `Api-Key`, `Basic`, `OAuth`), known value or not, and
only then cuts the text to length, so a cut can never leave a prefix of a credential behind.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import NoReturn

_known: set[str] = set()
_lock = threading.Lock()
_MASK = "***"
#: Shorter values are not scrubbed from text: they would mangle ordinary words.
_MIN_SECRET_LENGTH = 6
#: An authorization scheme word, the separator after it (space, colon, equals, quote), then the credential.
#: A JSON body may write the space as `\u0020` or the quote as `\"`: those are separators too.
_CREDENTIAL = re.compile(
    r"\b(bearer|api[-_ ]?key|basic|oauth)\b((?:[\s:=\"']|\\u0020|\\[nrt\"])+)([^\s\"',;<>(){}\[\]]+)",
    re.IGNORECASE,
)
#: How much of a server's text reaches the user by default.
CLIP_LENGTH = 300


class Secret:
    """A credential that cannot leak through str(), repr(), f-strings or logging."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= _MIN_SECRET_LENGTH:
            with _lock:
                _known.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:  # pickling would write the value somewhere we do not control
        raise TypeError("a Secret cannot be pickled")


def redact(text: str) -> str:
    """`text` with every known secret value replaced by ***."""
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, _MASK)
    return text


def mask_credentials(text: str) -> str:
    """`text` with the value after every `Bearer`, `Api-Key`, `Basic` or `OAuth` replaced by ***, known or not."""
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)


def clip(text: str, limit: int = CLIP_LENGTH) -> str:
    """Text from a server, made fit to show: credentials masked and known secrets redacted, THEN cut to `limit`.

    Cutting first would be wrong: a known key cut in two is no longer found, and half a key is a leak.
    """
    clean = redact(mask_credentials(text))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs known secrets from a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


#: Logger filters do not apply to records propagated from child loggers, so each logger that emits is named.
_LOGGERS = (
    "mmchat_jupyter",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def install_log_filter(logger_names: tuple[str, ...] = _LOGGERS) -> None:
    """Attach the redacting filter to our loggers and to httpx's (which log requests at DEBUG)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
