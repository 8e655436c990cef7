"""ChatPanel in a real JupyterLab and Chromium, against the loopback YandexGPT and GigaChat fakes.

Assertions use the panel's structure and data attributes rather than its English wording where they can, so the
same tests can run under another `lab_lang`.
"""

from __future__ import annotations

import datetime
import os
import re

import pytest
from playwright.sync_api import expect

from mmchat_jupyter.history import HistoryStore

pytestmark = pytest.mark.e2e

LONG_ANSWER = [f"word{i} " for i in range(60)]


class Panel:
    """Locators and actions on the one ChatPanel of the page."""

    def __init__(self, page) -> None:
        self.page = page
        self.root = page.locator(".mmc[data-ready='1']")
        self.input = self.root.locator(".mmc-compose textarea")
        self.send_button = self.root.locator(".mmc-send")
        self.answers = self.root.locator(".mmc-assistant:not(.mmc-streaming)")
        self.questions = self.root.locator(".mmc-user")
        self.streaming = self.root.locator(".mmc-streaming")
        self.notice = self.root.locator(".mmc-notice")

    def ask(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def wait_idle(self, answers: int) -> None:
        expect(self.answers).to_have_count(answers, timeout=30_000)
        expect(self.streaming).to_have_count(0)
        expect(self.send_button).not_to_have_class(re.compile("mmc-stopping"))

    def head_button(self, index: int):
        return self.root.locator(".mmc-head > button.mmc-icon").nth(index)


def open_panel(notebook, code: str = "ChatPanel()", name: str | None = None):
    nb = notebook([code], name)
    nb.run(0)
    nb.run(1)
    panel = Panel(nb.page)
    expect(panel.root).to_be_visible()
    return nb, panel


def history() -> HistoryStore:
    """The history the kernel writes to (the notebook's first cell points it at this test's MMCHAT_HOME)."""
    return HistoryStore(os.environ["MMCHAT_HOME"])


def test_streams_then_stop_keeps_partial_answer(notebook, fake_yandex):
    fake_yandex.script(LONG_ANSWER)
    fake_yandex.tamper(stall=0.8, delay=0.12)  # a pause before the first token, then a steady stream
    _nb, panel = open_panel(notebook)
    panel.ask("Count slowly")
    expect(panel.questions).to_have_text(["Count slowly"])
    expect(panel.streaming.locator(".mmc-dots")).to_be_visible()  # loading, until the first token
    expect(panel.streaming).to_contain_text("word3", timeout=15_000)
    assert "word59" not in panel.streaming.inner_text()  # it arrived in pieces: this is a stream
    expect(panel.streaming).to_contain_text("word8")
    panel.send_button.click()  # the Send button is Stop while an answer streams

    panel.wait_idle(1)
    answer = panel.answers.first
    expect(answer).to_have_attribute("data-status", "interrupted")
    expect(answer.locator(".mmc-badge")).to_be_visible()
    shown = answer.locator(".mmc-body").inner_text()
    assert "word8" in shown and "word59" not in shown
    saved = history().get_chat(history().list_chats()[0].id).messages
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[1].status == "interrupted"
    assert saved[1].content.strip() == shown.strip()


def test_provider_switch_mid_chat_keeps_context(notebook, fake_yandex, fake_gigachat):
    fake_yandex.script(["Paris", " is the capital."])
    fake_gigachat.script(["About ", "two million ", "people."])
    _nb, panel = open_panel(notebook)
    expect(panel.root.locator(".mmc-pick select").first).to_have_value("yandexgpt")
    panel.ask("What is the capital of France?")
    panel.wait_idle(1)

    panel.root.locator(".mmc-pick select").first.select_option("gigachat")
    expect(panel.root.locator(".mmc-pick select").nth(1)).to_have_value("GigaChat")
    panel.ask("How many people live there?")
    panel.wait_idle(2)
    expect(panel.answers.nth(1)).to_contain_text("About two million people.")
    expect(panel.answers.nth(1).locator(".mmc-meta")).to_contain_text("gigachat")

    sent = fake_gigachat.conversations[-1]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "What is the capital of France?"),
        ("assistant", "Paris is the capital."),
        ("user", "How many people live there?"),
    ]
    assert "provider" not in history().get_settings()  # this panel's choice, not every notebook's default


def test_copy_answer_and_code_block(notebook, fake_yandex):
    source = "Use **print**:\n\n```python\nprint('hi')\n```\n"
    fake_yandex.script([source])
    nb, panel = open_panel(notebook)
    panel.ask("How do I print?")
    panel.wait_idle(1)
    answer = panel.answers.first
    answer.hover()
    answer.locator(".mmc-foot button").first.click()
    assert nb.page.evaluate("navigator.clipboard.readText()") == source
    answer.locator(".mmc-code").hover()
    answer.locator(".mmc-code > button").click()
    assert nb.page.evaluate("navigator.clipboard.readText()") == "print('hi')"


