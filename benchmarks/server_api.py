"""Server API cost: what the REST + SSE layer adds to a turn, and how one server holds 50 streaming clients.

Prints, against the loopback fake OpenAI-compatible provider (in its own process, as a real server is):
  - time to the first delta through the API (a real Jupyter Server, httpx + SSE) vs through the engine directly
    (`ChatSession.asend` in this process), interleaved rounds, p50 of each and the difference (target <= 5 ms)
  - 50 concurrent streamed turns from 50 clients (one connection each, each in its own chat) on one server:
    p50 / p99 time to the first delta, the whole run's wall time, and the server's CPU time per 1,000 deltas

Run: python benchmarks/server_api.py   (on a shared machine: flock /tmp/mmchat-bench.lock nice ...)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.session import ChatSession, Turn
from tests.fakes.openai_compat import FakeOpenAI
from tests.server.jupyter import API, JupyterServer

KEY = "sk-bench"
ROUNDS = 40
CLIENTS = 50
DELTAS = 200
SSE = {"Accept": "text/event-stream"}


def _serve(conn: Any) -> None:
    import socketserver

    socketserver.TCPServer.request_queue_size = 2 * CLIENTS  # the default backlog of 5 refuses a burst of 50
    fake = FakeOpenAI(api_key=KEY).start()
    fake.script([f"w{i} " for i in range(DELTAS)])
    conn.send(fake.url)
    conn.recv()  # until told to stop
    fake.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def engine_first_delta(session: ChatSession, chat: str | None = None) -> float:
    first: list[float] = []

    def on_update(turn: Turn) -> None:
        if not first and turn.text:
            first.append(time.perf_counter())

    start = time.perf_counter()
    await session.asend("Count, please.", provider="openai", on_update=on_update, chat=chat)
    return first[0] - start


async def api_first_delta(client: httpx.AsyncClient, chat: str) -> tuple[float, int]:
    """Seconds to the first delta of one streamed turn, and how many deltas it had."""
    first, deltas = 0.0, 0
    start = time.perf_counter()
    async with aconnect_sse(client, "POST", f"/chats/{chat}/messages", json={"prompt": "Count, please.",
                                                                             "provider": "openai"},
                            headers=SSE) as source:
        async for event in source.aiter_sse():
            if event.event == "delta":
                deltas += 1
                if deltas == 1:
                    first = time.perf_counter() - start
            elif event.event == "done" and '"complete"' not in event.data:
                raise RuntimeError(f"turn did not complete: {event.data[-300:]}")
    return first, deltas


async def new_chats(client: httpx.AsyncClient, count: int) -> list[str]:
    return [(await client.post("/chats", json={})).json()["id"] for _ in range(count)]


async def compare(server: JupyterServer, fake_url: str) -> None:
    os.environ.update(OPENAI_BASE_URL=fake_url + "/v1", OPENAI_API_KEY=KEY)
    # Each side asks ROUNDS + 3 questions in one chat of its own, so both send the same growing context.
    session = ChatSession(chat="bench", store=HistoryStore(tempfile.mkdtemp(prefix="bench-engine-")))
    engine, api = [], []
    async with httpx.AsyncClient(base_url=server.url + API, headers=server.auth, timeout=60) as client:
        (chat,) = await new_chats(client, 1)
        for round_ in range(ROUNDS + 3):
            engine_time, (api_time, _) = await engine_first_delta(session), await api_first_delta(client, chat)
            if round_ >= 3:  # the first rounds warm connections, imports and caches
                engine.append(engine_time)
                api.append(api_time)
    e50, a50 = statistics.median(engine) * 1000, statistics.median(api) * 1000
    e90, a90 = percentile(engine, 0.9) * 1000, percentile(api, 0.9) * 1000
    print(f"time to first delta, p50 of {ROUNDS} interleaved turns in one chat each: engine {e50:.2f} ms, "
          f"API (HTTP + SSE) {a50:.2f} ms -> added {a50 - e50:.2f} ms (target <= 5 ms); p90 engine {e90:.2f} ms, "
          f"API {a90:.2f} ms")


async def concurrent(server: JupyterServer) -> None:
    assert server.process is not None
    async with httpx.AsyncClient(base_url=server.url + API, headers=server.auth, timeout=120) as setup:
        chats = await new_chats(setup, CLIENTS)
    clients = [httpx.AsyncClient(base_url=server.url + API, headers=server.auth, timeout=120) for _ in chats]
    cpu_before, wall = cpu_seconds(server.process.pid), time.perf_counter()
    results = await asyncio.gather(*(api_first_delta(c, chat) for c, chat in zip(clients, chats, strict=True)))
    wall, cpu = time.perf_counter() - wall, cpu_seconds(server.process.pid) - cpu_before
    for client in clients:
        await client.aclose()
    firsts = [first * 1000 for first, _ in results]
    deltas = sum(count for _, count in results)
    print(f"{CLIENTS} concurrent streamed turns x {DELTAS} deltas on one server: first delta p50 "
          f"{percentile(firsts, .5):.1f} ms, p99 {percentile(firsts, .99):.1f} ms; all done in {wall:.2f} s; "
          f"server CPU {cpu:.2f} s = {cpu / deltas * 1000 * 1000:.0f} ms per 1,000 deltas ({deltas} deltas)")


async def concurrent_engine() -> None:
    """The same 50 turns through the engine directly, in one process, for comparison: what the history's writes
    and the provider cost before any HTTP."""
    # One session for all 50 chats, as the server has.
    session = ChatSession(store=HistoryStore(tempfile.mkdtemp(prefix="bench-engine-50-")))
    chats = [session.chats.create().id for _ in range(CLIENTS)]
    wall = time.perf_counter()
    firsts = await asyncio.gather(*(engine_first_delta(session, chat) for chat in chats))
    wall = time.perf_counter() - wall
    firsts_ms = [first * 1000 for first in firsts]
    print(f"the same {CLIENTS} turns through the engine directly (one process): first delta p50 "
          f"{percentile(firsts_ms, .5):.1f} ms, p99 {percentile(firsts_ms, .99):.1f} ms; all done in {wall:.2f} s")


def main() -> None:
    parent, child = multiprocessing.Pipe()
    fake = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
    fake.start()
    fake_url = parent.recv()
    base = Path(tempfile.mkdtemp(prefix="bench-server-api-"))
    server = JupyterServer(base, {"OPENAI_BASE_URL": fake_url + "/v1", "OPENAI_API_KEY": KEY}).start()
    try:
        asyncio.run(compare(server, fake_url))
        asyncio.run(concurrent(server))
        asyncio.run(concurrent_engine())
    finally:
        server.stop()
        parent.send("stop")
        fake.join(5)


if __name__ == "__main__":
    main()
