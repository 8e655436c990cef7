"""Chats through the API: list, search, paging, create, get, rename, delete, clear, export, import; bad requests
answered in one line, in the user's language."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import httpx
import pytest

from mmchat_jupyter.export import FORMATS
from mmchat_jupyter.history import HistoryStore


def unique(prefix: str = "chat") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_create_get_rename_delete(api: httpx.Client, history: HistoryStore) -> None:
    name = unique("Отчёт по продажам")
    created = api.post("/chats", json={"name": name, "system": "Answer briefly."})
    assert created.status_code == 201
    chat = created.json()
    assert created.headers["location"].endswith(f"/mmchat/api/v1/chats/{chat['id']}")
    assert (chat["name"], chat["system"], chat["messages"]) == (name, "Answer briefly.", [])
    assert history.get_chat(chat["id"]).meta == {"system": "Answer briefly."}  # saved where every face reads it

    by_name = api.get(f"/chats/{quote(name)}").json()
    assert by_name["id"] == chat["id"]

    renamed = api.patch(f"/chats/{chat['id']}", json={"name": name + " v2", "system": None}).json()
    assert (renamed["name"], renamed["system"]) == (name + " v2", None)
    assert history.get_chat(chat["id"]).name == name + " v2"
    assert history.get_chat(chat["id"]).meta == {}

    deleted = api.delete(f"/chats/{chat['id']}")
    assert deleted.json() == {"id": chat["id"], "name": name + " v2", "deleted_messages": 0}
    missing = api.get(f"/chats/{chat['id']}")
    assert missing.status_code == 404
    assert missing.json()["reason"] == "not_found"
    assert "\n" not in missing.json()["message"] and "rename" in missing.json()["message"]


def test_name_clash_is_a_conflict(api: httpx.Client) -> None:
    name = unique()
    assert api.post("/chats", json={"name": name}).status_code == 201
    again = api.post("/chats", json={"name": name})
    assert again.status_code == 409
    assert again.json()["reason"] == "name_taken"
    other = api.post("/chats", json={}).json()
    assert api.patch(f"/chats/{other['id']}", json={"name": name}).status_code == 409


def test_list_search_and_paging(api: httpx.Client, history: HistoryStore) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [api.post("/chats", json={"name": f"page-{tag}-{i}"}).json()["id"] for i in range(5)]
    # A message written by another process (a kernel) is found by the search.
    history.append_message(ids[1], role="user", content=f"Как посчитать медиану {tag}-needle в pandas?")

    found = api.get("/chats", params={"q": f"page-{tag}"}).json()
    assert found["total"] == 5
    assert {c["id"] for c in found["chats"]} == set(ids)
    assert found["chats"][0]["id"] == ids[1]  # newest first: it was written to last

    first = api.get("/chats", params={"q": f"page-{tag}", "limit": 2}).json()
    rest = api.get("/chats", params={"q": f"page-{tag}", "limit": 2, "offset": 2}).json()
    assert [c["id"] for c in first["chats"] + rest["chats"]] == [c["id"] for c in found["chats"][:4]]

    by_text = api.get("/chats", params={"q": f"{tag}-NEEDLE"}).json()
    assert [c["id"] for c in by_text["chats"]] == [ids[1]]
    assert f"{tag}-needle" in by_text["chats"][0]["snippet"]

    bad = api.get("/chats", params={"limit": "lots"})
    assert bad.status_code == 400
    assert bad.json()["message"] == "limit must be a whole number from 1 to 1000, not 'lots'."


def test_messages_are_paged_newest_first(api: httpx.Client, chat: str, history: HistoryStore) -> None:
    for i in range(7):
        history.append_message(chat, role="user" if i % 2 == 0 else "assistant", content=f"m{i}")
    newest = api.get(f"/chats/{chat}", params={"limit": 3}).json()
    assert [m["content"] for m in newest["messages"]] == ["m4", "m5", "m6"]
    assert newest["has_more"] and newest["message_count"] == 7
    older = api.get(f"/chats/{chat}/messages", params={"limit": 3, "before": newest["messages"][0]["id"]}).json()
    assert [m["content"] for m in older["messages"]] == ["m1", "m2", "m3"]
    oldest = api.get(f"/chats/{chat}/messages", params={"limit": 3, "before": older["messages"][0]["id"]}).json()
    assert ([m["content"] for m in oldest["messages"]], oldest["has_more"]) == (["m0"], False)
    assert "cache_key" not in newest["messages"][0]


def test_clear_keeps_the_chat(api: httpx.Client, chat: str, history: HistoryStore) -> None:
    history.append_message(chat, role="user", content="one")
    history.append_message(chat, role="assistant", content="two")
    cleared = api.post(f"/chats/{chat}/clear").json()
    assert cleared["deleted_messages"] == 2
    assert history.get_chat(chat).messages == []


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_every_format(api: httpx.Client, history: HistoryStore, fmt: str) -> None:
    name = unique("Итоги: Q3/2026")
    chat = api.post("/chats", json={"name": name}).json()["id"]
    history.append_message(chat, role="user", content="Что такое p-value?")
    history.append_message(chat, role="assistant", content="<script>alert(1)</script> **p-value** is ...",
                           provider="echo", model="echo-1")
    response = api.get(f"/chats/{chat}/export", params={"format": fmt})
    assert response.status_code == 200
    # An attachment named after the chat (a "/" cannot be in a file name), never a page of the server's origin.
    filename = name.replace("/", "_").replace(":", "_") + FORMATS[fmt][0]
    plain = "_" * len("Итоги") + filename[len("Итоги"):]
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "Что такое p-value?" in response.text
    if fmt == "html":
        assert "<script>alert(1)</script>" not in response.text  # model output stays inert in an export
    if fmt in ("json", "ipynb"):
        json.loads(response.text)


def test_export_unknown_format(api: httpx.Client, chat: str) -> None:
    response = api.get(f"/chats/{chat}/export", params={"format": "docx"})
    assert response.status_code == 400
    assert response.json()["message"] == "Unknown export format 'docx': use one of ipynb, md, json, txt, html."


def test_import_round_trip(api: httpx.Client, history: HistoryStore) -> None:
    name = unique("imported")
    chat = api.post("/chats", json={"name": name}).json()["id"]
    history.append_message(chat, role="user", content="Привет")
    history.append_message(chat, role="assistant", content="Здравствуйте!", provider="gigachat", model="GigaChat",
                           usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    exported = api.get(f"/chats/{chat}/export", params={"format": "json"}).content

    imported = api.post("/chats/import", content=exported, headers={"Content-Type": "application/json"})
    assert imported.status_code == 201
    copy = imported.json()
    assert copy["name"] == f"{name}-2" and copy["id"] != chat  # a taken name gets a free variant
    stored = history.get_chat(copy["id"])
    assert [(m.role, m.content, m.provider) for m in stored.messages] == [
        ("user", "Привет", None), ("assistant", "Здравствуйте!", "gigachat")]

    broken = api.post("/chats/import", content=b'{"format": "something else"}')
    assert broken.status_code == 400
    assert "not an mmchat chat export" in broken.json()["message"]
    assert len(history.list_chats()) == len({c.id for c in history.list_chats()})


@pytest.mark.parametrize(
    ("body", "english", "russian"),
    [
        (b"{not json", "The request body is not valid JSON (Expecting property name enclosed in double quotes).",
         "Тело запроса — не корректный JSON (Expecting property name enclosed in double quotes)."),
        (b"[1, 2]", "Send a JSON object in the request body.", "Пришлите в теле запроса объект JSON."),
        (b'{"nmae": "x"}', "Unknown field 'nmae': use one of name, system.",
         "Неизвестное поле 'nmae': используйте одно из name, system."),
        (b'{"name": 42}', "name must be one line of text, not 42.",
         "Значение name должно быть одной строкой текста, а не 42."),
    ],
)
def test_bad_bodies_get_one_line_in_the_users_language(
    api: httpx.Client, body: bytes, english: str, russian: str
) -> None:
    before = api.get("/chats").json()["total"]
    answer = api.post("/chats", content=body)
    assert (answer.status_code, answer.json()) == (400, {"message": english, "reason": "invalid"})
    answer = api.post("/chats", content=body, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert (answer.status_code, answer.json()) == (400, {"message": russian, "reason": "invalid"})
    assert api.get("/chats").json()["total"] == before  # nothing half-saved
