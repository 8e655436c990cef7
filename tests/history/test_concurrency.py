"""Many writers at once (threads and real processes) and writers killed with SIGKILL at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mmchat_jupyter.history import HistoryStore

from .helpers import all_json_valid

WRITER = str(Path(__file__).with_name("_writer.py"))


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WRITER, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_threads_of_two_stores_append_at_once(store):
    other = HistoryStore(store.root)  # same process, as the widget's tasks and the magic would be
    chat = store.create_chat("shared")
    errors: list[BaseException] = []

    def work(target: HistoryStore, tag: str) -> None:
        try:
            for n in range(40):
                target.append_message(chat, role="user", content=f"{tag}-{n}")
                if n % 10 == 0:
                    target.list_chats()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, f"t{i}")) for i, s in enumerate([store, other] * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    contents = [m.content for m in store.get_chat(chat).messages]
    assert sorted(contents) == sorted(f"t{i}-{n}" for i in range(8) for n in range(40))
    assert other.list_chats()[0].message_count == 320


@pytest.mark.slow
def test_processes_appending_at_once_lose_and_duplicate_nothing(store):
    shared = store.create_chat("shared")
    own = [store.create_chat(f"own-{i}") for i in range(4)]
    jobs = [(shared.name, f"s{i}") for i in range(4)] + [(chat.name, f"o{i}") for i, chat in enumerate(own)]
    writers = [start("append", str(store.root), chat, "250", tag) for chat, tag in jobs]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
    for writer in writers:  # all eight processes write at the same time
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        out = writer.stdout.read()  # not communicate(): it would skip what readline() already buffered
        assert writer.wait(timeout=240) == 0 and out.strip() == "done", writer.stderr.read()

    all_json_valid(store.root)
    messages = store.get_chat(shared).messages
    assert len({m.id for m in messages}) == len(messages) == 1000
    contents = [m.content for m in messages]
    for i in range(4):  # every message exactly once, each writer's in its order
        assert [c for c in contents if c.startswith(f"s{i}-")] == [f"s{i}-{n}" for n in range(250)]
    for i, chat in enumerate(own):
        assert [m.content for m in store.get_chat(chat).messages] == [f"o{i}-{n}" for n in range(250)]
    assert sorted(r.message_count for r in store.list_chats()) == [250] * 4 + [1000]


def _acknowledged(output: str) -> list[list[str]]:
    # A line cut short by the kill was not acknowledged.
    return [line.split() for line in output.split("\n")[:-1]]


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_at_most_the_write_in_flight(store):
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    shared = store.create_chat("shared").id
    known: dict[str, list[str]] = {shared: []}  # chat id -> message ids, as checked after the previous run
    for run in range(50):
        writer = start("crash", str(store.root), shared)
        head = [writer.stdout.readline() for _ in range(2)]
        assert head[1] == "ready\n", writer.stderr.read()
        time.sleep(rng.uniform(0.02, 0.2))
        os.kill(writer.pid, signal.SIGKILL)
        out = writer.stdout.read()  # not communicate(): it would skip what readline() already buffered
        writer.wait(timeout=30)
        lines = [head[0].split()] + _acknowledged(out)

        all_json_valid(store.root)  # before anyone tidies up
        reopened = HistoryStore(store.root)
        assert reopened.problems() == [] and not list(store.root.rglob("*.tmp"))
        chats = {row.id: reopened.get_chat(row.id) for row in reopened.list_chats()}

        created = [words[1] for words in lines if words[0] == "C"]
        appended: dict[str, list[str]] = {}
        streamed: dict[str, int] = {}
        for words in lines:
            if words[0] == "A":
                appended.setdefault(words[1], []).append(words[2])
            elif words[0] == "U":
                streamed[words[2]] = int(words[3])
        context = f"run {run}, seed {seed}"
        assert set(created) <= set(chats), context
        in_flight = len(set(chats) - set(known) - set(created))
        for chat_id, chat in chats.items():
            ids = [m.id for m in chat.messages]
            before, acked = known.get(chat_id, []), appended.get(chat_id, [])
            assert len(ids) == len(set(ids)), context
            assert ids[: len(before) + len(acked)] == before + acked, context  # nothing acknowledged is lost
            extra = ids[len(before) + len(acked) :]
            in_flight += len(extra)
            for message in chat.messages[len(before) :]:
                if message.role == "assistant" and message.id in ids[: len(before) + len(acked)]:
                    k = streamed.get(message.id, 0)
                    assert message.content in ("tok " * k, "tok " * (k + 1)), context
                    in_flight += message.content != "tok " * k
        assert in_flight <= 1, context
        known = {chat_id: [m.id for m in chat.messages] for chat_id, chat in chats.items()}
    assert sum(len(ids) for ids in known.values()) > 50  # the writers did get going before the kills


@pytest.mark.slow
def test_processes_appending_at_once_with_constant_roll_overs(store, monkeypatch):
    monkeypatch.setenv("MMCHAT_TEST_TINY_SEGMENTS", "1")
    test_processes_appending_at_once_lose_and_duplicate_nothing(store)
    assert len(list((store.root / "chats").glob("*/*.json"))) > 100  # the segments did roll over


@pytest.mark.slow
def test_kill_9_during_segment_roll_overs_loses_at_most_the_write_in_flight(store, monkeypatch):
    monkeypatch.setenv("MMCHAT_TEST_TINY_SEGMENTS", "1")
    test_kill_9_at_random_moments_loses_at_most_the_write_in_flight(store)
    assert len(list((store.root / "chats").glob("*/*.json"))) > 20