def test_regenerate_clear_rename_switch_and_search_chats(notebook, fake_yandex):
    nb, panel = open_panel(notebook)
    panel.ask("first question")
    panel.wait_idle(1)
    fake_yandex.script(["A better answer."])
    panel.answers.first.hover()
    panel.answers.first.locator(".mmc-foot button").last.click()  # regenerate: the last answer is replaced
    expect(panel.answers).to_have_text([re.compile("A better answer.")])

    # rename the current chat from its title
    panel.root.locator(".mmc-title").click()
    panel.root.locator("input.mmc-title").fill("Geography")
    panel.root.locator("input.mmc-title").press("Enter")
    expect(panel.root.locator("button.mmc-title")).to_have_text("Geography")

    # a new chat, then back to the first one through the drawer
    panel.head_button(0).click()  # the chat drawer
    drawer = panel.root.locator(".mmc-drawer")
    drawer.locator(".mmc-drawer-top button").click()
    expect(panel.answers).to_have_count(0)
    panel.ask("second chat question")
    panel.wait_idle(1)
    expect(drawer.locator(".mmc-chats li")).to_have_count(2)
    drawer.locator(".mmc-chats li", has_text="Geography").locator("button").first.click()
    expect(panel.questions).to_have_text(["first question"])

    # search by content finds the other chat
    drawer.locator("input[type=search]").fill("second chat")
    expect(drawer.locator(".mmc-chats li")).to_have_count(1)
    expect(drawer.locator(".mmc-chats li")).not_to_contain_text("Geography")
    drawer.locator("input[type=search]").fill("")

    # export: the menu offers the export module's formats; Markdown comes as a download
    panel.head_button(2).click()  # the menu: exports and Clear chat
    with nb.page.expect_download() as download:
        panel.root.locator(".mmc-menu button").filter(has_text="Markdown").click()
    assert download.value.suggested_filename == "Geography.md"
    assert "first question" in download.value.path().read_text(encoding="utf-8")

    # clear, after a confirmation
    panel.head_button(2).click()
    panel.root.locator(".mmc-menu .mmc-danger").click()
    panel.notice.locator(".mmc-destructive").click()
    expect(panel.questions).to_have_count(0)
    assert history().get_chat("Geography").messages == []


def test_template_fills_the_input(notebook, fake_yandex):
    _nb, panel = open_panel(notebook)
    panel.input.fill("def add(a, b):")
    panel.input.press("Shift+Enter")  # a new line in the input, not JupyterLab's "run cell"
    panel.input.type("    return a - b")
    expect(panel.input).to_have_value("def add(a, b):\n    return a - b")
    expect(panel.questions).to_have_count(0)
    panel.input.fill("def add(a, b): return a - b")
    panel.root.locator(".mmc-compose > button.mmc-icon").click()
    menu = panel.root.locator(".mmc-menu")
    menu.get_by_role("menuitem").first.click()  # "Explain this code"
    expect(panel.input).to_have_value(re.compile(r".+\n\ndef add\(a, b\): return a - b$", re.DOTALL))
    expect(menu).to_have_count(0)


def test_provider_error_is_one_line(notebook, fake_yandex):
    fake_yandex.fail(401)
    _nb, panel = open_panel(notebook)
    panel.ask("hello")
    expect(panel.notice).to_be_visible()
    text = panel.notice.locator("span").inner_text()
    assert "\n" not in text and "401" in text and "YANDEX" in text  # what happened and which setting to fix
    box = panel.notice.bounding_box()
    assert box is not None and box["height"] < 60  # one line, not a traceback
    expect(panel.answers.first).to_have_attribute("data-status", "error")


def test_confirmation_bar_says_only_the_question_and_its_button_is_destructive(notebook, fake_yandex):
    _nb, panel = open_panel(notebook)
    panel.ask("a question to clear")
    panel.wait_idle(1)
    panel.head_button(2).click()
    panel.root.locator(".mmc-menu .mmc-danger").click()  # Clear chat
    expect(panel.notice).to_be_visible()
    assert "null" not in panel.notice.inner_text()  # the template-name field is absent here, not "null"
    assert panel.notice.evaluate("n => [...n.childNodes].filter(c => c.nodeType === 3).length") == 0
    ok = panel.notice.locator("button").first
    expect(ok).to_have_class("mmc-destructive")
    expect(ok).to_be_focused()
    red, green, blue = colour(ok, "backgroundColor")
    assert red > 150 and red > 2 * green and red > 2 * blue  # red, not the blue primary button
    panel.notice.locator("button").nth(1).click()  # Cancel
    expect(panel.questions).to_have_count(1)

    panel.input.fill("Summarize: {input}")
    panel.root.locator(".mmc-compose > button.mmc-icon").click()
    panel.root.locator(".mmc-menu button").last.click()  # Save input as a template: a name field
    assert "null" not in panel.notice.inner_text()
    expect(panel.notice.locator("input")).to_be_focused()
    expect(panel.notice.locator(".mmc-primary")).to_have_count(1)  # saving is not destructive


