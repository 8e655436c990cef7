"""mmchat-gateway under load, against a loopback fake OpenAI-compatible provider in its own process.

Prints:
  - the latency the gateway adds to the first token: time to the first content chunk through the gateway minus the
    same request sent straight to the fake, p50 and p99 over interleaved rounds (target: p50 <= 5 ms), with the
    usage ledger on SQLite (one replica) and, when PostgreSQL is installed, on PostgreSQL (several replicas);
  - throughput with 100 concurrent streams (answers and chunks a second, through the gateway and straight);
  - the gateway's memory (RSS) idle, at 100 concurrent streams, and at 100 streams whose clients read slowly
    (a 64 KiB receive buffer, 50 ms between reads) while the provider sends 1 MB, then 3 MB, each as fast as it can: it
    must stay flat, since the gateway reads from the provider only as fast as the client takes.

Every request is metered (limits are set, so each one is admitted and settled through the ledger), and the caller
is identified by a real JupyterHub (tokens are cached after the first request, as in production).

Run: python benchmarks/gateway.py        (the machine is shared: under flock /tmp/mmchat-bench.lock nice ...)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.openai_compat import FakeOpenAI
from tests.gateway.harness import HubProcess, ProcessGateway
from tests.gateway.postgres import Postgres, find_bindir

KEY = "sk-bench-upstream-key"
ROUNDS = 300
STREAMS = 100
SMALL = 20  # chunks in an answer of the latency and throughput runs
BIG_CHUNKS, BIG_CHUNK_BYTES = 250, 4000  # 1 MB answers for the slow readers
LIMITS = {"*": {"tokens_per_day": 10**12, "requests_per_minute": 10**6, "concurrent_streams": 10**4}}


def sse_body(chunks: int, size: int) -> bytes:
    """An OpenAI-style streamed answer of `chunks` deltas of `size` characters, with usage and [DONE]."""
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini"}
    text = "x" * (size - 1) + " "
    frames = [json.dumps({**head, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
              for _ in range(chunks)]
    frames.append(json.dumps({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    usage = {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5}
    frames.append(json.dumps({**head, "choices": [], "usage": usage}))
    return "".join(f"data: {frame}\n\n" for frame in frames).encode() + b"data: [DONE]\n\n"


def _serve(conn) -> None:  # type: ignore[no-untyped-def]
    # 100 clients connect at once: the standard library's listen backlog of 5 would refuse most of them.
    ThreadingHTTPServer.request_queue_size = 1024
    fake = FakeOpenAI(api_key=KEY).start()
    conn.send(fake.url)
    while True:
        message = conn.recv()
        if message is None:
            break
        fake.replay(sse_body(*message))
        conn.send("ok")
    fake.stop()


@contextmanager
def fake_process() -> Iterator[tuple[str, object]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child,), daemon=True)
    process.start()
    try:
        yield parent.recv(), parent
    finally:
        parent.send(None)
        process.join(10)


def answer(conn, chunks: int, size: int) -> None:  # type: ignore[no-untyped-def]
    conn.send((chunks, size))
    conn.recv()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """The peak RSS of a process while a block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def request(url: str, token: str, model: str) -> tuple[str, dict, dict]:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Count, please."}]}
    return f"{url}chat/completions", body, {"Authorization": f"Bearer {token}"}


def first_token(client: httpx.Client, url: str, body: dict, headers: dict) -> float:
    """Seconds from sending the request to the first content chunk; the rest of the answer is read too."""
    start = time.perf_counter()
    seen = None
    with client.stream("POST", url, json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if seen is None and line.startswith("data: {") and '"content"' in line:
                seen = time.perf_counter() - start
    assert seen is not None
    return seen


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (a figure the shared machine's load does not inflate)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(label: str, gateway: ProcessGateway, fake_url: str, token: str) -> None:
    client = httpx.Client(timeout=30)
    direct = request(f"{fake_url}/v1/", KEY, "gpt-4o-mini")
    via = request(f"{gateway.url}v1/", token, "openai/gpt-4o-mini")
    for _ in range(20):  # warm up: connections, the hub's answer about the token, the ledger's first rows
        first_token(client, *direct), first_token(client, *via)
    pid = gateway.process.pid  # type: ignore[union-attr]
    cpu = cpu_seconds(pid)
    straight, through, added = [], [], []
    for _ in range(ROUNDS):  # interleaved, so the shared machine's drift hits both alike
        a, b = first_token(client, *direct), first_token(client, *via)
        straight.append(a), through.append(b), added.append(b - a)
    client.close()
    cpu = (cpu_seconds(pid) - cpu) / ROUNDS

    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    print(f"first token ({label}, {ROUNDS} rounds): straight p50 {p(straight, 50):.2f} ms p99 {p(straight, 99):.2f} ms;"
          f" via gateway p50 {p(through, 50):.2f} ms p99 {p(through, 99):.2f} ms")
    print(f"  added by the gateway: p50 {p(added, 50):.2f} ms (target <= 5 ms), p99 {p(added, 99):.2f} ms; "
          f"the gateway's CPU time: {cpu * 1000:.2f} ms a request (admission, relay, settlement, audit)")


async def streams(url: str, body: dict, headers: dict, *, slow: bool) -> tuple[float, int]:
    """STREAMS concurrent streams; (seconds, bytes read). Slow clients: a 64 KiB receive buffer, 50 ms a read."""
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)] if slow else []
    transport = httpx.AsyncHTTPTransport(socket_options=options, limits=httpx.Limits(max_connections=STREAMS * 2))
    async with httpx.AsyncClient(transport=transport, timeout=120) as client:
        async def one() -> int:
            read = 0
            async with client.stream("POST", url, json=body, headers=headers) as response:
                assert response.status_code == 200, await response.aread()
                async for data in response.aiter_raw():
                    read += len(data)
                    if slow:
                        await asyncio.sleep(0.05)
            return read

        start = time.perf_counter()
        sizes = await asyncio.gather(*(one() for _ in range(STREAMS)))
        return time.perf_counter() - start, sum(sizes)


