"""Turns through the API: JSON and Server-Sent Events (httpx-sse), provider failures, checks before anything is
saved, regenerate, stop, and a client that hangs up mid-stream."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse

from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.providers import list_providers
from tests.fakes.openai_compat import FakeOpenAI

SSE = {"Accept": "text/event-stream"}


def stream_turn(api: httpx.Client, chat: str, body: dict, path: str = "messages") -> list[tuple[str, dict]]:
    with connect_sse(api, "POST", f"/chats/{chat}/{path}", json=body, headers=SSE) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(event.event, json.loads(event.data)) for event in source.iter_sse()]


def test_streamed_turn(api: httpx.Client, chat: str, fake_openai: FakeOpenAI, history: HistoryStore) -> None:
    pieces = ["Медиана — ", "это **серединное** ", "значение.\n\n```python\ndf['x'].median()\n```"]
    fake_openai.script(pieces)
    events = stream_turn(api, chat, {"prompt": "Что такое медиана?", "provider": "openai", "model": "gpt-4o",
                                     "temperature": 0.2, "max_tokens": 50})
    kinds = [kind for kind, _ in events]
    assert kinds == ["start", "delta", "delta", "delta", "done"]
    start, done = events[0][1], events[-1][1]
    assert start["chat_id"] == chat and start["provider"] == "openai" and start["model"] == "gpt-4o"
    assert [data["text"] for kind, data in events if kind == "delta"] == pieces
    assert done["content"] == "".join(pieces) and done["status"] == "complete" and done["id"] == start["message_id"]
    assert done["usage"]["completion_tokens"] == 3 and done["finish_reason"] == "stop"
    sent = fake_openai.requests[-1].json()
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("gpt-4o", 0.2, 50)
    stored = history.get_chat(chat).messages
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "Что такое медиана?", "complete"), ("assistant", "".join(pieces), "complete")]
    assert stored[1].id == done["id"] and stored[1].usage == done["usage"]
    # The answer the API returns is the message the chat then holds (built once, from the turn, for both).
    shown = api.get(f"/chats/{chat}").json()["messages"][-1]
    assert {k: v for k, v in done.items() if k != "cached"} == {k: v for k, v in shown.items() if k != "created"}


def test_json_turn_and_context(api: httpx.Client, chat: str, fake_openai: FakeOpenAI) -> None:
    first = api.post(f"/chats/{chat}/messages", json={"prompt": "Hi", "provider": "openai"})
    assert first.status_code == 200
    assert first.json()["content"] == "You said: Hi" and first.json()["status"] == "complete"
    api.post(f"/chats/{chat}/messages", json={"prompt": "Again", "provider": "openai"})
    history_sent = [(m["role"], m["content"]) for m in fake_openai.requests[-1].json()["messages"]]
    assert history_sent == [("user", "Hi"), ("assistant", "You said: Hi"), ("user", "Again")]


def test_template_and_system(api: httpx.Client, chat: str, fake_openai: FakeOpenAI, history: HistoryStore) -> None:
    api.post(f"/chats/{chat}/messages", json={"prompt": "SELECT 1", "template": "explain", "system": "Be brief.",
                                              "provider": "openai"})
    sent = fake_openai.requests[-1].json()["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["content"].startswith("Explain what this code does") and sent[1]["content"].endswith("SELECT 1")
    assert history.get_chat(chat).meta["system"] == "Be brief."


def test_provider_failure(api: httpx.Client, chat: str, fake_openai: FakeOpenAI, history: HistoryStore) -> None:
    fake_openai.fail(401)
    events = stream_turn(api, chat, {"prompt": "Hi", "provider": "openai"})
    assert [kind for kind, _ in events] == ["start", "error", "done"]
    error = events[1][1]["message"]
    assert "\n" not in error and "sk-api-test" not in error and "OPENAI_API_KEY" in error
    assert events[-1][1]["status"] == "error" and events[-1][1]["error"] == error
    assert history.get_chat(chat).messages[-1].status == "error"

    fake_openai.fail(401)
    plain = api.post(f"/chats/{chat}/messages", json={"prompt": "Hi", "provider": "openai"})
    assert plain.status_code == 502
    assert plain.json()["message"] == error and plain.json()["answer"]["status"] == "error"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Every installed provider is a choice (the test environment has the example plugins too).
        ({"prompt": "x", "provider": "nosuch"},
         f"Unknown provider 'nosuch': choose one of {', '.join(list_providers())}."),
        ({"prompt": "x", "temperature": 7}, "temperature must be a number from 0 to 2, not 7."),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens must be a whole number above 0, not 0."),
        ({"prompt": "x", "temperature": "hot"}, "temperature must be a number from 0 to 2, not 'hot'."),
        ({"prompt": "x", "template": "nosuch"}, ("Unknown template 'nosuch': use one of explain, summarize, "
                                                 "translate-en, translate-ru, tests, fix, docstring, sql "
                                                 "(%chat templates).")),
        ({"prompt": "   "}, "Write the question: the prompt is empty."),
        ({}, "prompt is required."),
        ({"prompt": "x", "top_k": 3}, ("Unknown field 'top_k': use one of prompt, provider, model, temperature, "
                                      "max_tokens, system, template.")),
    ],
)
def test_refused_before_anything_is_saved(
    api: httpx.Client, chat: str, history: HistoryStore, body: dict, message: str
) -> None:
    for headers in ({}, SSE):
        answer = api.post(f"/chats/{chat}/messages", json=body, headers=headers)
        assert (answer.status_code, answer.json()) == (400, {"message": message, "reason": "invalid"})
    assert history.get_chat(chat).messages == []


def test_unknown_chat(api: httpx.Client) -> None:
    answer = api.post("/chats/no-such-chat/messages", json={"prompt": "x"}, headers=SSE)
    assert answer.status_code == 404 and answer.json()["reason"] == "not_found"


def test_a_chat_deleted_elsewhere_is_not_made_again(api: httpx.Client, chat: str, history: HistoryStore) -> None:
    assert api.post(f"/chats/{chat}/messages", json={"prompt": "Hi"}).status_code == 200
    before = {c.id for c in history.list_chats()}
    history.delete_chat(chat)  # by a kernel, say, while the server remembers the chat of its last turn
    for headers in ({}, SSE):
        answer = api.post(f"/chats/{chat}/messages", json={"prompt": "Again"}, headers=headers)
        assert (answer.status_code, answer.json()["reason"]) == (404, "not_found")
    assert {c.id for c in history.list_chats()} == before - {chat}


def test_regenerate(api: httpx.Client, chat: str, fake_openai: FakeOpenAI, history: HistoryStore) -> None:
    nothing = api.post(f"/chats/{chat}/regenerate")
    assert nothing.status_code == 400
    assert nothing.json()["message"] == "Nothing to regenerate: this chat has no question yet."
    api.post(f"/chats/{chat}/messages", json={"prompt": "Tell a joke", "provider": "openai"})
    fake_openai.script(["A better ", "joke"])
    events = stream_turn(api, chat, {"provider": "openai"}, path="regenerate")
    assert events[-1][1]["content"] == "A better joke"
    stored = history.get_chat(chat).messages
    assert [(m.role, m.content) for m in stored] == [("user", "Tell a joke"), ("assistant", "A better joke")]


def slow_answer(fake: FakeOpenAI, words: int = 400, delay: float = 0.02) -> None:
    fake.script([f"w{i} " for i in range(words)])
    fake.tamper(delay=delay)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_hanging_up_stops_the_turn(
    api: httpx.Client, chat: str, fake_openai: FakeOpenAI, history: HistoryStore
) -> None:
    slow_answer(fake_openai)
    received = []
    with connect_sse(api, "POST", f"/chats/{chat}/messages", json={"prompt": "Long", "provider": "openai"},
                     headers=SSE) as source:
        for event in source.iter_sse():
            received.append(json.loads(event.data))
            if len(received) == 6:
                break  # the client goes away mid-answer
    shown = "".join(data["text"] for data in received[1:])
    # The provider's request is cancelled: the fake sees its client hang up long before the 400 words are sent.
    wait_for(lambda: "/v1/chat/completions" in fake_openai.hangups)
    wait_for(lambda: history.get_chat(chat).messages[-1].content != "")
    answer = history.get_chat(chat).messages[-1]
    assert answer.status == "interrupted"
    assert answer.content.startswith(shown) and len(answer.content) < len("".join(f"w{i} " for i in range(400)))


def test_stop_call(api: httpx.Client, chat: str, fake_openai: FakeOpenAI, history: HistoryStore) -> None:
    slow_answer(fake_openai)
    events: list[tuple[str, dict]] = []

    def listen() -> None:
        with connect_sse(api, "POST", f"/chats/{chat}/messages", json={"prompt": "Long", "provider": "openai"},
                         headers=SSE) as source:
            events.extend((event.event, json.loads(event.data)) for event in source.iter_sse())

    listener = threading.Thread(target=listen)
    listener.start()
    wait_for(lambda: len(events) >= 3)  # some words have arrived
    busy = api.post(f"/chats/{chat}/messages", json={"prompt": "Meanwhile"})
    assert busy.status_code == 409 and busy.json()["reason"] == "busy"
    assert api.post(f"/chats/{chat}/stop").json() == {"stopped": True}
    listener.join(10)
    assert events[-1][0] == "done" and events[-1][1]["status"] == "interrupted"
    assert history.get_chat(chat).messages[-1].status == "interrupted"
    assert history.get_chat(chat).messages[-1].content == events[-1][1]["content"] != ""
    assert api.post(f"/chats/{chat}/stop").json() == {"stopped": False}
