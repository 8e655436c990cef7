"""JSON export and import: lossless round trips, name clashes, and files that must import nothing."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmchat_jupyter.errors import ExportError
from mmchat_jupyter.export import export_chat, import_chat
from mmchat_jupyter.export.document import FORMAT_VERSION
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.types import ChatRecord

from .chats import chat, golden_chat, question, shapes


def comparable(record: ChatRecord) -> dict:
    """What must survive a round trip: everything but the ids and the (possibly renamed) chat name."""
    data = dataclasses.asdict(record)
    del data["id"], data["name"]
    for message in data["messages"]:
        del message["id"]
    return data


@pytest.fixture
def store(tmp_path) -> HistoryStore:
    return HistoryStore(tmp_path / "history")


@pytest.mark.parametrize("label", list(shapes()))
def test_round_trip_keeps_every_record(label, store, tmp_path):
    stored = store.import_chat(shapes()[label])
    path = export_chat(stored.name, "json", tmp_path, store=store)
    again = import_chat(path, store=store)
    assert again.name != stored.name  # the original is still there: the import got a free name
    assert again.name.startswith(stored.name)
    assert comparable(store.get_chat(again.id)) == comparable(store.get_chat(stored.id))


def test_import_into_an_empty_history_keeps_the_name(tmp_path):
    original = golden_chat()
    path = tmp_path / "chat.json"
    export_chat(original, "json", path)
    imported = import_chat(path, store=HistoryStore(tmp_path / "fresh"))
    assert imported.name == original.name
    assert comparable(imported) == comparable(original)


def test_the_document_has_a_format_and_version(tmp_path):
    document = json.loads(export_chat(golden_chat(), "json"))
    assert document["format"] == "mmchat-chat"
    assert document["version"] == FORMAT_VERSION
    assert document["chat"]["messages"][1]["usage"]["total_tokens"] == 35
    assert "Отчёт" in export_chat(golden_chat(), "json")  # readable UTF-8, not \u escapes


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.text(), name=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and s.isprintable()))
def test_any_text_round_trips(content, name, store, tmp_path):
    original = chat(name, [question(0, content)])
    path = tmp_path / "any.json"
    export_chat(original, "json", path)
    imported = import_chat(path, store=store)
    assert imported.messages[0].content == content
    assert imported.name.startswith(name.strip())


def _document() -> dict:
    return json.loads(export_chat(golden_chat(), "json"))


def _set(document: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    target = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return document


BROKEN = {
    "not json": ("{", "not JSON"),
    "a list": ([], "not an mmchat chat export"),
    "other format": (_set(_document(), "format", "something"), "not an mmchat chat export"),
    "no version": (_set(_document(), "version", KeyError), "format version"),
    "newer version": (_set(_document(), "version", FORMAT_VERSION + 1), "upgrade"),
    "no chat": (_set(_document(), "chat", KeyError), "chat is not an object"),
    "empty name": (_set(_document(), "chat.name", "  "), "chat.name"),
    "two-line name": (_set(_document(), "chat.name", "a\nb"), "chat.name"),
    "messages not a list": (_set(_document(), "chat.messages", {}), "chat.messages is not a list"),
    "missing content": (_set(_document(), "chat.messages.1.content", KeyError), "chat.messages[1].content is missing"),
    "bad role": (_set(_document(), "chat.messages.0.role", "robot"), "chat.messages[0].role"),
    "bad status": (_set(_document(), "chat.messages.1.status", "done"), "chat.messages[1].status"),
    "bad usage": (_set(_document(), "chat.messages.1.usage", {"total_tokens": "5"}), "usage"),
    "bad time": (_set(_document(), "chat.messages.2.created", "yesterday"), "ISO 8601"),
}


@pytest.mark.parametrize("label", list(BROKEN))
def test_a_bad_file_is_one_clear_error_and_imports_nothing(label, store, tmp_path):
    content, expected = BROKEN[label]
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(ExportError) as caught:
        import_chat(path, store=store)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert store.list_chats() == []


def test_a_missing_file_is_an_export_error(store, tmp_path):
    with pytest.raises(ExportError, match="Cannot read"):
        import_chat(tmp_path / "nope.json", store=store)
