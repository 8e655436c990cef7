"""How fast the history store is, beside plain TinyDB, in one run. Prints figures; asserts nothing.

    python benchmarks/history.py [--root DIR]     DIR: where to build the test histories (default: a temp dir);
                                                  point it at the filesystem you care about (e.g. a hub home)

Figures (targets from issue 3):
  append_message p50 / p99, 10,000 messages over 200 chats        p50 <= 5 ms, p99 <= 20 ms
  HistoryStore() + list_chats() with 1,000 chats                  <= 100 ms
  plain single-file TinyDB insert with 10,000 messages            for comparison
Every append is durable (fsync), so the disk's own fsync + rename cost is printed first, as the floor.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

import filelock
import tinydb
from tinydb import TinyDB

from mmchat_jupyter.history import ChatRecord, HistoryStore, MessageRecord
from mmchat_jupyter.types import now_iso

CONTENT = "A message of ordinary length, about the size of a short answer or a long question. " * 3


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def report(label: str, samples: list[float], target: str = "") -> None:
    figures = f"p50 {percentile(samples, 0.5):7.2f} ms   p99 {percentile(samples, 0.99):7.2f} ms"
    print(f"{label:<58} {figures}   n={len(samples):<4} {target}")


def single(label: str, milliseconds: float, note: str = "") -> None:
    print(f"{label:<58} {milliseconds:11.2f} ms{'':21}{note}")


def chat_record(name: str, messages: int) -> ChatRecord:
    now = now_iso()
    records = [
        MessageRecord(
            id="",
            role="user" if n % 2 == 0 else "assistant",
            content=CONTENT,
            created=now,
            provider=None if n % 2 == 0 else "yandexgpt",
            model=None if n % 2 == 0 else "yandexgpt-lite",
            usage=None if n % 2 == 0 else {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100},
        )
        for n in range(messages)
    ]
    return ChatRecord(id="", name=name, created=now, updated=now, messages=records)


def disk_floor(root: Path) -> None:
    path, payload, samples = root / "floor.json", b"x" * 20_000, []
    for _ in range(200):

        def write() -> None:
            with open(path.with_suffix(".tmp"), "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(path.with_suffix(".tmp"), path)

        samples.append(timed(write))
    report("disk: write + fsync + os.replace of a 20 KB file", samples, "(the floor for any durable write)")


def appends(root: Path) -> None:
    store = HistoryStore(root)
    chats = [store.import_chat(chat_record(f"chat-{n}", 50)) for n in range(200)]  # 10,000 messages
    store.list_chats()
    rng = random.Random(3)
    samples = []
    for _ in range(500):
        chat = rng.choice(chats)
        samples.append(timed(lambda chat=chat: store.append_message(chat, role="user", content=CONTENT)))
    report("HistoryStore.append_message, 10,000 msgs / 200 chats", samples, "target p50 <= 5, p99 <= 20")
    by_name = []
    for _ in range(200):
        chat = rng.choice(chats)
        by_name.append(timed(lambda chat=chat: store.append_message(chat.name, role="user", content=CONTENT)))
    report("  the same, chat given by name", by_name)
    chat = chats[0]
    answer = store.append_message(chat, role="assistant", content="", status="interrupted")
    growing = [
        timed(lambda n=n: store.update_message(chat, answer, content=CONTENT * (n // 20) + CONTENT[: n % 20 * 10]))
        for n in range(1, 201)
    ]
    report("  update_message (a streamed answer saved as it grows)", growing)
    single("  list_chats() after appends to every one of the chats", timed(store.list_chats), "(index catch-up)")


def listing(root: Path) -> None:
    store = HistoryStore(root)
    for n in range(1000):
        store.import_chat(chat_record(f"chat-{n}", 10))
    store.list_chats()
    samples = [timed(lambda: HistoryStore(root).list_chats()) for _ in range(30)]
    report("HistoryStore() + list_chats(), 1,000 chats", samples, "target <= 100")
    store.append_message(store.list_chats()[-1].id, role="user", content=CONTENT)
    single("  list_chats() with one chat changed since", timed(store.list_chats))
    (root / "index.json").unlink()
    single("  the same with index.json lost (rebuilt from 1,000 files)", timed(lambda: HistoryStore(root).list_chats()))


def plain_tinydb(root: Path) -> None:
    path = root / "plain.json"
    db = TinyDB(path)
    messages = db.table("messages")
    now = now_iso()
    messages.insert_multiple(
        {"chat": n % 200, "role": "user", "content": CONTENT, "created": now} for n in range(10_000)
    )
    samples = [
        timed(lambda: messages.insert({"chat": 7, "role": "user", "content": CONTENT, "created": now_iso()}))
        for _ in range(40)
    ]
    db.close()
    report("plain TinyDB, one file: insert with 10,000 messages", samples, "(comparison)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="directory for the test histories (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mmchat-bench-", dir=args.root))
    print(
        f"mmchat-jupyter history benchmark: Python {platform.python_version()}, tinydb {tinydb.__version__}, "
        f"filelock {filelock.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, in {base}"
    )
    started = time.perf_counter()
    try:
        disk_floor(base)
        appends(base / "appends")
        listing(base / "listing")
        plain_tinydb(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"done in {time.perf_counter() - started:.0f} s (figures move with the disk and the machine's load)")


if __name__ == "__main__":
    main()
