"""The shipped quickstart notebooks open in JupyterLab unmodified (issue 14: the English one opened "modified",
asking to be saved before anything was done)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from .lab import LabServer

REPO = Path(__file__).resolve().parents[2]

_STATE = """() => {
  const panel = window.jupyterapp?.shell.currentWidget;
  const context = panel?.sessionContext;
  const ready = !!(panel?.content?.widgets?.length && context?.isReady && context.session?.kernel?.status === "idle");
  return ready ? {dirty: panel.context.model.dirty, metadata: panel.context.model.toJSON().metadata} : null;
}"""


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["quickstart.ipynb", "quickstart.ru.ipynb"])
def test_the_quickstart_opens_unmodified(page: Any, lab: LabServer, name: str):
    lab.close_sessions()
    shutil.copy(REPO / "notebooks" / name, lab.root / name)
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_function(_STATE, timeout=90_000)
    page.wait_for_timeout(1500)  # the kernel's info reply and the language metadata it brings arrive after idle
    state = page.evaluate(_STATE)
    assert state["dirty"] is False, state["metadata"]
    tab = page.locator(".lm-TabBar-tab.jp-mod-current")
    assert "jp-mod-dirty" not in (tab.get_attribute("class") or "")
