"""The streamed answer in real Chromium (issue 12, finding 1): panel.js's own reconstruction and DOM painting equal
Python's HTML after every delta, and the exploit from the issue runs nothing in a real ChatPanel in JupyterLab."""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import expect

from ..conftest import REPO
from ..panel_streams import EXPLOIT_CHUNKS, PAYLOAD, random_texts, real_answers, streamed
from .test_panel import open_panel

pytestmark = pytest.mark.e2e

PANEL_JS = REPO / "mmchat_jupyter" / "static" / "panel.js"

#: Folds every sequence with foldStream and paints it with paintBlocks into a visible element, exactly as a view
#: does; after every delta, compares the reconstruction with Python's HTML and the DOM with the whole HTML parsed
#: at once. Returns the mismatches and what in the DOM could run script.
REPLAY = r"""async (cases) => {
  const { foldStream, streamHTML, paintBlocks } = window.mmcPanel;
  const wholly = (html) => { const t = document.createElement("template"); t.innerHTML = html; return t.innerHTML; };
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const problems = [];
  let deltas = 0;
  for (const [index, { messages, expected }] of cases.entries()) {
    const holder = document.createElement("div");
    holder.className = "mmchat-md";
    document.body.replaceChildren(holder);
    let stream = null;
    const shown = [];
    for (const [step, msg] of messages.entries()) {
      const next = foldStream(stream, msg);
      if (next === null) { problems.push(`case ${index} step ${step}: refused`); break; }
      paintBlocks(holder, shown, next.blocks, stream !== null && stream.seq === next.seq - 1 ? next.at : 0);
      stream = next;
      deltas += 1;
      if (streamHTML(stream) !== expected[step]) problems.push(`case ${index} step ${step}: HTML differs`);
      if (holder.innerHTML !== wholly(expected[step])) problems.push(`case ${index} step ${step}: DOM differs`);
    }
    if (index % 20 === 0) await frame(); // let the page render: a handler that got in would fire now
  }
  // Python's own markup may carry inline styles (code boxes, table alignment); nothing may carry a handler
  const risky = [...document.querySelectorAll("*")].filter((el) => [...el.attributes].some((a) =>
    a.name.startsWith("on") || (a.name === "style" && /visibility|position|url\(/i.test(a.value)))).length;
  return { problems, deltas, risky };
}"""


def test_reconstruction_and_dom_equal_python_after_every_delta(blank_page):
    rng = random.Random(1212)
    texts = ["".join(EXPLOIT_CHUNKS), "😀😀😀 " + PAYLOAD, *random_texts(rng, 80), *real_answers(4)]
    cases = [{"messages": messages, "expected": ["".join(blocks) for blocks in expected]}
             for messages, expected in streamed(texts, rng)]
    dialogs: list[str] = []
    blank_page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    source = PANEL_JS.read_text(encoding="utf-8")
    exported = "\nwindow.mmcPanel = { foldStream, streamHTML, paintBlocks };"
    blank_page.add_script_tag(type="module", content=source + exported)
    blank_page.wait_for_function("() => window.mmcPanel !== undefined")
    result = blank_page.evaluate(REPLAY, cases)
    assert result["problems"] == []
    assert result["deltas"] == sum(len(case["messages"]) for case in cases) > 1000
    assert result["risky"] == 0 and dialogs == []


def test_the_issue_exploit_runs_nothing_in_a_real_panel(notebook, fake_yandex):
    """Three emoji, then `Z /style=...oncontentvisibilityautostatechange='alert(document.domain)'...`, in the two
    chunks that made the old panel build `<p/style=... oncontentvisibilityautostatechange=...>` and run it."""
    fake_yandex.script([*EXPLOIT_CHUNKS, " (the end)"])
    fake_yandex.tamper(delay=0.6)  # each chunk its own delta, and time for the page to render each state
    nb, panel = open_panel(notebook)
    dialogs: list[str] = []
    nb.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    panel.ask("Say it")
    expect(panel.streaming.locator(".mmchat-md")).to_contain_text("😀😀😀", timeout=15_000)  # the first delta
    panel.wait_idle(1)
    assert dialogs == []
    injected = ".mmc-body [style*='content-visibility'], [oncontentvisibilityautostatechange]"
    assert panel.root.locator(injected).count() == 0
    expect(panel.answers.first).to_contain_text("oncontentvisibilityautostatechange='alert(document.domain)'")
