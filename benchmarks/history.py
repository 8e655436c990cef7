"""How the history's costs grow with what it holds, beside the disk's own floor, in one run. Prints; asserts nothing.

    python benchmarks/history.py [--root DIR] [--quick] [--no-kernel]

    --root DIR    where to build the test histories (default: a temp dir); point it at the disk you care about
    --quick       fewer samples and no 100,000-message chat (a smoke run)
    --no-kernel   skip the %%chat turns in a real kernel

Targets (issue 16):
  append_message p50 in one chat of 1k, 10k and 100k messages      within 2x of the disk floor, at every size
  one %%chat echo turn, 5,000-message chat vs 10-message chat      within 1.5x in wall time and in kernel CPU
  list_chats() and search() with 1,000 chats / 100,000 messages    fast (printed)
Every append is durable (fsync), so the disk's write + fsync + rename of a 20 KB file is measured first: the floor
of any durable write. Messages are real model answers (tests/data/fixtures/llm-answers, English and Russian).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import filelock
import tinydb

from mmchat_jupyter.history import ChatRecord, HistoryStore, MessageRecord
from mmchat_jupyter.types import now_iso

ANSWERS_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "fixtures" / "llm-answers"
QUESTION = "Could you explain this once more, with an example I can run in a notebook?"


def answers() -> list[str]:
    texts = []
    for name in ("alpacaeval-gemini-pro.jsonl", "simple-evals-ru-math-17_yandexgpt_5_pro.jsonl"):
        with open(ANSWERS_DIR / name, encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle]
    return texts


ANSWERS = answers()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def sample(action: Callable[[], object], count: int, budget: float) -> list[float]:
    """Up to `count` timings of `action`, stopping after `budget` seconds (at least 5)."""
    samples: list[float] = []
    deadline = time.monotonic() + budget
    while len(samples) < count and (len(samples) < 5 or time.monotonic() < deadline):
        samples.append(timed(action))
    return samples


def report(label: str, samples: list[float], note: str = "") -> float:
    p50 = percentile(samples, 0.5)
    print(f"{label:<52} p50 {p50:8.2f} ms   p99 {percentile(samples, 0.99):8.2f} ms   n={len(samples):<4} {note}")
    return p50


def single(label: str, milliseconds: float, note: str = "") -> None:
    print(f"{label:<52} {milliseconds:12.2f} ms{'':31}{note}")


def messages(count: int, start: int = 0) -> list[MessageRecord]:
    now = now_iso()
    made = []
    for n in range(start, start + count):
        if n % 2 == 0:
            made.append(MessageRecord(id="", role="user", content=f"{QUESTION} ({n})", created=now))
        else:
            made.append(
                MessageRecord(
                    id="", role="assistant", content=ANSWERS[n % len(ANSWERS)], created=now, provider="echo",
                    model="echo-1", usage={"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100},
                )
            )
    return made


def chat_of(store: HistoryStore, name: str, count: int) -> ChatRecord:
    now = now_iso()
    return store.import_chat(ChatRecord(id="", name=name, created=now, updated=now, messages=messages(count)))


def disk_floor(root: Path, count: int) -> float:
    path, payload = root / "floor.json", b"x" * 20_000

    def write() -> None:
        with open(path.with_suffix(".tmp"), "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(path.with_suffix(".tmp"), path)

    return report("disk floor: write + fsync + rename, 20 KB", sample(write, count, 10), "(any durable write)")


def appends(root: Path, sizes: list[int], count: int, floor: float) -> None:
    store = HistoryStore(root)
    for size in sizes:
        chat = chat_of(store, f"chat-{size}", size)
        body = iter(messages(10_000, size))
        p50 = report(
            f"append_message, one chat of {size:,} messages",
            sample(lambda chat=chat, body=body: store.append_message(chat, next(body)), count, 40),
        )
        print(f"{'':52} p50 = {p50 / floor:.2f}x the floor (target <= 2x)")
    big = chat_of(store, "streaming", sizes[-1])
    answer = store.append_message(big, role="assistant", content="", status="interrupted")
    text = ANSWERS[7] * 4
    grown = iter(range(1, 10_000))
    report(
        f"  update_message (a growing answer), {sizes[-1]:,}-message chat",
        sample(lambda: store.update_message(big, answer, content=text[: 200 * next(grown)]), count, 30),
    )


def listing(root: Path, chats: int, per_chat: int) -> None:
    store = HistoryStore(root)
    for n in range(chats):
        chat_of(store, f"chat-{n}", per_chat)
    store.list_chats()
    total = chats * per_chat
    report(f"HistoryStore() + list_chats(), {chats:,} chats / {total:,} msgs",
           sample(lambda: HistoryStore(root).list_chats(), 20, 20))
    report("  list_chats() again (same store)", sample(store.list_chats, 20, 10))
    changed = store.list_chats()[-1].id
    store.append_message(changed, role="user", content="one more")
    single("  list_chats() with one chat changed since", timed(store.list_chats))
    report("  search(), a word in every chat, first 50 hits", sample(lambda: store.search("notebook", limit=50), 5, 20))
    report("  search(), a word nowhere (reads everything)", sample(lambda: store.search("zyzzyva-absent"), 3, 30))


KERNEL_SETUP = """
import resource, time
from mmchat_jupyter.history import HistoryStore
def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
%load_ext mmchat_jupyter
"""


def kernel_turns(root: Path, sizes: tuple[int, int], turns: int) -> None:
    """One %%chat echo turn in a real kernel, in a chat of each size: wall time (client side) and kernel CPU."""
    try:
        from jupyter_client.manager import start_new_kernel
    except ImportError:
        print("%%chat turn in a real kernel: skipped (jupyter_client is not installed)")
        return
    store = HistoryStore(root)
    for size in sizes:
        chat_of(store, f"turns-{size}", size)
    env = {**os.environ, "MMCHAT_HOME": str(root), "MMCHAT_LANG": "en"}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        run(kc, KERNEL_SETUP)
        results: dict[int, tuple[list[float], list[float]]] = {size: ([], []) for size in sizes}
        for round_ in range(turns + 1):  # interleaved, the first round as warm-up
            for size in sizes:
                run(kc, "_c0 = _cpu()")
                start = time.perf_counter()
                run(kc, f"%%chat -c turns-{size}\nQuestion {round_}: what is a photon?")
                wall = (time.perf_counter() - start) * 1000
                cpu = float(run(kc, "print((_cpu() - _c0) * 1000)").strip())
                if round_:
                    results[size][0].append(wall)
                    results[size][1].append(cpu)
        small, large = sizes
        for size in sizes:
            walls, cpus = results[size]
            print(f"%%chat echo turn, {size:>5,}-message chat, real kernel      wall {statistics.median(walls):7.1f} ms"
                  f"   kernel CPU {statistics.median(cpus):7.1f} ms   n={len(walls)}")
        wall_ratio = statistics.median(results[large][0]) / statistics.median(results[small][0])
        cpu_ratio = statistics.median(results[large][1]) / statistics.median(results[small][1])
        print(f"{'':52} = {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target <= 1.5x)")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc, code: str) -> str:
    """Execute `code` in the kernel; its stdout. Raises if the cell failed."""
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=300, output_hook=hook)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"kernel cell failed: {reply['content'].get('evalue')}")
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="directory for the test histories (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="fewer samples, no 100,000-message chat")
    parser.add_argument("--no-kernel", action="store_true", help="skip the %%chat turns in a real kernel")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mmchat-bench-", dir=args.root))
    print(
        f"mmchat-jupyter history benchmark: Python {platform.python_version()}, tinydb {tinydb.__version__}, "
        f"filelock {filelock.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, in {base}"
    )
    started = time.perf_counter()
    count = 30 if args.quick else 200
    try:
        floor = disk_floor(base, count)
        appends(base / "appends", [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000], count, floor)
        listing(base / "listing", 100 if args.quick else 1_000, 100)
        if not args.no_kernel:
            kernel_turns(base / "turns", (10, 5_000), 3 if args.quick else 7)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"done in {time.perf_counter() - started:.0f} s (figures move with the disk and the machine's load)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