def colour(locator, prop: str) -> tuple[int, int, int]:
    """A computed colour as sRGB bytes, whatever syntax the browser reports (rgb(), color(srgb ...), color-mix)."""
    return tuple(locator.evaluate(RGB, prop))


RGB = """(el, prop) => {
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.fillStyle = getComputedStyle(el)[prop];
  ctx.fillRect(0, 0, 1, 1);
  return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)];
}"""

#: WCAG contrast of an element's text colour against the first opaque background behind it.
CONTRAST = """(el) => {
  const ctx = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
  const rgba = (color) => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = color; ctx.fillRect(0, 0, 1, 1);
    return [...ctx.getImageData(0, 0, 1, 1).data]; };
  let back = el, bg = [0, 0, 0, 0];
  while (back && (bg = rgba(getComputedStyle(back).backgroundColor))[3] < 255) back = back.parentElement;
  const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const [a, b] = [luminance(rgba(getComputedStyle(el).color)), luminance(bg)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_marks_of_unfinished_answers_keep_contrast_in_light_and_dark_themes(notebook):
    store = history()
    chat = store.create_chat("Marks")
    for status in ("interrupted", "error"):
        store.append_message(chat, role="user", content="question")
        store.append_message(chat, role="assistant", content="a partial answer", status=status, error="It broke.")
    nb, panel = open_panel(notebook, 'ChatPanel(chat="Marks")')
    badges = panel.root.locator(".mmc-badge")
    expect(badges).to_have_count(2)
    expect(badges.first).to_have_text(re.compile(r"\S"))
    for theme in ("JupyterLab Dark", "JupyterLab Light"):
        nb.set_theme(theme)
        for badge in badges.all():
            assert badge.evaluate(CONTRAST) >= 4.5, (theme, badge.inner_text())


def test_ctrl_s_in_the_panel_saves_the_notebook(notebook):
    nb, panel = open_panel(notebook)
    dirty = "() => window.jupyterapp.shell.currentWidget.context.model.dirty"
    nb.page.wait_for_function(dirty)  # running the cells changed the notebook
    panel.input.fill("a draft")
    panel.input.press("Control+s")
    nb.page.wait_for_function(f"() => !({dirty})()")
    expect(panel.input).to_have_value("a draft")  # the key did not type into the input either
    panel.input.press("Shift+Enter")  # other keys are still the panel's: a new line, not "run cell"
    expect(panel.input).to_have_value("a draft\n")


def test_chat_drawer_shows_whole_dates(notebook):
    store = history()
    for name in ("Quarterly revenue forecast for the northern region", "Short"):
        chat = store.create_chat(name)
        store.append_message(chat, role="user", content="question")
    _nb, panel = open_panel(notebook, 'ChatPanel(chat="Short")')
    panel.head_button(0).click()
    details = panel.root.locator(".mmc-chats .mmc-chat-detail")
    expect(details).not_to_have_count(0)
    year = str(datetime.date.today().year)
    dates = [d for d in details.all() if year in d.inner_text()]
    assert len(dates) == 2
    for date in dates:
        assert date.evaluate("el => el.scrollWidth <= el.clientWidth"), date.inner_text()  # not cut with "…"


XSS = [
    "Look: <img src=x onerror=\"window.__xss = 1\"> and <script>window.__xss = 2</script>\n\n",
    "[click me](javascript:window.__xss=3) <svg onload=\"window.__xss=4\"></svg>\n\n",
    "<iframe src=\"javascript:window.parent.__xss=5\"></iframe>\n\n![x](x\" onerror=\"window.__xss=6)\n",
]


def test_streamed_xss_payload_runs_no_script(notebook, fake_yandex):
    fake_yandex.script(XSS)
    fake_yandex.tamper(delay=0.6)  # long enough for the check below to see the answer mid-stream
    nb, panel = open_panel(notebook)
    panel.ask("Say something nasty")
    expect(panel.streaming).to_contain_text("Look:")  # mid-stream HTML is in the page too
    panel.wait_idle(1)
    for link in panel.answers.first.locator("a").all():
        link.click(no_wait_after=True)  # whatever href survived must not run a script
    assert nb.page.evaluate("window.__xss") is None
    assert panel.root.locator("script, iframe, svg[onload], img, [onerror]").count() == 0


def test_panel_and_magic_share_history(notebook, fake_yandex):
    nb = notebook(["%load_ext mmchat_jupyter", "%%chat\nWhat is 2+2?", "%chat panel", "%chat show",
                   "%%chat\nAnd a third question?"])
    for index in range(3):
        nb.run(index)
    expect(nb.output(2)).to_contain_text("You said: What is 2+2?")
    nb.run(3)
    panel = Panel(nb.page)
    expect(panel.questions).to_have_text(["What is 2+2?"])  # asked in the magic, seen in the panel
    expect(panel.answers).to_have_text([re.compile("You said: What is 2\\+2\\?")])

    panel.ask("And 3+3?")  # continued in the panel...
    panel.wait_idle(2)
    assert [m["text"] for m in fake_yandex.requests[-1].json()["messages"]] == [
        "What is 2+2?", "You said: What is 2+2?", "And 3+3?"]
    nb.run(4)  # ... and seen by %chat show
    expect(nb.output(4)).to_contain_text("And 3+3?")
    expect(nb.output(4)).to_contain_text("You said: And 3+3?")

    nb.run(5)  # the magic asks again; the panel shows it without a click or a focus
    expect(nb.output(5)).to_contain_text("You said: And a third question?")
    expect(panel.questions).to_have_count(3)
    expect(panel.answers.last).to_contain_text("You said: And a third question?")
    assert not panel.input.evaluate("el => el === document.activeElement")


CITIES_ANSWER = """Here is a short way to do it with **pandas**:

