"""A fenced code block in a `%%chat` answer is one even box in a real JupyterLab, light and dark.

JupyterLab paints every `code` inside its rendered HTML with the page background (`--jp-layout-color0`) and keeps
it inline; inside our translucent grey box that drew a white (light) or black (dark) strip behind every line. The
colours below are the ones Chromium computes, so any host rule that paints `pre code` shows up here.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .test_render_answer import check_code_colours

pytestmark = pytest.mark.e2e

CELL = """%%chat -p echo --no-history
Run `fit()` like this:

```python
import numpy as np

def fit(x, y):
    return np.polyfit(x, y, deg=1)  # a long line that wraps the strip past its words
```
"""


def test_code_in_a_chat_answer_has_no_strips(notebook):
    nb = notebook(["%load_ext mmchat_jupyter", CELL], "code-colours.ipynb")
    nb.run_all(3)
    output = nb.output(2)
    expect(output.locator(".mmchat-footer")).to_be_visible(timeout=30_000)
    assert output.locator(".highlight pre code span").count() > 3  # highlighted, not plain text
    check_code_colours(output)
    nb.set_theme("JupyterLab Dark")
    try:
        check_code_colours(output)
    finally:
        nb.set_theme("JupyterLab Light")
