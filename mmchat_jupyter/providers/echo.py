"""The offline `echo` provider: deterministic Markdown answers built from the conversation.

It is the default when no credentials are configured, so everything works with no keys and no network. Its
answer is a faithful demo of a real one: the prompt's own Markdown comes back as the body of the answer (code,
lists, tables and math render as a model's would, and `%%chat -f code` extracts the code), between a header that
proves the context is carried (the user's turn, the model) and a footer that recalls the first question and the
system prompt. `delay` (or MMCHAT_ECHO_DELAY) spaces the chunks out, to try Stop and interrupts.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

from ..i18n import _
from ..types import Chunk, GenerationParams, Message, Usage
from .base import Provider

_PIECE = re.compile(r"\S+\s*|\s+")


class EchoProvider(Provider):
    name = "echo"
    label = "Echo"
    default_model = "echo-1"
    known_models = ("echo-1",)
    # A window like YandexGPT's and GigaChat's: a long chat is trimmed as a real model's would be, and a turn reads
    # only the history that fits (a window of a million tokens made every echo turn read the whole chat).
    context_tokens = 32_000

    def __init__(self, *, delay: float | None = None, **settings: Any) -> None:
        super().__init__(base_url="offline", **settings)
        self.delay = float(delay if delay is not None else os.environ.get("MMCHAT_ECHO_DELAY") or 0)

    def check(self, messages: Sequence[Message], params: GenerationParams) -> None:
        """Nothing can be misconfigured offline."""

    def answer(self, messages: list[Message], params: GenerationParams) -> str:
        """The full Markdown answer for this conversation."""
        from ..export.transcript import close_fences  # not at import: providers load with the magic
        users = [m for m in messages if m.role == "user"]
        prompt = users[-1].content if users else ""
        system = next((m.content for m in messages if m.role == "system"), None)
        lines = [
            _("**Echo** · turn {turn} · model `{model}`").format(
                turn=len(users), model=params.model or self.default_model
            ),
            "",
            close_fences(prompt.strip("\n")),  # an unclosed fence in the prompt must not swallow the footer
            "",
            "---",
            "",
        ]
        if len(users) > 1:
            lines.append(_("Earlier in this chat you asked: “{first}”.").format(first=_shorten(users[0].content)))
            lines.append("")
        if system:
            lines.append(_("System prompt: “{system}”.").format(system=_shorten(system)))
            lines.append("")
        lines.append(
            _("I am the offline echo model: set up YandexGPT or GigaChat keys for real answers (%chat help).")
        )
        return "\n".join(lines)

    def _pieces(self, messages: Iterable[Message], params: GenerationParams | None) -> Iterator[Chunk]:
        params = params or GenerationParams()
        messages = list(messages)
        pieces = _PIECE.findall(self.answer(messages, params))
        finish = "stop"
        if params.max_tokens is not None and len(pieces) > params.max_tokens:
            pieces, finish = pieces[: params.max_tokens], "length"
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        usage = Usage(prompt_tokens, len(pieces), prompt_tokens + len(pieces))
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            yield Chunk(piece, usage=usage if last else None, finish_reason=finish if last else None)

    def stream(self, messages: Iterable[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        for chunk in self._pieces(messages, params):
            if self.delay:
                time.sleep(self.delay)
            yield chunk

    async def astream(
        self, messages: Iterable[Message], params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        for chunk in self._pieces(messages, params):
            await asyncio.sleep(self.delay)
            yield chunk


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