```python
import pandas as pd

cities = pd.read_csv("cities.csv")
top = cities.nlargest(5, "population")
print(top[["name", "population"]])
```

| name | population |
|:--|--:|
| Moscow | 13 010 112 |
| Saint Petersburg | 5 601 911 |
| Novosibirsk | 1 633 595 |

A few notes:

- `nlargest` is faster than sorting the whole table.
- Pass `usecols=["name", "population"]` to read only what you need.
"""

FOLLOW_UP = """Sure. Group by region first, then take the largest city of each group:

```python
largest = cities.loc[cities.groupby("region")["population"].idxmax()]
```

`idxmax` gives the row label of the biggest value in each group, and `loc` picks those rows."""


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def test_screenshots(notebook, fake_yandex, fake_gigachat, shots):
    store = history()
    for name, question in (("Trip to Kazan", "Plan two days in Kazan"), ("SQL window functions", "Explain OVER()")):
        chat = store.create_chat(name)
        store.append_message(chat, role="user", content=question)
        store.append_message(chat, role="assistant", content="…", provider="gigachat", model="GigaChat")
    fake_yandex.script(_pieces(CITIES_ANSWER))
    nb, panel = open_panel(notebook, 'ChatPanel(chat="Pandas: biggest cities")', "chat-demo.ipynb")
    panel.ask("Load cities.csv with pandas and show the five biggest cities")
    panel.wait_idle(1)
    panel.head_button(0).click()  # the chat drawer open: it shows more of the product
    panel.root.locator(".mmc-compose textarea").fill("And the largest city of each region?")
    nb.page.mouse.move(0, 0)  # no hover highlight in the pictures
    panel.root.screenshot(path=str(shots / "panel-light.png"))

    nb.set_theme("JupyterLab Dark")
    try:
        panel.root.screenshot(path=str(shots / "panel-dark.png"))
    finally:
        nb.set_theme("JupyterLab Light")

    panel.head_button(0).click()
    fake_yandex.script(_pieces(FOLLOW_UP))
    fake_yandex.tamper(delay=0.15)
    panel.input.press("Enter")
    nb.page.mouse.move(0, 0)
    expect(panel.streaming).to_contain_text("gives the row", timeout=15_000)
    panel.root.screenshot(path=str(shots / "panel-streaming.png"))
    panel.wait_idle(2)

    nb.page.set_viewport_size({"width": 360, "height": 780})  # a phone: JupyterLab's one-document mode
    nb.page.evaluate("() => { const shell = window.jupyterapp.shell; shell.collapseLeft(); shell.collapseRight();"
                     " shell.mode = 'single-document'; }")
    panel.root.scroll_into_view_if_needed()
    panel.root.locator(".mmc-log").evaluate("log => { log.scrollTop = log.scrollHeight; }")
    nb.page.screenshot(path=str(shots / "panel-mobile-360.png"))
    assert nb.page.evaluate("document.documentElement.scrollWidth") <= 360 + 1  # no sideways scrolling
