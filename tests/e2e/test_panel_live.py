"""ChatPanel over a long chat and over time, in a real JupyterLab: it opens at the newest message, brings older
ones as the user scrolls up, shows what other processes add, and leaves a transcript the saved notebook keeps."""

from __future__ import annotations

import json

import pytest
from nbconvert import HTMLExporter
from playwright.sync_api import expect

from mmchat_jupyter.session import ChatSession

from .test_panel import Panel, history, open_panel

pytestmark = pytest.mark.e2e

AT_BOTTOM = "log => log.scrollHeight - log.scrollTop - log.clientHeight < 2"


def long_chat(name: str, turns: int) -> None:
    store = history()
    chat = store.create_chat(name)
    for n in range(turns):
        store.append_messages(chat, [{"role": "user", "content": f"question {n}"},
                                     {"role": "assistant", "content": f"answer {n}\n\n" + "a long line " * 30}])


def test_opens_at_the_newest_message_and_brings_older_ones_on_scroll(notebook):
    long_chat("Long", 60)  # 120 messages: three pages
    nb, panel = open_panel(notebook, 'ChatPanel(chat="Long")')
    log = panel.root.locator(".mmc-log")
    expect(panel.questions.last).to_have_text("question 59")
    nb.page.wait_for_function(f"() => ({AT_BOTTOM})(document.querySelector('.mmc-log'))")
    expect(panel.answers.last).to_be_in_viewport()
    assert panel.questions.count() < 60  # one page, not the whole chat

    for _ in range(10):  # scroll to the top until the oldest question is there
        if panel.questions.first.inner_text() == "question 0":
            break
        seen = panel.questions.first.inner_text()
        log.evaluate("log => { log.scrollTop = 0; }")
        expect(panel.questions.first).not_to_have_text(seen)
        # what the user was reading stays in place: the page came in above it
        assert log.evaluate("log => log.scrollTop") > 0
    expect(panel.questions).to_have_count(60)
    expect(panel.questions.first).to_have_text("question 0")


def test_a_turn_from_another_process_shows_up_while_the_panel_is_idle(notebook):
    long_chat("Shared", 1)
    _nb, panel = open_panel(notebook, 'ChatPanel(chat="Shared")')
    expect(panel.questions).to_have_count(1)
    ChatSession(chat="Shared", provider="echo").send("asked from another process")  # this test's own process
    expect(panel.questions).to_have_count(2)
    expect(panel.questions.last).to_have_text("asked from another process")
    expect(panel.answers.last).to_contain_text("asked from another process")


def test_the_saved_notebook_shows_the_transcript_after_a_kernel_restart(notebook, lab, fake_yandex):
    fake_yandex.script(["Paris ", "is the **capital** of France."])
    nb, panel = open_panel(notebook, "ChatPanel()", "transcript.ipynb")
    panel.ask("What is the capital of France?")
    panel.wait_idle(1)
    transcript = nb.page.locator(".mmc-transcript")
    expect(transcript).to_be_attached()
    expect(transcript).to_be_hidden()  # the live panel is there: no second copy of the conversation
    nb.page.keyboard.press("Control+s")
    nb.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")

    nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
    nb.page.reload()
    nb.page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.content?.widgets?.length > 1")
    expect(Panel(nb.page).root).to_have_count(0)  # no kernel-side model: the widget cannot come back...
    expect(transcript).to_be_visible()  # ...but the conversation is still there
    expect(transcript).to_contain_text("What is the capital of France?")
    expect(transcript.locator("strong", has_text="capital")).to_have_count(1)  # the answer's own formatting

    saved = lab.api("GET", "/api/contents/transcript.ipynb")["content"]
    page, _ = HTMLExporter().from_notebook_node(_as_node(saved))  # nbconvert, as for a shared or CI-rendered copy
    assert "What is the capital of France?" in page and "<strong>capital</strong>" in page
    assert "<script" not in page.split("mmc-transcript", 1)[1].split("</div>\n</div>", 1)[0]


def _as_node(content):
    import nbformat

    return nbformat.reads(json.dumps(content), as_version=4)