def throughput_and_memory(gateway: ProcessGateway, fake_url: str, token: str, conn) -> None:  # type: ignore[no-untyped-def]
    pid = gateway.process.pid  # type: ignore[union-attr]
    answer(conn, SMALL, 20)
    direct = request(f"{fake_url}/v1/", KEY, "gpt-4o-mini")
    via = request(f"{gateway.url}v1/", token, "openai/gpt-4o-mini")
    asyncio.run(streams(*via, slow=False))  # warm up
    idle = rss_mb(pid)
    straight, _ = asyncio.run(streams(*direct, slow=False))
    with Sampler(pid) as busy:
        through, _ = asyncio.run(streams(*via, slow=False))
    print(f"{STREAMS} concurrent streams of {SMALL} chunks: via gateway {through:.2f} s "
          f"({STREAMS / through:.0f} answers/s, {STREAMS * SMALL / through:.0f} chunks/s); "
          f"straight {straight:.2f} s ({STREAMS * SMALL / straight:.0f} chunks/s)")
    print(f"gateway RSS: idle {idle:.1f} MB, peak at {STREAMS} streams {busy.peak:.1f} MB")
    for chunks in (BIG_CHUNKS, 3 * BIG_CHUNKS):  # flat: the same growth whatever the answers' size
        answer(conn, chunks, BIG_CHUNK_BYTES)
        before = rss_mb(pid)
        with Sampler(pid) as slow:
            seconds, read = asyncio.run(streams(*via, slow=True))
        print(f"{STREAMS} slow readers of {chunks * BIG_CHUNK_BYTES / 1e6:.0f} MB each ({read / 1e6:.0f} MB in "
              f"{seconds:.1f} s): gateway RSS {before:.1f} MB before, peak {slow.peak:.1f} MB "
              f"(+{slow.peak - before:.1f} MB)")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mmchat-bench-gateway-"))
    print(f"mmchat-gateway benchmark: fake provider and gateway each in their own process, a real JupyterHub; "
          f"{os.cpu_count()} cores (shared)")
    hub = HubProcess(work / "hub")
    (work / "hub").mkdir()
    hub.start()
    postgres = None
    try:
        token = hub.token("ann")
        with fake_process() as (fake_url, conn):
            answer(conn, SMALL, 20)
            providers = {"openai": {"base_url": f"{fake_url}/v1", "api_key": KEY, "max_retries": 0}}
            config = hub.gateway_config(db_url=f"sqlite:///{work / 'usage.sqlite'}", providers=providers,
                                        limits=LIMITS, audit_log=str(work / "audit.jsonl"))
            gateway = ProcessGateway(config, work).start()
            try:
                latency("SQLite ledger", gateway, fake_url, token)
                throughput_and_memory(gateway, fake_url, token, conn)
            finally:
                gateway.stop()
            bindir = find_bindir()
            if bindir is not None:
                answer(conn, SMALL, 20)
                postgres = Postgres(bindir).create()
                config = hub.gateway_config(db_url=postgres.url, providers=providers, limits=LIMITS,
                                            audit_log=str(work / "audit-pg.jsonl"))
                gateway = ProcessGateway(config, work).start()
                try:
                    latency("PostgreSQL ledger", gateway, fake_url, token)
                finally:
                    gateway.stop()
    finally:
        if postgres is not None:
            postgres.destroy()
        hub.stop()


if __name__ == "__main__":
    main()
