"""HistoryStore's API: chats, messages, search, import, usage and settings."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest

from mmchat_jupyter.errors import ChatNameTaken, ChatNotFound, HistoryError
from mmchat_jupyter.history import ChatRecord, HistoryStore, MessageRecord, default_root
from mmchat_jupyter.types import STATUS_COMPLETE, STATUS_INTERRUPTED, Usage


def test_root_is_mmchat_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MMCHAT_HOME", str(tmp_path / "custom"))
    store = HistoryStore()
    assert store.root == tmp_path / "custom"
    assert (tmp_path / "custom" / "index.json").is_file()


def test_root_defaults_to_jupyter_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MMCHAT_HOME")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    assert default_root() == tmp_path / "jupyter" / "mmchat"


def test_default_names_are_readable_and_unique(store):
    today = date.today().isoformat()
    names = [store.create_chat().name for _ in range(3)]
    assert names == [f"chat-{today}-1", f"chat-{today}-2", f"chat-{today}-3"]
    store.delete_chat(names[0])
    assert store.create_chat().name == f"chat-{today}-1"


def test_create_keeps_meta_and_refuses_taken_or_empty_names(store):
    chat = store.create_chat("  physics ", system="Be brief.")
    assert chat.name == "physics" and chat.meta == {"system": "Be brief."}
    with pytest.raises(ChatNameTaken, match="'physics' already exists"):
        store.create_chat("physics")
    with pytest.raises(HistoryError, match="cannot be empty"):
        store.create_chat("   ")
    with pytest.raises(HistoryError, match="single line"):
        store.create_chat("two\nlines")


def test_get_chat_by_record_id_or_name(store):
    chat = store.create_chat("notes")
    store.append_message(chat, role="user", content="hello")
    for ref in (chat, chat.id, "notes"):
        got = store.get_chat(ref)
        assert got.id == chat.id and [m.content for m in got.messages] == ["hello"]
    with pytest.raises(ChatNotFound, match="'nope'"):
        store.get_chat("nope")


def test_list_chats_newest_first_with_summary(store):
    first = store.create_chat("first")
    second = store.create_chat("second")
    store.append_message(first, role="user", content="q")
    store.append_message(first, role="assistant", content="a", provider="echo", model="echo-1")
    rows = store.list_chats()
    assert [r.name for r in rows] == ["first", "second"]
    assert rows[0].message_count == 2 and rows[0].last_provider == "echo" and rows[0].last_model == "echo-1"
    assert rows[1].id == second.id and rows[1].message_count == 0 and rows[1].last_provider is None
    assert rows[0].updated > rows[0].created


def test_rename_refuses_a_taken_name_with_a_clear_error(store):
    a = store.create_chat("a")
    store.create_chat("b")
    with pytest.raises(ChatNameTaken) as info:
        store.rename_chat(a, "b")
    assert str(info.value) == "A chat named 'b' already exists; choose another name or rename that chat first."
    assert store.rename_chat(a, "a").name == "a"  # its own name is not a clash
    renamed = store.rename_chat("a", "c")
    assert renamed.id == a.id and {r.name for r in store.list_chats()} == {"b", "c"}
    with pytest.raises(ChatNotFound):
        store.get_chat("a")


def test_delete_and_clear(store):
    chat = store.create_chat("gone")
    kept = store.create_chat("kept")
    for text in ("one", "two"):
        store.append_message(kept, role="user", content=text)
    assert store.clear_chat(kept) == 2
    assert store.get_chat(kept).messages == []
    store.delete_chat(chat)
    assert [r.name for r in store.list_chats()] == ["kept"]
    with pytest.raises(ChatNotFound):
        store.append_message(chat, role="user", content="late")


def test_append_accepts_a_record_a_dict_or_keywords(store):
    chat = store.create_chat()
    record = MessageRecord(id="", role="user", content="as record", created="")
    ids = [
        store.append_message(chat, record),
        store.append_message(chat, {"role": "assistant", "content": "as dict"}, provider="echo"),
        store.append_message(chat, role="user", content="as keywords", params={"temperature": 0.2}),
    ]
    messages = store.get_chat(chat).messages
    assert [m.id for m in messages] == ids and len(set(ids)) == 3
    assert [m.content for m in messages] == ["as record", "as dict", "as keywords"]
    assert messages[1].provider == "echo" and messages[2].params == {"temperature": 0.2}
    assert all(m.created and m.status == STATUS_COMPLETE for m in messages)
    assert record.id == ""  # the caller's record is not changed


def test_append_rejects_bad_messages(store):
    chat = store.create_chat()
    given = store.append_message(chat, role="user", content="x", id="m1")
    assert given == "m1"
    with pytest.raises(HistoryError, match="already has a message with id m1"):
        store.append_message(chat, role="user", content="y", id="m1")
    with pytest.raises(ValueError, match="role"):
        store.append_message(chat, role="robot", content="x")
    with pytest.raises(TypeError, match="unknown message fields: colour"):
        store.append_message(chat, role="user", content="x", colour="red")
    assert len(store.get_chat(chat).messages) == 1


def test_streamed_answer_is_saved_as_it_grows(store):
    chat = store.create_chat()
    store.append_message(chat, role="user", content="count")
    answer = store.append_message(chat, role="assistant", content="", provider="echo", status=STATUS_INTERRUPTED)
    for text in ("one", "one two", "one two three"):
        store.update_message(chat, answer, content=text)
        assert store.get_chat(chat).messages[-1].content == text
    final = store.update_message(chat, answer, status=STATUS_COMPLETE, finish_reason="stop", usage=Usage(3, 3, 6))
    assert final.status == STATUS_COMPLETE and final.usage == {
        "prompt_tokens": 3,
        "completion_tokens": 3,
        "total_tokens": 6,
    }
    assert store.get_chat(chat).messages[-1] == final


def test_update_message_errors(store):
    chat = store.create_chat("c")
    with pytest.raises(HistoryError, match="Chat c has no message nope"):
        store.update_message(chat, "nope", content="x")
    mid = store.append_message(chat, role="user", content="x")
    with pytest.raises(TypeError, match="cannot change: id"):
        store.update_message(chat, mid, id="other")


def test_search_across_chats_ignores_case(store):
    a = store.create_chat("a")
    b = store.create_chat("b")
    store.append_message(a, role="user", content="Квантовая физика")
    store.append_message(b, role="assistant", content="про КВАНТОВУЮ механику")
    store.append_message(b, role="user", content="unrelated")
    hits = store.search("квантов")
    assert {(h.chat_name, h.message.content) for h in hits} == {
        ("a", "Квантовая физика"),
        ("b", "про КВАНТОВУЮ механику"),
    }
    assert len(store.search("квантов", limit=1)) == 1
    assert store.search("absent") == []


def test_import_keeps_timestamps_and_writes_once(store):
    messages = [
        MessageRecord(id="m1", role="user", content="q", created="2024-01-02T03:04:05+00:00"),
        MessageRecord(
            id="m1",
            role="assistant",
            content="a",
            created="2024-01-02T03:04:06+00:00",
            provider="gigachat",
            usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        ),
    ]
    source = ChatRecord(
        "x" * 32, "imported", "2024-01-02T03:04:00+00:00", "2024-01-02T03:04:06+00:00", messages, {"system": "s"}
    )
    stored = store.import_chat(source)
    again = store.get_chat("imported")
    assert again == stored and stored.id != source.id
    assert (stored.created, stored.updated, stored.meta) == (source.created, source.updated, source.meta)
    assert [(m.created, m.content, m.usage) for m in again.messages] == [
        (m.created, m.content, m.usage) for m in messages
    ]
    assert "m1" not in {m.id for m in again.messages} and len({m.id for m in again.messages}) == 2  # new ids
    with pytest.raises(ChatNameTaken):
        store.import_chat(source)
    assert store.unique_name("imported") == "imported-2"
    assert store.import_chat(source, name=store.unique_name("imported")).name == "imported-2"
    assert store.unique_name("imported") == "imported-3"
    assert store.unique_name("fresh") == "fresh"


def test_usage_totals_per_day_provider_and_model(store):
    chat = store.create_chat()
    other = store.create_chat()
    for target, provider, tokens, created in [
        (chat, "yandexgpt", (10, 5), "2026-01-01T10:00:00+00:00"),
        (other, "yandexgpt", (1, 1), "2026-01-01T23:00:00+00:00"),
        (chat, "gigachat", (2, 2), "2026-01-02T01:00:00+00:00"),
    ]:
        usage = Usage(tokens[0], tokens[1], sum(tokens)).as_dict()
        store.append_message(
            target, role="assistant", content="a", provider=provider, model="m", usage=usage, created=created
        )
    store.append_message(chat, role="user", content="no usage")
    totals = store.usage_totals()
    assert [
        (t.day, t.provider, t.model, t.prompt_tokens, t.completion_tokens, t.total_tokens, t.messages) for t in totals
    ] == [
        ("2026-01-01", "yandexgpt", "m", 11, 6, 17, 2),
        ("2026-01-02", "gigachat", "m", 2, 2, 4, 1),
    ]


def test_settings_persist_and_none_removes(store):
    assert store.get_settings() == {}
    store.update_settings(provider="yandexgpt", model="yandexgpt-lite", params={"yandexgpt": {"temperature": 0.3}})
    store.update_settings(model=None, lang="ru")
    expected = {"provider": "yandexgpt", "params": {"yandexgpt": {"temperature": 0.3}}, "lang": "ru"}
    assert HistoryStore(store.root).get_settings() == expected
    before = (store.root / "settings.json").read_bytes()
    with pytest.raises(TypeError):
        store.update_settings(provider="x", bad=object())
    assert (store.root / "settings.json").read_bytes() == before


def test_chat_meta(store):
    chat = store.create_chat(system="old")
    assert store.update_chat_meta(chat, system="new", temperature=0.5) == {"system": "new", "temperature": 0.5}
    assert store.update_chat_meta(chat, temperature=None) == {"system": "new"}
    assert store.get_chat(chat).meta == {"system": "new"}


def test_find_cached_returns_the_newest_complete_answer_with_the_key(store):
    key, other = "ab" * 32, "cd" * 32
    old, new = store.create_chat("old"), store.create_chat("new")
    store.append_message(old, role="assistant", content="first", cache_key=key)
    assert store.find_cached(key).content == "first"
    store.append_message(new, role="assistant", content="partial", cache_key=key, status=STATUS_INTERRUPTED)
    assert store.find_cached(key).content == "first"  # only complete answers count
    answer = store.append_message(new, role="assistant", content="", status=STATUS_INTERRUPTED)
    store.update_message(new, answer, content="second", status=STATUS_COMPLETE, cache_key=key)
    assert HistoryStore(store.root).find_cached(key).content == "second"
    assert store.find_cached(other) is None
    store.clear_chat(new)
    assert store.find_cached(key).content == "first"


def test_a_second_store_sees_writes_without_reopening(store):
    other = HistoryStore(store.root)  # another kernel on the same history
    chat = store.create_chat("shared")
    assert [r.name for r in other.list_chats()] == ["shared"]
    other.append_message("shared", role="user", content="from the other kernel")
    store.append_message(chat, role="assistant", content="reply")
    assert other.list_chats()[0].message_count == 2
    assert [m.content for m in store.get_chat("shared").messages] == ["from the other kernel", "reply"]
    other.rename_chat(chat, "renamed")
    assert store.get_chat(chat.id).name == "renamed"
    assert store.list_chats()[0].name == "renamed"
    store.delete_chat("renamed")
    assert other.list_chats() == []


def test_user_facing_errors_are_one_line(store):
    with pytest.raises(ChatNotFound) as info:
        store.get_chat("missing chat")
    assert "\n" not in str(info.value) and re.search(r"No chat 'missing chat' in the history at ", str(info.value))


def test_append_does_not_rewrite_the_index(store):
    chat = store.create_chat()
    store.list_chats()
    index: Path = store.root / "index.json"
    before = index.stat().st_mtime_ns, index.read_bytes()
    for n in range(5):
        store.append_message(chat, role="user", content=str(n))
    assert (index.stat().st_mtime_ns, index.read_bytes()) == before
    assert store.list_chats()[0].message_count == 5  # caught up lazily


def test_a_name_follows_renames_made_by_another_kernel(store):
    other = HistoryStore(store.root)
    first = store.create_chat("x")
    store.list_chats()  # this store's saved index now says "x" is `first`
    other.rename_chat("x", "y")
    second = other.create_chat("x")
    store.append_message("x", role="user", content="to x")
    store.append_message("y", role="user", content="to y")
    assert [m.content for m in other.get_chat(first).messages] == ["to y"]
    assert [m.content for m in other.get_chat(second).messages] == ["to x"]


def test_tail_reads_back_to_the_characters_asked_for(store):
    chat = store.create_chat("long", system="s")
    ids = [store.append_message(chat, role="user", content="x" * 10) for _ in range(20)]
    tail = store.tail("long", chars=25)
    assert [m.id for m in tail.messages] == ids[-3:] and (tail.first, tail.total) == (17, 20)
    assert (tail.name, tail.meta) == ("long", {"system": "s"})
    assert [m.id for m in store.tail(chat, chars=0).messages] == ids[-1:]
    assert store.tail(chat, chars=10**9).first == 0 and len(store.tail(chat, chars=10**9).messages) == 20
    info = store.chat_info(chat.id)
    assert (info.messages, info.total, info.first) == ([], 20, 20)
    empty = store.tail(store.create_chat("empty"), chars=100)
    assert (empty.messages, empty.first, empty.total) == ([], 0, 0)


def test_pages_walk_back_to_the_first_message(store):
    chat = store.create_chat()
    ids = [store.append_message(chat, role="user", content=str(n)) for n in range(23)]
    seen, before = [], None
    while True:
        page = store.page(chat, before=before, limit=10)
        seen[:0] = [m.id for m in page.messages]
        if page.first == 0:
            break
        before = page.first
    assert seen == ids
    assert store.page(chat, before=5, limit=10).first == 0 and len(store.page(chat, before=5).messages) == 5


def test_append_messages_saves_question_and_answer_in_one_write(store, monkeypatch):
    chat = store.create_chat()
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(b), real_replace(a, b)))
    question, answer = store.append_messages(
        chat, [{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "status": STATUS_INTERRUPTED}]
    )
    monkeypatch.undo()
    assert len(replaced) == 1
    assert [c.message for c in store.changes(0).events if c.kind == "message_added"] == [question, answer]
    assert [(m.id, m.role, m.status) for m in store.get_chat(chat).messages] == [
        (question, "user", STATUS_COMPLETE),
        (answer, "assistant", STATUS_INTERRUPTED),
    ]


CREATOR = """
import sys
from mmchat_jupyter.session import ChatSession
session = ChatSession()
print("ready", flush=True)
sys.stdin.readline()
print(" ".join(session.use_chat(f"shared-{n}").id for n in range(15)), flush=True)
"""


@pytest.mark.slow
def test_processes_getting_or_creating_the_same_new_chats_agree(store):
    """Regression (#15 item 10): get-then-create was two lock holds, so a racing process got "already exists"."""
    import subprocess
    import sys

    workers = [
        subprocess.Popen([sys.executable, "-c", CREATOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = [worker.communicate(timeout=120)[0].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert all(result == results[0] for result in results) and len(set(results[0])) == 15
    assert sorted(r.name for r in store.list_chats()) == sorted(f"shared-{n}" for n in range(15))
