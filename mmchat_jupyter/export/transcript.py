"""Readable transcripts: one walker over a chat, and a formatter each for Markdown and plain text.

The walker (`entries`) decides what a reader is shown: who spoke, when, which provider and model answered, the
text, and notes (interrupted, failed, filtered, tokens). The HTML page uses it too, so the three formats cannot
disagree about what a chat contains.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from ..i18n import _, ngettext
from ..types import (
    FINISH_CONTENT_FILTER,
    FINISH_LENGTH,
    STATUS_ERROR,
    STATUS_INTERRUPTED,
    ChatRecord,
    MessageRecord,
)
from .safe_markdown import escape_markdown, safe_markdown

#: An opening or closing code fence (CommonMark: up to 3 spaces, then 3+ backticks or tildes).
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def format_time(iso: str | None) -> str:
    """A stored timestamp in UTC, labelled so ("2024-05-01 10:00 UTC"): an export is read in other time zones."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    # ISO-style in every language: an export is a document read anywhere (listings use _format.format_datetime).
    return _("{time} UTC").format(time=moment.strftime("%Y-%m-%d %H:%M"))


@dataclass(frozen=True)
class Entry:
    """One message as a transcript shows it."""

    role: str
    speaker: str
    #: "provider · model" for an answer, else "".
    route: str
    when: str
    #: The message text without trailing newlines, a code fence left open by an interrupted answer closed.
    content: str
    #: Short remarks under the text: interrupted, error, content filter, token counts.
    notes: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        """Speaker, route and time on one line."""
        return " · ".join(part for part in (self.speaker, self.route, self.when) if part)


def _when(local: bool) -> Callable[[str | None], str]:
    """How times are written: in UTC, labelled, for a document read anywhere; in the reader's own time zone and
    language, as listings show them, for `%chat show`."""
    if not local:
        return format_time
    from .._format import format_datetime

    return lambda iso: format_datetime(iso) if iso else ""


def title(chat: ChatRecord, *, local: bool = False) -> tuple[str, str]:
    """The chat's name and a line about it (message count, when created and last updated)."""
    count = ngettext("{n} message", "{n} messages", len(chat.messages)).format(n=len(chat.messages))
    when = _when(local)
    text = _("{count} · created {created} · updated {updated}") if local else _(
        "Exported from mmchat-jupyter · {count} · created {created} · updated {updated}")
    return chat.name, text.format(count=count, created=when(chat.created), updated=when(chat.updated))


def entries(chat: ChatRecord, *, local: bool = False) -> Iterator[Entry]:
    """What a reader sees of each message, oldest first; the chat's system prompt, if any, comes first."""
    system = chat.meta.get("system")
    if system:
        yield Entry("system", _("System prompt"), "", "", str(system))
    when = _when(local)
    for record in chat.messages:
        yield _entry(record, when)


def _entry(record: MessageRecord, when: Callable[[str | None], str] = format_time) -> Entry:
    speakers = {"user": _("You"), "assistant": _("Assistant"), "system": _("System")}
    route = " · ".join(part for part in (record.provider, record.model) if part) if record.role == "assistant" else ""
    return Entry(
        record.role,
        speakers.get(record.role, record.role),
        route,
        when(record.created),
        close_fences(record.content.rstrip("\n")),
        tuple(notes(record)),
    )


def notes(record: MessageRecord) -> Iterator[str]:
    """Remarks on an answer: how it ended and what it cost."""
    if record.status == STATUS_INTERRUPTED:
        yield _("Interrupted: the answer is incomplete.")
    elif record.status == STATUS_ERROR:
        yield _("Error: {error}").format(error=record.error or _("the answer failed."))
    if record.finish_reason == FINISH_CONTENT_FILTER:
        yield _("Withheld by the provider's content filter.")
    elif record.finish_reason == FINISH_LENGTH:
        yield _("Cut off at the length limit.")
    if record.usage:
        usage = record.usage
        text = _("Tokens: {prompt} prompt + {completion} answer = {total}")
        yield text.format(
            prompt=usage.get("prompt_tokens", 0),
            completion=usage.get("completion_tokens", 0),
            total=usage.get("total_tokens", 0),
        )


def close_fences(text: str) -> str:
    """`text` with a code fence left open (an answer interrupted mid-code) closed, so what follows stays prose."""
    opened: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match is None:
            continue
        fence = match.group(1)
        if opened is None:
            opened = fence
        elif fence[0] == opened[0] and len(fence) >= len(opened) and not line.strip().strip(fence[0]):
            opened = None
    if opened is None:
        return text
    return f"{text}{opened}" if text.endswith("\n") else f"{text}\n{opened}"


def to_markdown(chat: ChatRecord, *, local: bool = False) -> str:
    """The chat as a Markdown transcript, safe to preview anywhere (see `safe_markdown`): code fences, tables and
    math render as written, raw HTML shows as text and images become links. Our own values are escaped text.
    `local`: times in the reader's zone and no "exported" line, for showing the chat here (`%chat show`)."""
    name, line = title(chat, local=local)
    parts = [f"# {escape_markdown(name)}", f"*{escape_markdown(line)}*"]
    for entry in entries(chat, local=local):
        parts.append(f"### {escape_markdown(entry.heading)}")
        if entry.content:
            parts.append(entry.content)
        parts.extend(f"> {escape_markdown(note)}" for note in entry.notes)
    return safe_markdown("\n\n".join(parts) + "\n")


def to_text(chat: ChatRecord) -> str:
    """The chat as a plain-text transcript."""
    name, line = title(chat)
    parts = [f"{name}\n{'=' * len(name)}\n{line}"]
    for entry in entries(chat):
        block = [f"--- {entry.heading} ---"]
        if entry.content:
            block.append(entry.content)
        block.extend(f"[{note}]" for note in entry.notes)
        parts.append("\n".join(block))
    return "\n\n".join(parts) + "\n"
