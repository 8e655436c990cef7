"""The gateway's providers keep nothing of an answer: each chunk goes on to the client, so memory does not grow
with the answer (the benchmark's slow readers show it flat)."""

from __future__ import annotations

import asyncio

import httpx

from mmchat_jupyter.gateway.upstream import Upstreams
from mmchat_jupyter.types import Chunk, Completion, Message


def test_a_completion_that_keeps_no_text_still_counts_and_reports():
    answer = Completion(keep_text=False)
    for chunk in (Chunk("Hello"), Chunk(", world", finish_reason="stop")):
        answer.add(chunk)
    assert (answer.text, answer.chunks, answer.finish_reason) == ("", 2, "stop")


def test_the_gateways_providers_stream_everything_and_keep_nothing():
    body = b"".join(b'data: {"choices":[{"index":0,"delta":{"content":"%d "}}]}\n\n' % i for i in range(1000))
    body += b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"Content-Type": "text/event-stream"}, content=body))
    upstreams = Upstreams({"openai": {"base_url": "http://upstream/v1", "api_key": "sk-x",
                                      "async_transport": transport}})
    provider = upstreams.providers["openai"]
    assert provider.keep_text is False

    async def relay() -> list[Chunk]:
        return [chunk async for chunk in provider.astream([Message("user", "count")])]

    chunks = asyncio.run(relay())
    assert "".join(c.text for c in chunks) == "".join(f"{i} " for i in range(1000))
