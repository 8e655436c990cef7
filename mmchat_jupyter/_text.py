"""Text that can be stored and sent: a lone surrogate is caught where text enters, in one line.

Python strings may hold lone surrogates (`\\ud800`), e.g. from bytes decoded with `errors="surrogateescape"` and
put into a prompt with `{var}`. They cannot be encoded as UTF-8, so history, exports and providers would fail with a
UnicodeEncodeError deep inside; the engine refuses them up front, before anything is saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .errors import ConfigError
from .i18n import _

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str | None, what: str) -> None:
    """ConfigError naming `what` and where, if `text` holds a lone surrogate."""
    if not text:
        return
    found = _SURROGATE.search(text)
    if found is None:
        return
    message = _("{what} contains a character that is not valid text (a lone surrogate, U+{code:04X}, at position "
                "{position}), as bytes decoded with errors='surrogateescape' leave: decode the bytes properly, or "
                "replace it, e.g. text.encode('utf-8', 'replace').decode().")
    raise ConfigError(message.format(what=what, code=ord(found.group()), position=found.start() + 1))


def strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value (keys included), each with a path to it such as `messages[3].content`."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str):
                yield path, key
            yield from strings(item, path)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from strings(item, f"{where}[{index}]")
