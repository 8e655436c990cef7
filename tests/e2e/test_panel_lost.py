"""ChatPanel when a question cannot go: a send the kernel refuses at once, and a panel whose kernel restarted.
Nothing the user typed is lost, and a panel that can no longer work says so in one line instead of looking alive."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from mmchat_jupyter.i18n import translations

from .test_panel import history, open_panel

pytestmark = pytest.mark.e2e

QUESTION = "What is 2+2?\nAnswer briefly."
# The lab's kernels have GigaChat's credentials: this panel's kernel forgets them, so GigaChat is "not set up".
WITHOUT_GIGACHAT = (
    "for key in [k for k in os.environ if k.startswith('GIGACHAT_')]:\n    del os.environ[key]\nChatPanel()"
)


def test_a_question_refused_at_once_stays_in_the_input_box(notebook, shots):
    _nb, panel = open_panel(notebook, WITHOUT_GIGACHAT)
    picker = panel.root.locator(".mmc-pick select").first
    picker.select_option("gigachat")
    expect(picker.locator("option:checked")).to_have_text(re.compile(r"GigaChat \("))  # "(not set up)"
    panel.input.fill(QUESTION)
    panel.input.press("Enter")

    expect(panel.notice).to_be_visible()
    expect(panel.notice.locator("span")).to_contain_text("GIGACHAT_")  # what to set
    expect(panel.input).to_have_value(QUESTION)  # not taken, so not lost: ready to send again once set up
    expect(panel.questions).to_have_count(0)
    expect(panel.send_button).to_be_enabled()
    assert all(not history().get_chat(chat.id).messages for chat in history().list_chats())  # nothing saved
    panel.root.screenshot(path=shots / "panel-refused-question.png")


@pytest.mark.parametrize("lab_lang", ["en", "ru"])
def test_after_a_kernel_restart_the_panel_says_it_is_disconnected(notebook, fake_yandex, lab_lang, shots):
    fake_yandex.script(["Four."])
    nb, panel = open_panel(notebook)
    panel.ask("What is 2+2?")
    panel.wait_idle(1)
    panel.input.fill("typed before the restart")
    errors: list[str] = []
    nb.page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.restartKernel()")
    line = panel.notice.locator("span")
    expected = translations(lab_lang).gettext(
        "The kernel restarted or stopped, so this panel is disconnected: run its cell again.")
    expect(line).to_have_text(expected)
    expect(panel.notice).to_have_attribute("data-kind", "disconnected")
    box = panel.notice.bounding_box()
    assert box is not None and box["height"] < 80  # one line (two at most in a narrow panel), no traceback
    expect(panel.send_button).to_be_disabled()
    for control in panel.root.locator(".mmc-head button, .mmc-head select, .mmc-compose button").all():
        expect(control).to_be_disabled()
    expect(panel.input).to_have_value("typed before the restart")  # kept, and still selectable to copy
    expect(panel.input).not_to_be_editable()
    panel.input.press("Enter")  # nothing to send it to: nothing happens, the text stays
    expect(panel.input).to_have_value("typed before the restart")
    expect(panel.answers).to_have_count(1)  # the conversation stays on screen
    assert not [e for e in errors if "Cannot send" in e], errors
    panel.root.screenshot(path=shots / f"panel-disconnected-{lab_lang}.png")
