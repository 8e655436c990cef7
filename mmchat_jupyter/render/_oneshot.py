"""Finished text -> HTML, block by block (the streaming renderer's final answer is exactly this)."""

from __future__ import annotations

from typing import Any

from .._sanitize import NO_MATH_CLASS, WRAPPER_CLASS
from ._markdown import block_html, parse, top_level

__all__ = ["render_blocks", "render_markdown", "wrap_html"]

_OPEN = f'<div class="{WRAPPER_CLASS} {NO_MATH_CLASS}">'
_CLOSE = "</div>"


def wrap_html(content: str) -> str:
    """The one wrapper around an answer's blocks: `<div class="mmchat-md mathjax_ignore">content</div>`.

    `mmchat-md` scopes our CSS; `mathjax_ignore` keeps a host's MathJax (JupyterLab, Notebook 7) to the formulas,
    which are marked `mathjax_process`, so dollars that are money stay text.
    """
    return _OPEN + content + _CLOSE


def render_blocks(text: str) -> list[str]:
    """The sanitized HTML of each top-level block of Markdown `text`; joined, they are the answer's content."""
    env: dict[str, Any] = {}
    tokens = parse(text, env)
    return [block_html(tokens[first:last], env) for first, last in top_level(tokens)]


def render_markdown(text: str) -> str:
    """Render Markdown `text` to sanitized HTML wrapped in `<div class="mmchat-md mathjax_ignore">`.

    CommonMark with GFM tables, strikethrough, task lists and autolinks; math kept as LaTeX source in elements
    marked as math; code highlighted by Pygments with CSS classes (see `pygments_css`); images as links. Raw HTML
    in `text` shows as text. The result is safe to insert into a page as is.
    """
    return wrap_html("".join(render_blocks(text)))
