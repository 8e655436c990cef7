"""One long realistic answer (nested lists, code inside list steps, an aligned table, inline and display math, money)
rendered in a real JupyterLab: %%chat output typeset by JupyterLab's own MathJax (light, dark, and the saved
notebook reopened untrusted, where <style> is stripped), and the ChatPanel typeset by the vendored KaTeX.

Screenshots go to $MMCHAT_SCREENSHOTS (docs/screenshots when regenerating them): answer-*.png.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from mmchat_jupyter.render import render_markdown

from .test_panel import open_panel

pytestmark = pytest.mark.e2e

ANSWER = r"""## Fitting a line with NumPy

To fit $y = a x + b$ to points $(x_i, y_i)$, minimise the squared error
$$
E(a, b) = \sum_{i=1}^{n} \left(y_i - a x_i - b\right)^2
$$
whose minimum is at \(a = \frac{\operatorname{cov}(x, y)}{\operatorname{var}(x)}\). A run costs $5 and a GPU hour $10.

1. Prepare the data:
   - drop rows with missing values;
   - scale $x$ to $[0, 1]$:
     ```python
     x = (x - x.min()) / (x.max() - x.min())
     ```
2. Fit and check the residuals:

   ```python
   import numpy as np

   a, b = np.polyfit(x, y, deg=1)
   residuals = y - (a * x + b)
   print(f"a={a:.3f}, b={b:.3f}, rmse={np.sqrt((residuals ** 2).mean()):.3f}")
   ```
3. Compare the methods:

| Method | Time, ms | RMSE | Note |
|:-------|---------:|-----:|:----:|
| `np.polyfit` | 1.2 | 0.031 | least squares |
| `scipy.stats.linregress` | 0.9 | 0.031 | also gives $r^2$ |
| gradient descent | 48.0 | 0.035 | needs a learning rate |

The normal equations in matrix form:
\[
\begin{pmatrix} \sum x_i^2 & \sum x_i \\ \sum x_i & n \end{pmatrix}
\begin{pmatrix} a \\ b \end{pmatrix} =
\begin{pmatrix} \sum x_i y_i \\ \sum y_i \end{pmatrix}
\]

> **Tip:** for many features use `np.linalg.lstsq`, which solves $\min_\beta \lVert X\beta - y \rVert_2$ directly.
"""

FORMULAS = render_markdown(ANSWER).count('class="mmchat-math')  # money is not math
assert FORMULAS == 9


def pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


CHAT_CELL = "%%chat -p yandexgpt --no-history\nExplain a linear fit with NumPy."


_CODE_COLOURS = """out => [...out.querySelectorAll("pre code, pre code *")].map(code => {
  const own = getComputedStyle(code), pre = getComputedStyle(code.closest("pre"));
  return [code.tagName, own.backgroundColor, pre.backgroundColor, own.paddingLeft, own.borderLeftWidth];
})"""


def check_code_colours(output) -> None:
    """Nothing inside a code block paints a background, padding or border of its own (JupyterLab's rules for
    inline `code` drew a page-coloured strip behind every line of our grey box), while inline code keeps its chip."""
    found = output.evaluate(_CODE_COLOURS)
    assert found and any(tag == "CODE" for tag, *_ in found)
    strips = [item for item in found
              if item[1] not in ("rgba(0, 0, 0, 0)", item[2]) or item[3] != "0px" or item[4] != "0px"]
    assert not strips, strips
    inline = output.locator(":not(pre) > code")
    if inline.count():
        assert inline.first.evaluate("c => getComputedStyle(c).backgroundColor") != "rgba(0, 0, 0, 0)"


def check_answer(output, *, typeset: bool) -> None:
    """The structure a reader sees: code boxes, aligned cells, formulas typeset and money left as text."""
    expect(output.locator(".mmchat-footer")).to_be_visible(timeout=30_000)
    if typeset:
        expect(output.locator(".mmchat-math mjx-container")).to_have_count(FORMULAS, timeout=30_000)
    assert output.locator("mjx-container").count() == output.locator(".mmchat-math mjx-container").count()
    assert "costs $5 and a GPU hour $10." in output.inner_text()
    box = output.locator(".highlight").first.evaluate(
        "e => { const s = getComputedStyle(e), p = getComputedStyle(e.querySelector('pre'));"
        " return [s.borderTopWidth, s.backgroundColor, p.paddingLeft, s.marginBottom]; }")
    assert box[0] == "1px" and box[1] not in ("rgba(0, 0, 0, 0)", "transparent") and box[2] != "0px", box
    aligns = output.locator("table tbody tr").first.locator("td").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c).textAlign)")
    assert aligns == ["left", "right", "right", "center"]
    assert output.locator("ol > li ul > li .highlight").count() == 1  # code inside a nested list step
    assert output.locator("ol > li > .highlight").count() == 1  # and inside a numbered step
    check_code_colours(output)


def test_chat_output_light_dark_and_untrusted(notebook, fake_yandex, lab, shots):
    fake_yandex.script(pieces(ANSWER))
    nb = notebook(["%load_ext mmchat_jupyter", CHAT_CELL], "answer.ipynb")
    nb.run_all(3)
    output = nb.output(2)
    check_answer(output, typeset=True)
    assert output.count() == 1  # the streamed outputs were consolidated into one
    nb.page.set_viewport_size({"width": 1000, "height": 1900})  # the whole answer in the pictures
    nb.page.mouse.move(0, 0)
    output.screenshot(path=str(shots / "answer-chat-light.png"))
    nb.set_theme("JupyterLab Dark")
    try:
        output.screenshot(path=str(shots / "answer-chat-dark.png"))
    finally:
        nb.set_theme("JupyterLab Light")

    # Saved and reopened by someone else: untrusted, so JupyterLab strips our <style> (the box is inline).
    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    nb.page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=20_000)
    saved = json.loads((lab.root / "answer.ipynb").read_text(encoding="utf-8"))
    (final,) = saved["cells"][2]["outputs"]
    assert set(final["data"]) == {"text/html", "text/markdown", "text/plain"}
    saved["metadata"]["reopened"] = True  # another notebook now: its signature is unknown, so it is untrusted
    (lab.root / "answer-untrusted.ipynb").write_text(json.dumps(saved), encoding="utf-8")
    nb.page.goto(f"{lab.url}/lab/tree/answer-untrusted.ipynb?reset&token={lab.token}")
    untrusted = nb.output(2)
    expect(untrusted.locator(".mmchat-footer")).to_be_visible(timeout=60_000)
    assert untrusted.locator("style").count() == 0  # stripped: everything below works without it
    check_answer(untrusted, typeset=True)
    nb.page.mouse.move(0, 0)
    untrusted.screenshot(path=str(shots / "answer-chat-untrusted.png"))


def test_panel_typesets_math_with_the_vendored_katex(notebook, fake_yandex, shots):
    fake_yandex.script(pieces(ANSWER))
    nb, panel = open_panel(notebook, 'ChatPanel(provider="yandexgpt")', "answer-panel.ipynb")
    panel.ask("Explain a linear fit with NumPy.")
    panel.wait_idle(1)
    body = panel.answers.last.locator(".mmc-body")
    expect(body.locator(".mmchat-math .katex")).to_have_count(FORMULAS, timeout=30_000)
    assert body.locator(".mmchat-math[data-mmchat-typeset='error']").count() == 0
    assert "costs $5 and a GPU hour $10." in body.inner_text()
    nb.page.mouse.move(0, 0)
    body.evaluate("b => b.closest('.mmc-log').scrollTop = 0")
    panel.root.screenshot(path=str(shots / "answer-panel.png"))
