"""What the provider tests share: running one answer through either driver, adding it up, checking an error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mmchat_jupyter.errors import ProviderError
from mmchat_jupyter.types import Chunk, Completion, GenerationParams, Message


def run(provider, mode: str, messages: Sequence[Message], params: GenerationParams | None = None) -> list[Chunk]:
    """The chunks of one answer through the sync or the async driver."""
    if mode == "sync":
        return list(provider.stream(messages, params))

    async def collect() -> list[Chunk]:
        return [chunk async for chunk in provider.astream(messages, params)]

    return asyncio.run(collect())


def total(chunks: list[Chunk]) -> Completion:
    answer = Completion()
    for chunk in chunks:
        answer.add(chunk)
    return answer


def check_error(exc: ProviderError, *, provider: str, secret: str, status, request_id, partial: str = "") -> None:
    """The error names its provider, status and request, keeps the partial text, and is one clean line."""
    assert exc.provider == provider
    assert exc.status == status
    assert exc.request_id == request_id
    assert exc.partial_text == partial
    text = str(exc)
    assert text == exc.message and "\n" not in text and "Traceback" not in text and secret not in text
