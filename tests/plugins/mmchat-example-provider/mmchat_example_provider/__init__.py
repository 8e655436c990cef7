"""Three provider plugins, one for each way the contract allows (README: "Writing a provider").

    ShoutProvider       overrides `stream()`: its own I/O (here none: it answers offline), blocking
    AsyncShoutProvider  overrides `astream()`: its own I/O, async
    LinesProvider       implements the sans-IO hooks; mmchat_jupyter's drivers send, retry and read

The first two answer with the question in capitals and `volume` exclamation marks (an extra option they declare);
the third speaks a tiny NDJSON protocol: `POST {base_url}/complete` -> one `{"text": ...}` per line, then
`{"done": true, "tokens": N}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

import httpx

from mmchat_jupyter.errors import ConfigError
from mmchat_jupyter.providers import Options, Provider, StreamParser, option
from mmchat_jupyter.types import Chunk, GenerationParams, Message, Usage


class ShoutOptions(Options):
    volume: int | None = option(int, "how many exclamation marks", low=1, high=3)


def _shout(messages: Iterable[Message], params: GenerationParams | None, model: str) -> list[Chunk]:
    params = params or GenerationParams()
    question = next((m.content for m in reversed(list(messages)) if m.role == "user"), "")
    words = question.upper().split() + ["!" * int(params.extra.get("volume") or 1)]
    head = f"[{model} t={params.temperature}] "
    pieces = [head] + [word + " " for word in words[:-1]] + [words[-1]]
    usage = Usage(len(question.split()), len(pieces), len(question.split()) + len(pieces))
    return [Chunk(piece) for piece in pieces[:-1]] + [Chunk(pieces[-1], usage=usage, finish_reason="stop")]


class ShoutProvider(Provider):
    """Offline, blocking: overrides `stream()` only (the panel's `astream()` runs it in a thread)."""

    name = "example-stream"
    label = "Example (stream)"
    default_model = "shout-1"
    known_models = ("shout-1", "shout-2")
    Options = ShoutOptions

    def __init__(self, *, delay: float = 0.0, **settings: Any) -> None:
        super().__init__(**settings)
        self.delay = delay

    def stream(self, messages: Iterable[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        import time

        for chunk in _shout(messages, params, (params and params.model) or self.default_model):
            time.sleep(self.delay)
            yield chunk


class AsyncShoutProvider(Provider):
    """Offline, async: overrides `astream()` only (`%%chat`'s `stream()` runs it on a private loop)."""

    name = "example-async"
    label = "Example (async)"
    default_model = "shout-async"
    Options = ShoutOptions

    async def astream(
        self, messages: Iterable[Message], params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        for chunk in _shout(messages, params, (params and params.model) or self.default_model):
            await asyncio.sleep(0)
            yield chunk


class LinesParser(StreamParser):
    def feed_line(self, line: str) -> list[Chunk]:
        event = json.loads(line)
        if event.get("done"):
            tokens = int(event.get("tokens", 0))
            return [Chunk("", usage=Usage(0, tokens, tokens), finish_reason="stop")]
        return [Chunk(str(event["text"]))]


class LinesProvider(Provider):
    """Sans-IO: builds the request and parses the body; the package's drivers do the rest (retries, errors)."""

    name = "example-hooks"
    label = "Example (sans-IO)"
    default_model = "lines-1"
    credential_env = ("EXAMPLE_API_KEY",)
    base_url_env = "EXAMPLE_BASE_URL"
    default_base_url = "http://127.0.0.1:9"
    auth_hint = "check EXAMPLE_API_KEY"

    def __init__(self, *, api_key: str | None = None, **settings: Any) -> None:
        super().__init__(**settings)
        self.api_key = self.secret(api_key, "EXAMPLE_API_KEY")

    def build_request(self, messages: Sequence[Message], params: GenerationParams) -> httpx.Request:
        if self.api_key is None:
            raise ConfigError("Example (sans-IO) has no key: set EXAMPLE_API_KEY.")
        body = {"model": params.model or self.default_model, "temperature": params.temperature,
                "messages": [[m.role, m.content] for m in messages]}
        headers = {"Authorization": f"Key {self.api_key.reveal()}"}
        return httpx.Request("POST", f"{self.base_url}/complete", json=body, headers=headers)

    def new_parser(self) -> LinesParser:
        return LinesParser()


__all__ = ["AsyncShoutProvider", "LinesProvider", "ShoutProvider"]
