"""Markdown answers -> safe HTML: markdown-it-py (CommonMark + GFM + math) and Pygments, then nh3's allow-list.

    render_markdown(text)     one-shot, for finished messages and exports: wrap_html("".join(render_blocks(text)))
    render_blocks(text)       the same, as the sanitized HTML of each top-level block
    wrap_html(content)        the one wrapper: <div class="mmchat-md mathjax_ignore">content</div>
    StreamingRenderer()       the answer in flight: update() -> BlockUpdate(first, blocks) of what changed
    pygments_css()            the highlight colours (light theme, and dark under JupyterLab's dark themes)
    typesetter_module()       the panel's math typesetter (vendored KaTeX) as one ES module
    Throttle(0.1)             when a streaming display may update (re-exported from `_throttle`)

Model output is untrusted: raw HTML in the Markdown is not interpreted (it shows as text), images become links,
and every block's HTML goes through the allow-list (`_sanitize`) on its own.
"""

from __future__ import annotations

from .._highlight import pygments_css
from .._throttle import Throttle
from ._oneshot import render_blocks, render_markdown, wrap_html
from ._streaming import PIECE_LIMIT, BlockUpdate, StreamingRenderer
from ._typeset import typesetter_module

__all__ = ["PIECE_LIMIT", "BlockUpdate", "StreamingRenderer", "Throttle", "pygments_css", "render_blocks",
           "render_markdown", "typesetter_module", "wrap_html"]
