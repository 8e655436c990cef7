"""The Markdown parser: CommonMark plus the GFM extensions models use, math, and our own HTML for a few tokens.

markdown-it-py (the Jupyter ecosystem's parser: MyST, Jupyter Book, jupytext) with the CommonMark preset and
raw HTML off (`<b>` in an answer is text), plus GFM tables, strikethrough, task lists and autolinks of bare URLs
(mdit-py-plugins' gfm_autolink), and `_math`. Against GitHub's own cmark-gfm it gives the same block and inline
structure for 99.9% of the real answers in tests/data/fixtures/llm-answers (benchmarks/markdown_fidelity.py).

Our HTML for: fenced and indented code (Pygments, in a box that survives host CSS, see `_highlight`), images (a
link reading the alt text: the browser never fetches an image on its own), table cells (alignment as inline
style, which beats JupyterLab's right-aligned cells), and math (`_math`).

A document is rendered block by block: `parse()` gives the tokens and `top_level()` the token range of each
top-level block, and each block's HTML goes through the sanitizer on its own. The streaming renderer uses the
same functions on the open tail, so a block's HTML is the same whether it was streamed or rendered at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin

from .._highlight import code_block
from .._sanitize import TABLE_STYLE, sanitize
from ._math import math_plugin

__all__ = ["block_html", "parse", "top_level"]


def _fence(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip() if token.info else ""
    return code_block(token.content, info.split(maxsplit=1)[0] if info else "", str(token.attrGet("class") or ""))


def _code_block(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    return code_block(token.content, "", str(token.attrGet("class") or ""))


def _image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escapeHtml(src)}">{escapeHtml(alt)}</a>'


def _table_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    tokens[idx].attrSet("style", TABLE_STYLE)
    html: str = self.renderToken(tokens, idx, options, env)
    return html


def _cell_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    if not token.attrGet("style"):  # unaligned columns read left to right, as on GitHub (JupyterLab: right)
        token.attrSet("style", "text-align:left")
    html: str = self.renderToken(tokens, idx, options, env)
    return html


_WINDOW = 2048  # longer than any URL or e-mail address an autolink can be


def _bounded(rule: Callable[[StateInline, bool], bool]) -> Callable[[StateInline, bool], bool]:
    """A GFM autolink rule that looks at most _WINDOW characters ahead and behind.

    Upstream, the rules copy the rest of the paragraph (`src[pos:posMax]`) at every trigger character and search
    the whole pending text backwards, which is quadratic in a paragraph's length: a 5 MB paragraph took minutes.
    """

    def run(state: StateInline, silent: bool) -> bool:
        pending = state.pending
        if len(pending) > _WINDOW:  # flush all but its end into a text token (merged back by fragments_join)
            state.pending = pending[:-64]
            state.pushPending()
            state.pending = pending[-64:]
        limit = state.posMax
        state.posMax = min(limit, state.pos + _WINDOW)
        try:
            return rule(state, silent)
        finally:
            state.posMax = limit

    return run


def _new_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.options["tasklists"] = True
    md.use(gfm_autolink_plugin)
    for autolink in list(md.inline.ruler.__rules__):
        if autolink.name.startswith("gfm_autolink"):
            md.inline.ruler.at(autolink.name, _bounded(autolink.fn))
    md.use(math_plugin)
    md.add_render_rule("s_open", lambda *_: "<del>")  # GitHub's element for ~~strikethrough~~
    md.add_render_rule("s_close", lambda *_: "</del>")
    for name, rule in (("fence", _fence), ("code_block", _code_block), ("image", _image),
                       ("table_open", _table_open), ("th_open", _cell_open), ("td_open", _cell_open)):
        md.add_render_rule(name, rule)
    return md


# A parser is cheap to reuse but keeps per-parse state in its rules: one per thread.
_local = threading.local()


def _parser() -> MarkdownIt:
    md: MarkdownIt | None = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _new_parser()
    return md


def parse(text: str, env: MutableMapping[str, Any]) -> list[Token]:
    """The tokens of `text`; link reference definitions found are added to env["references"]."""
    return _parser().parse(text, env)


def top_level(tokens: Sequence[Token]) -> Iterator[tuple[int, int]]:
    """(start, end) token ranges of the top-level blocks, in order."""
    start = None
    for index, token in enumerate(tokens):
        if token.level != 0:
            continue
        if token.nesting == 1:
            start = index
        elif token.nesting == -1:
            assert start is not None
            yield start, index + 1
            start = None
        else:  # fence, code_block, hr, math_block: one token
            yield index, index + 1


def block_html(tokens: Sequence[Token], env: MutableMapping[str, Any], piece_class: str = "") -> str:
    """The sanitized HTML of one top-level block's tokens; `piece_class` marks a piece of a block in pieces."""
    if piece_class:
        tokens[0].attrJoin("class", piece_class)
    md = _parser()
    return sanitize(md.renderer.render(tokens, md.options, env))
