"""Sans-IO stream parsing shared by the providers: bytes -> lines -> events -> Chunks.

Nothing here does I/O, so the sync and async drivers feed the same objects and must produce the same chunks,
however the body is split (a network read may end in the middle of a UTF-8 character: lines are decoded only
once they are complete, and a newline byte is never part of a multi-byte character).
"""

from __future__ import annotations

import json
from typing import Any

from .._redact import clip
from ..i18n import _
from ..types import Chunk


class MalformedStream(ValueError):
    """The body broke the provider's protocol; the driver turns this into a StreamError."""


class ErrorEvent(Exception):
    """The server reported an error inside a stream that had begun well (e.g. an `{"error": ...}` line).

    `status` is the HTTP status the error stands for; the driver maps it as it would an error response, so the
    exception class matches the status and the text received so far is kept.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StreamParser:
    """Turns the lines of one response body into chunks. One instance per response."""

    def feed_line(self, line: str) -> list[Chunk]:
        raise NotImplementedError

    def finish(self) -> list[Chunk]:
        """Called at the end of the body; raises MalformedStream if the stream stopped before its end."""
        return []


class LineDecoder:
    """Splits a byte stream into complete text lines, whatever the read boundaries."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[str]:
        if b"\n" not in data:
            self._pending += data
            return []
        # All complete lines of this read are decoded in one call: a newline byte never falls inside a
        # multi-byte UTF-8 character, so only the unfinished last line waits for more bytes.
        end = data.rindex(b"\n")
        complete = bytes(self._pending) + data[:end] if self._pending else data[:end]
        self._pending = bytearray(data[end + 1 :])
        return _lines(complete)

    def flush(self) -> list[str]:
        if not self._pending:
            return []
        lines, self._pending = _lines(bytes(self._pending)), bytearray()
        return lines


def _lines(raw: bytes) -> list[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedStream(f"a line is not valid UTF-8 ({exc.reason})") from None
    lines = text.split("\n")
    return [line.rstrip("\r") for line in lines] if "\r" in text else lines


class BodyParser:
    """Feeds raw body bytes through a LineDecoder into a StreamParser.

    Blank lines carry nothing in either protocol we speak (SSE event separators, NDJSON padding), so they
    never reach the parser: this runs once per network event and must stay lean.
    """

    def __init__(self, parser: StreamParser) -> None:
        self._lines = LineDecoder()
        self._parser = parser

    def feed(self, data: bytes) -> list[Chunk]:
        return self._parse(self._lines.feed(data))

    def finish(self) -> list[Chunk]:
        return self._parse(self._lines.flush()) + self._parser.finish()

    def _parse(self, lines: list[str]) -> list[Chunk]:
        feed_line = self._parser.feed_line
        chunks: list[Chunk] = []
        for line in lines:
            if line:
                chunks += feed_line(line)
        return chunks


_decode_json = json.JSONDecoder().decode


def load_json(text: str) -> Any:
    try:
        return _decode_json(text)
    except ValueError:
        raise MalformedStream(f"not JSON: {clip(text, 80)!r}") from None


class SSEParser(StreamParser):
    """Server-sent events carrying JSON in `data:` lines, ended by `data: [DONE]` (GigaChat, OpenAI).

    Subclasses implement `on_data(payload)`. Comments, blank lines and other fields are skipped.
    """

    def __init__(self) -> None:
        self.done = False

    def feed_line(self, line: str) -> list[Chunk]:
        if line.startswith("data: ") and line[6:7] == "{":  # the common case, first
            return self.on_data(load_json(line[6:]))
        if not line or line.startswith(":"):
            return []
        field, _, value = line.partition(":")
        if field != "data":
            return []
        value = value[1:] if value.startswith(" ") else value
        if value.strip() == "[DONE]":
            self.done = True
            return []
        return self.on_data(load_json(value))

    def on_data(self, payload: Any) -> list[Chunk]:
        raise NotImplementedError

    def finish(self) -> list[Chunk]:
        if not self.done:
            raise MalformedStream(_("the stream ended before [DONE]"))
        return []
