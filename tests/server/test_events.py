"""The change feed: chats created, renamed, cleared, deleted and messages added, from the API and from another
process writing the same history (as a kernel's %%chat or panel does), each within a second."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from mmchat_jupyter.history import HistoryStore

from .jupyter import JupyterServer

DEADLINE = 1.0


class Feed:
    """GET /events read in a thread; `expect()` waits for the next event of a chat and measures the delay."""

    def __init__(self, server: JupyterServer, last_event_id: str | None = None) -> None:
        self.events: queue.Queue[tuple[float, str, dict]] = queue.Queue()
        self.last_id: str | None = None
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self.client = server.client(timeout=httpx.Timeout(30, read=None), headers=headers)
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.ready.wait(10), "the feed did not open"

    def _read(self) -> None:
        try:
            with connect_sse(self.client, "GET", "/events") as source:
                for event in source.iter_sse():
                    if event.event == "ready":
                        self.ready.set()
                        continue
                    self.last_id = event.id or self.last_id
                    self.events.put((time.monotonic(), event.event, json.loads(event.data)))
        except httpx.HTTPError:
            pass  # closed by the test

    def expect(self, chat_id: str, since: float, kind: str) -> tuple[str, dict, float]:
        """The next `kind` event about `chat_id` and how long after `since` it arrived. Others are passed over: an
        answer's last save can announce itself (chat_updated) after the message count was already reported."""
        while True:
            at, got, data = self.events.get(timeout=5)
            if data.get("id") == chat_id and got == kind:
                return got, data, at - since

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def feed(api_server: JupyterServer) -> Iterator[Feed]:
    feed = Feed(api_server)
    yield feed
    feed.close()


def test_changes_from_the_api(feed: Feed, api: httpx.Client) -> None:
    start = time.monotonic()
    chat = api.post("/chats", json={"name": "feed-api"}).json()
    kind, data, delay = feed.expect(chat["id"], start, "chat_created")
    assert data["name"] == "feed-api" and delay < DEADLINE

    start = time.monotonic()
    answer = api.post(f"/chats/{chat['id']}/messages", json={"prompt": "Hi", "provider": "echo"}).json()
    question = feed.expect(chat["id"], start, "message_added")
    added = feed.expect(chat["id"], start, "message_added")
    assert added[1]["message_id"] == answer["id"] != question[1]["message_id"]
    assert max(question[2], added[2]) < DEADLINE
    finished = feed.expect(chat["id"], start, "message_updated")  # the answer, complete
    assert finished[1]["message_id"] == answer["id"]

    start = time.monotonic()
    api.patch(f"/chats/{chat['id']}", json={"name": "feed-api-renamed"})
    kind, data, delay = feed.expect(chat["id"], start, "chat_renamed")
    assert data["name"] == "feed-api-renamed" and delay < DEADLINE

    start = time.monotonic()
    api.post(f"/chats/{chat['id']}/clear")
    kind, data, delay = feed.expect(chat["id"], start, "chat_cleared")
    assert delay < DEADLINE

    start = time.monotonic()
    api.delete(f"/chats/{chat['id']}")
    kind, data, delay = feed.expect(chat["id"], start, "chat_deleted")
    assert kind == "chat_deleted" and delay < DEADLINE


WRITER = """
import sys
from mmchat_jupyter.history import HistoryStore
store = HistoryStore(sys.argv[1])
chat = store.create_chat("feed-kernel")
print(chat.id, flush=True)
sys.stdin.readline()
store.append_message(chat, role="user", content="from another process")
print("appended", flush=True)
sys.stdin.readline()
store.delete_chat(chat)
print("deleted", flush=True)
"""


def test_changes_from_another_process(feed: Feed, api_server: JupyterServer) -> None:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(api_server.home)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        start = time.monotonic()
        chat_id = writer.stdout.readline().strip()
        _, _, delay = feed.expect(chat_id, start, "chat_created")
        assert delay < DEADLINE
        for step, expected in (("appended", "message_added"), ("deleted", "chat_deleted")):
            start = time.monotonic()
            writer.stdin.write("\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == step
            _, _, delay = feed.expect(chat_id, start, expected)
            assert delay < DEADLINE
    finally:
        writer.kill()
        writer.wait()


def test_a_closed_feed_stops_watching(api_server: JupyterServer, history: HistoryStore) -> None:
    feeds = [Feed(api_server) for _ in range(3)]
    for feed in feeds:
        feed.close()
    # The server keeps serving, and a new listener still gets changes.
    again = Feed(api_server)
    try:
        start = time.monotonic()
        chat = history.create_chat("feed-after-close")
        assert again.expect(chat.id, start, "chat_created")[2] < DEADLINE
    finally:
        again.close()


def test_a_client_that_reconnects_gets_what_it_missed(api_server: JupyterServer, history: HistoryStore) -> None:
    feed = Feed(api_server)
    start = time.monotonic()
    first = history.create_chat("feed-before-reconnect")
    feed.expect(first.id, start, "chat_created")
    last_id = feed.last_id
    feed.close()
    missed = history.create_chat("feed-while-away")  # written while no one listened
    again = Feed(api_server, last_event_id=last_id)
    try:
        _, data, _ = again.expect(missed.id, start, "chat_created")
        assert data["name"] == "feed-while-away"
    finally:
        again.close()
