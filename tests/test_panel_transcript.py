"""The transcript a ChatPanel leaves in the notebook (issue 14): readable without the kernel, in nbconvert's HTML and
on GitHub, sanitized, and kept current as the chat goes on."""

from __future__ import annotations

import asyncio
import html
from html.parser import HTMLParser
from typing import Any

import nbformat
import pytest
from nbconvert import HTMLExporter

from mmchat_jupyter import _panel_transcript as transcript
from mmchat_jupyter import widget
from mmchat_jupyter.history import HistoryStore
from mmchat_jupyter.session import ChatSession
from mmchat_jupyter.widget import ChatPanel

from .test_widget import until

HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold**"


class Tags(HTMLParser):
    """The elements and event-handler attributes an HTML text really has (what a browser would build)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.add(tag)
        self.handlers += [name for name, _value in attrs if name.startswith("on")]


class Shown:
    """IPython's display() as the kernel would do it, collected: every output and every update of one."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.updates = 0

    def display(self, bundle: dict[str, Any], *, raw: bool, display_id: bool = False, metadata: Any = None) -> Any:
        assert raw
        self.outputs.append(bundle)
        index = len(self.outputs) - 1
        outputs, shown = self.outputs, self

        class Handle:
            def update(self, new: dict[str, Any], *, raw: bool) -> None:
                outputs[index] = new
                shown.updates += 1

        return Handle() if display_id else None


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Shown:
    collected = Shown()
    monkeypatch.setattr(widget, "display", collected.display)
    return collected


def test_the_panel_leaves_a_transcript_that_follows_the_chat(shown):
    async def main() -> ChatPanel:
        panel = ChatPanel(session=ChatSession(chat="Transcript", provider="echo"))
        panel._ipython_display_()
        assert "application/vnd.jupyter.widget-view+json" in shown.outputs[1]
        assert shown.outputs[1]["text/plain"] == "ChatPanel(chat='Transcript')"
        assert "no messages yet" in shown.outputs[0]["text/plain"]
        panel.handle({"type": "send", "text": HOSTILE})
        await until(lambda: not panel.busy)
        return panel

    panel = asyncio.run(main())
    page = shown.outputs[0]["text/html"]
    assert f'data-mmc-panel="{panel._uid}"' in page and 'class="mmc-transcript"' in page
    assert html.escape(HOSTILE) in page  # the question is text
    tags = Tags()
    tags.feed(page)
    assert not tags.found & {"script", "img", "iframe", "style"} and not tags.handlers  # as text only
    assert "<strong>Echo</strong>" in page  # the answer is its rendered (sanitized) Markdown
    assert HOSTILE in shown.outputs[0]["text/plain"]


def test_a_turn_updates_the_transcript_once_though_the_watcher_sees_its_writes(shown):
    # The transcript (up to 30 messages of HTML) travels to the browser with every update: the change journal
    # announcing the panel's own turn must not send it a second time.
    async def main() -> ChatPanel:
        panel = ChatPanel(session=ChatSession(chat="Once", provider="echo"))
        panel._ipython_display_()
        panel.handle({"type": "send", "text": "one question"})
        await until(lambda: not panel.busy)
        panel._catch_up()  # what the watcher does next
        return panel

    asyncio.run(main())
    assert shown.updates == 1
    assert "one question" in shown.outputs[0]["text/plain"]


def test_a_long_chat_keeps_its_newest_messages_and_says_how_many_there_are():
    views = [{"id": str(n), "role": "user", "text": f"q{n}"} for n in range(100)]
    bundle = transcript.bundle("p1", "Long", views, total=5000)
    assert "the last 30 of 5000 messages" in bundle["text/plain"]
    assert "q99" in bundle["text/html"] and "q69" not in bundle["text/html"]


def test_nbconvert_html_of_a_saved_notebook_shows_the_transcript_not_the_widget(shown, tmp_path):
    async def main() -> None:
        panel = ChatPanel(session=ChatSession(chat="Saved", provider="echo"))
        panel._ipython_display_()
        panel.handle({"type": "send", "text": "What is in the saved notebook?"})
        await until(lambda: not panel.busy)

    asyncio.run(main())
    outputs = [nbformat.v4.new_output("display_data", data=bundle) for bundle in shown.outputs]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("ChatPanel()", outputs=outputs)])
    page, _resources = HTMLExporter().from_notebook_node(notebook)  # no widget state saved, as after a restart
    assert "What is in the saved notebook?" in page and "<strong>Echo</strong>" in page
    assert "ChatPanel(chat=&#39;Saved&#39;)" in page or "ChatPanel(chat='Saved')" in page
    assert HistoryStore().list_chats()[0].name == "Saved"
