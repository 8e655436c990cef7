"""Running a provider's one streaming method as its missing twin, for providers that do their own I/O.

`%%chat` calls `stream()` (blocking, stopped by KeyboardInterrupt); the panel and the server API call `astream()` (a
task, stopped by cancelling it). A plugin may implement only one of them. The sync one runs in a worker thread for
`astream()`; the async one runs on a private event loop in a worker thread for `stream()` (never nest_asyncio, which
breaks anyio and httpx on newer Pythons). Stopping either side stops the other at its next chunk, and the generator
is closed in the thread that ran it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..types import Chunk


def sync_from_async(make: Callable[[], AsyncIterator[Chunk]]) -> Iterator[Chunk]:
    """The chunks of the async generator `make()` returns, consumed on a private loop in a worker thread."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue()
    loop = asyncio.new_event_loop()

    async def pump() -> None:
        try:
            async for chunk in make():
                items.put(("chunk", chunk))
        except BaseException as exc:  # noqa: BLE001 - handed over to the consuming thread, which raises it
            items.put(("error", exc))
        else:
            items.put(("end", None))

    def run() -> None:
        try:
            # Cancelled by the consumer at worst: pump() has already handed over whatever matters.
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        finally:
            loop.close()

    task = loop.create_task(pump())
    thread = threading.Thread(target=run, name="mmchat-provider-stream", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "chunk":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        if not task.done():
            # Stopped early: cancel the pump. Its loop may close meanwhile (the stream ended after all).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)


async def async_from_sync(make: Callable[[], Iterator[Chunk]]) -> AsyncIterator[Chunk]:
    """The chunks of the generator `make()` returns, iterated in a worker thread."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def hand_over(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(items.put_nowait, (kind, value))
        except RuntimeError:  # the loop has closed: nobody is listening any more
            stop.set()

    def pump() -> None:
        iterator = make()
        try:
            for chunk in iterator:
                if stop.is_set():
                    return
                hand_over("chunk", chunk)
        except BaseException as exc:  # noqa: BLE001 - handed over to the consuming task, which raises it
            hand_over("error", exc)
        else:
            hand_over("end", None)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    threading.Thread(target=pump, name="mmchat-provider-stream", daemon=True).start()
    try:
        while True:
            kind, value = await items.get()
            if kind == "chunk":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
