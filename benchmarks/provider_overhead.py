"""Provider overhead: what our streaming layer costs on top of reading the same bytes with raw httpx.

Prints, for a 2,000-chunk stream from a loopback fake in its own process (each provider's real protocol):
  - wall time of `Provider.stream()` / wall time of a raw `httpx` read of the same body (target <= 1.2)
and the import cost of `mmchat_jupyter` in a fresh interpreter (target <= 100 ms), with what it pulls in.

Run: python benchmarks/provider_overhead.py
"""

from __future__ import annotations

import multiprocessing
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmchat_jupyter.providers import get_provider
from mmchat_jupyter.types import Message
from tests.fakes.gigachat import CHAT_PATH, CREDENTIALS, OAUTH_PATH, FakeGigaChat
from tests.fakes.yandex import FOLDER, FakeYandex

CHUNKS = 2000
ROUNDS = 15
PIECES = [f"word{i} " for i in range(CHUNKS)]
MESSAGES = [Message("user", "Count to two thousand, please.")]


def import_cost() -> None:
    code = "import mmchat_jupyter"
    samples = []
    for _ in range(5):
        command = [sys.executable, "-X", "importtime", "-c", code]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        rows = [line.split("|") for line in out.stderr.splitlines() if line.startswith("import time:")]
        total = next(int(r[1]) for r in rows if r[2].strip() == "mmchat_jupyter")
        samples.append(total)
    median_us = statistics.median(samples)
    print(f"import mmchat_jupyter: {median_us / 1000:.1f} ms cumulative (median of 5, -X importtime; target <= 100 ms)")
    heavy = sorted(((int(r[1]), r[2].strip()) for r in rows[1:] if r[1].strip().isdigit()), reverse=True)[:5]
    print("  largest imports:", ", ".join(f"{name.strip()} {us / 1000:.1f} ms" for us, name in heavy))
    probe = (
        "import sys, mmchat_jupyter; print(sorted(m for m in "
        "('mmchat_jupyter.widget', 'mmchat_jupyter.export', 'anywidget', 'nbformat', 'markdown', 'tinydb') "
        "if m in sys.modules))"
    )
    lazy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    print(f"  heavy modules loaded by the import (should be []): {lazy}")


def _serve(kind: str, conn) -> None:
    """Run one fake in its own process (as a real server is): in-process, it would share the client's GIL."""
    fake = (FakeGigaChat() if kind == "gigachat" else FakeYandex()).start()
    fake.script(PIECES)
    conn.send(fake.url)
    conn.recv()  # until the benchmark says stop
    fake.stop()


@contextmanager
def fake_process(kind: str):
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(kind, child), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(10)


def main() -> None:
    print(f"{CHUNKS}-chunk streams over loopback from a fake in another process, median of {ROUNDS} rounds")
    with fake_process("gigachat") as url:
        settings = {"credentials": CREDENTIALS, "auth_url": url + OAUTH_PATH, "base_url": url + "/api/v1"}
        provider = get_provider("gigachat", **settings)
        token = httpx.post(
            url + OAUTH_PATH,
            headers={"Authorization": f"Basic {CREDENTIALS}", "RqUID": str(uuid.uuid4())},
            data={"scope": "GIGACHAT_API_PERS"},
        ).json()["access_token"]
        body = {"model": "GigaChat", "messages": [{"role": "user", "content": MESSAGES[0].content}], "stream": True}
        measure("gigachat", provider, url + CHAT_PATH, body, {"Authorization": f"Bearer {token}"})
    with fake_process("yandex") as url:
        provider = get_provider("yandexgpt", base_url=url, api_key="bench-key", folder_id=FOLDER)
        body = {
            "modelUri": f"gpt://{FOLDER}/yandexgpt/latest",
            "completionOptions": {"stream": True},
            "messages": [{"role": "user", "text": MESSAGES[0].content}],
        }
        headers = {"Authorization": "Api-Key bench-key"}
        measure("yandexgpt", provider, url + "/foundationModels/v1/completion", body, headers)
    import_cost()


def measure(name: str, provider, url: str, body: dict, headers: dict) -> None:
    """Median wall time of our stream against a raw httpx read of the same request's body."""
    def ours() -> None:
        for _chunk in provider.stream(MESSAGES):
            pass

    client = httpx.Client(timeout=30)

    def raw() -> None:
        with client.stream("POST", url, json=body, headers=headers) as response:
            assert response.status_code == 200, response.read()
            for _data in response.iter_bytes():
                pass

    ours(), raw()  # warm up: connections, token, caches
    timings: dict = {ours: [], raw: []}
    for _ in range(ROUNDS):  # interleaved, so drift in the machine's load hits both alike
        for run in (ours, raw):
            start = time.perf_counter()
            run()
            timings[run].append(time.perf_counter() - start)
    t_ours, t_raw = statistics.median(timings[ours]), statistics.median(timings[raw])
    print(f"{name:10s} Provider.stream() {t_ours * 1000:7.1f} ms   raw httpx read {t_raw * 1000:7.1f} ms   "
          f"ratio {t_ours / t_raw:.2f}  (target <= 1.2); overhead {(t_ours - t_raw) / CHUNKS * 1e6:.1f} us a chunk")
    client.close()
    provider.close()


if __name__ == "__main__":
    main()
