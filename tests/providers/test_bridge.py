"""A provider's one streaming method run as its missing twin (providers/_bridge.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

from mmchat_jupyter.providers._bridge import async_from_sync, sync_from_async
from mmchat_jupyter.types import Chunk


def test_an_async_stream_read_blocking_ends_cleanly_every_time():
    """Regression: the consumer's clean-up raced the private loop's close ("Event loop is closed")."""

    async def chunks() -> AsyncIterator[Chunk]:
        for text in ("a", "b", "c"):
            yield Chunk(text)

    for _ in range(300):
        assert [c.text for c in sync_from_async(chunks)] == ["a", "b", "c"]


def test_closing_the_blocking_side_early_stops_the_async_generator():
    closed = threading.Event()

    async def endless() -> AsyncIterator[Chunk]:
        try:
            while True:
                yield Chunk("x")
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    stream = sync_from_async(endless)
    assert next(stream).text == "x"
    stream.close()
    assert closed.wait(5)


def test_cancelling_the_async_side_stops_the_blocking_generator_in_its_thread():
    closed, threads = threading.Event(), []

    def endless() -> Iterator[Chunk]:
        try:
            while True:
                threads.append(threading.current_thread())
                yield Chunk("x")
        finally:
            closed.set()

    async def read_one() -> None:
        async for chunk in async_from_sync(endless):
            assert chunk.text == "x"
            break

    asyncio.run(read_one())
    assert closed.wait(5) and threading.main_thread() not in threads
