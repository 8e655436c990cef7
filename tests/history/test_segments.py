"""Long chats: the head stays small, older messages go to sealed segments, and every read and write sees one chat."""

from __future__ import annotations

import json

import pytest

from mmchat_jupyter.history import HistoryStore, segments
from mmchat_jupyter.types import STATUS_COMPLETE

from .helpers import all_json_valid


@pytest.fixture
def small(monkeypatch):
    """Segment limits small enough that a few dozen messages make several segments."""
    monkeypatch.setattr(segments, "HEAD_BYTES", 2_000)
    monkeypatch.setattr(segments, "HEAD_MESSAGES", 8)
    monkeypatch.setattr(segments, "SEGMENT_BYTES", 3_000)


def fill(store: HistoryStore, chat, count: int, start: int = 0) -> list[str]:
    ids = []
    for n in range(start, start + count):
        ids.append(
            store.append_message(
                chat, role="user" if n % 2 == 0 else "assistant", content=f"message {n} " + "x" * (n % 7 * 40),
                provider=None if n % 2 == 0 else "echo", model=None if n % 2 == 0 else f"m{n % 3}",
                usage=None if n % 2 == 0 else {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
                created=f"2026-01-0{1 + n % 3}T00:00:00+00:00",
            )
        )
    return ids


def head_of(store: HistoryStore, chat) -> dict:
    return json.loads((store.root / "chats" / f"{chat.id}.json").read_text())


def test_a_long_chat_keeps_a_small_head_and_reads_whole(store, small):
    chat = store.create_chat("long")
    ids = fill(store, chat, 120)
    head = head_of(store, chat)
    files = list((store.root / "chats" / chat.id).iterdir())
    assert len(files) >= 5 and 2 <= len(head["messages"]) <= 8 and head["_meta"]["1"]["schema"] == 3
    assert head["sealed"]["1"]["count"] + len(head["messages"]) == 120
    assert [m.id for m in store.get_chat("long").messages] == ids
    assert [m.content for m in store.get_chat("long").messages][-1].startswith("message 119")
    (row,) = HistoryStore(store.root).list_chats()
    assert (row.message_count, row.last_provider, row.last_model) == (120, "echo", "m2")
    totals = {(t.day, t.model): (t.completion_tokens, t.messages) for t in store.usage_totals()}
    expected: dict = {}
    for n in range(1, 120, 2):
        key = (f"2026-01-0{1 + n % 3}", f"m{n % 3}")
        tokens, count = expected.get(key, (0, 0))
        expected[key] = (tokens + n, count + 1)
    assert totals == expected
    all_json_valid(store.root)


def test_tails_and_pages_read_only_what_they_return(store, small, monkeypatch):
    chat = store.create_chat()
    ids = fill(store, chat, 90)
    reads = []
    real = segments.read
    monkeypatch.setattr(segments, "read", lambda *args: reads.append(args[2]) or real(*args))
    tail = store.tail(chat, chars=1)
    assert [m.id for m in tail.messages] == ids[-1:] and (tail.first, tail.total) == (89, 90) and reads == []
    tail = store.tail(chat, chars=2_500)
    assert [m.id for m in tail.messages] == ids[tail.first :] and sum(len(m.content) for m in tail.messages) >= 2_500
    assert sum(len(m.content) for m in tail.messages[1:]) < 2_500 and len(reads) <= 3
    assert [m.id for m in store.tail(chat, chars=10**9).messages] == ids
    for before, limit in [(None, 10), (50, 10), (5, 10), (90, 90), (33, 1), (0, 5), (200, 3)]:
        reads.clear()
        page = store.page(chat, before=before, limit=limit)
        end = min(90, 90 if before is None else before)
        assert [m.id for m in page.messages] == ids[max(0, end - limit) : end], (before, limit)
        assert page.first == max(0, end - limit) and page.total == 90
        assert len(reads) <= 3 or limit == 90  # only the segments the page overlaps


def test_updates_search_and_cache_reach_sealed_messages(store, small):
    chat = store.create_chat()
    ids = fill(store, chat, 60)
    old = ids[3]  # long sealed by now
    store.update_message(chat, old, content='an "old" answer, revised', usage={"total_tokens": 1000},
                         cache_key="c" * 64, status=STATUS_COMPLETE)
    assert store.get_chat(chat).messages[3].content == 'an "old" answer, revised'
    assert sum(t.total_tokens for t in store.usage_totals()) == sum(n + 1 for n in range(1, 60, 2)) - 4 + 1000
    assert store.find_cached("c" * 64).id == old
    assert [h.message.id for h in store.search('"OLD"')] == [old]  # quotes: the raw pre-check is skipped
    assert [h.message.id for h in store.search("message 7 ")] == [ids[7]]
    assert len(store.search("message")) == 59
    with pytest.raises(Exception, match="already has a message"):
        store.append_message(chat, role="user", content="dup", id=ids[0])


def test_clear_starts_a_new_epoch_and_removes_the_old_segments(store, small):
    chat = store.create_chat("c")
    fill(store, chat, 50)
    folder = store.root / "chats" / chat.id
    old = set(folder.iterdir())
    assert store.clear_chat(chat) == 50
    assert store.get_chat(chat).messages == [] and not (set(folder.iterdir()) & old)
    ids = fill(store, chat, 30)
    assert [m.id for m in store.get_chat(chat).messages] == ids
    assert store.list_chats()[0].message_count == 30
    store.delete_chat(chat)
    assert not folder.exists()


def test_an_imported_long_chat_is_split_at_once(store, small):
    source = store.create_chat("src")
    fill(store, source, 40)
    record = store.get_chat(source)
    copy = store.import_chat(record, name="copy")
    assert len(head_of(store, copy)["messages"]) <= 8
    assert [m.content for m in store.get_chat("copy").messages] == [m.content for m in record.messages]


def test_a_roll_over_killed_halfway_leaves_an_orphan_the_next_one_replaces(store, small, monkeypatch):
    chat = store.create_chat()
    ids = fill(store, chat, 20)
    folder = store.root / "chats" / chat.id
    chain_before = sorted(folder.iterdir())
    with monkeypatch.context() as patch:  # die after writing the new segment, before the head that points to it
        patch.setattr(segments, "fsync_dir", lambda path: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            fill(store, chat, 10, start=20)
    (orphan,) = set(folder.iterdir()) - set(chain_before)
    sealed = head_of(store, chat)["sealed"]["1"]
    assert orphan.name == f"{sealed['epoch']}-{sealed['count']:012d}.json"  # where the next roll-over writes
    reopened = HistoryStore(store.root)
    messages = [m.id for m in reopened.get_chat(chat).messages]
    assert messages[:20] == ids and len(messages) == len(set(messages)) and len(messages) < 30
    more = fill(reopened, chat, 20, start=100)
    assert [m.id for m in reopened.get_chat(chat).messages] == messages + more
    assert head_of(store, chat)["sealed"]["1"]["count"] > sealed["count"]  # the orphan's name was reused


READER_WRITER = """
import sys
from mmchat_jupyter.history import HistoryStore, segments
segments.HEAD_BYTES, segments.HEAD_MESSAGES, segments.SEGMENT_BYTES = 600, 4, 900
store = HistoryStore(sys.argv[1])
for round_ in range(6):
    for n in range(40):
        store.append_message("busy", role="user", content=f"{round_}-{n}")
    store.clear_chat("busy")
print("done", flush=True)
"""


@pytest.mark.slow
def test_a_reader_without_the_lock_always_sees_a_whole_chat(store):
    """While another process appends, rolls over and clears, every read is a prefix of one round, in order."""
    import subprocess
    import sys

    store.create_chat("busy")
    writer = subprocess.Popen([sys.executable, "-c", READER_WRITER, str(store.root)], stdout=subprocess.PIPE, text=True)
    reads = 0
    while writer.poll() is None:
        contents = [m.content for m in store.get_chat("busy").messages]
        if contents:
            round_ = contents[0].split("-")[0]
            assert contents == [f"{round_}-{n}" for n in range(len(contents))]
        tail = store.tail("busy", chars=30)
        if tail.messages:  # the newest messages of one round, numbered by their position
            round_ = tail.messages[0].content.split("-")[0]
            expected = [f"{round_}-{n}" for n in range(tail.first, tail.total)]
            assert [m.content for m in tail.messages] == expected
        reads += 1
    assert writer.stdout.read().strip() == "done" and writer.returncode == 0 and reads > 10
