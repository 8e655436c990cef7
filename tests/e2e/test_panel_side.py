"""`%chat panel --side` in a real JupyterLab: the panel in the right side area (the `sidecar` package), beside
whichever document is open, continuing the kernel's chat."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .test_panel import Panel

pytestmark = pytest.mark.e2e

SIDE = "#jp-right-stack"
OPEN = "(path) => window.jupyterapp.commands.execute('docmanager:open', {path})"
TIDY = """() => {
  const app = window.jupyterapp, notebook = app.shell.currentWidget.content;
  app.shell.collapseLeft();
  notebook.activeCellIndex = 0;
  app.commands.execute("notebook:hide-cell-code");
  notebook.activeCellIndex = 3;
}"""
SHOWN = "(path) => window.jupyterapp.shell.currentWidget?.context?.path === path"


def test_side_panel_stays_beside_any_document(notebook, lab, fake_yandex, shots):
    nb = notebook(["%load_ext mmchat_jupyter", "%%chat\nWhat is 2+2?", "%chat panel --side"], "side.ipynb")
    nb.run_all(4)
    panel = Panel(nb.page)
    side = nb.page.locator(SIDE)
    expect(side.locator(".mmc[data-ready='1']")).to_be_visible()  # in the side area...
    expect(nb.page.locator(".jp-NotebookPanel .mmc")).to_have_count(0)  # ...not in the notebook
    expect(nb.output(3)).to_have_count(1)  # a line saying where the panel is
    area, box = side.bounding_box(), panel.root.bounding_box()
    assert area and box and box["height"] > area["height"] - 4  # it fills the side area's height
    head = [panel.root.locator(".mmc-head > button").nth(i).bounding_box()["y"] for i in range(4)]
    assert max(head) - min(head) < 2, head  # narrow as it is, the header's buttons keep one row
    expect(panel.questions).to_have_text(["What is 2+2?"])  # the kernel's chat, the one %%chat used
    panel.ask("And 3+3?")
    panel.wait_idle(2)
    expect(panel.answers.last).to_contain_text("You said: And 3+3?")
    nb.page.evaluate(TIDY)  # for the picture: no file browser, no test set-up cell
    expect(nb.cell(0).locator(".jp-InputPlaceholder")).to_be_visible()
    expect(nb.page.locator("#jp-left-stack")).to_be_hidden()
    nb.page.mouse.move(0, 0)
    nb.page.screenshot(path=str(shots / "panel-side.png"))

    lab.write_notebook("other.ipynb", ["1 + 1"])  # another document in the main area: the panel stays
    nb.page.evaluate(OPEN, "other.ipynb")
    nb.page.wait_for_function(SHOWN, arg="other.ipynb")
    expect(side.locator(".mmc[data-ready='1']")).to_be_visible()
    panel.ask("Still here?")
    panel.wait_idle(3)

    nb.page.evaluate(OPEN, "side.ipynb")
    nb.page.wait_for_function(SHOWN, arg="side.ipynb")
    nb.run(3)  # again: the side panel is replaced, not doubled
    expect(side.locator(".mmc")).to_have_count(1)
    expect(panel.questions).to_have_count(3)
