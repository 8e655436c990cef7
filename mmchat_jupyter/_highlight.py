"""Pygments for render.py: code blocks as CSS-classed HTML, a piecewise highlighter for streaming, and the CSS."""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pygments import highlight
from pygments.formatters.html import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from ._sanitize import CODE_BLOCK_CLASS, WRAPPER_CLASS, sanitize

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    _StrHtmlFormatter = HtmlFormatter[str]  # generic in the stubs only
else:
    _StrHtmlFormatter = HtmlFormatter

__all__ = ["CODE_BLOCK_CLOSE", "code_block_open", "formatter_for_block", "highlight_lines", "pygments_css"]

CODE_BLOCK_CLOSE = "</code></pre></div>"


class _CodeFormatter(_StrHtmlFormatter):
    """Pygments HTML with CSS classes in `<div class="highlight"><pre><code class="language-x">`.

    The `language-x` class is the front end's hook for a Copy button. We write the wrapper ourselves (Pygments'
    own adds a trailing newline that would make a code block's HTML depend on what follows it, see
    StreamingRenderer) and let Pygments write only the highlighted lines (`nowrap`).
    """

    def __init__(self, language_class: str) -> None:
        super().__init__(nowrap=True)
        self.open_tag = f'<div class="{CODE_BLOCK_CLASS}"><pre><code class="{html.escape(language_class)}">'

    def format_unencoded(self, tokensource: Iterable[tuple[Any, str]], outfile: SupportsWrite[str]) -> None:
        """Write the highlighted tokens inside our wrapper."""
        outfile.write(self.open_tag)
        super().format_unencoded(tokensource, outfile)
        outfile.write(CODE_BLOCK_CLOSE)


@functools.lru_cache(maxsize=64)
def _formatter(language_class: str) -> _CodeFormatter:
    return _CodeFormatter(language_class)


def formatter_for_block(lang_str: str, **_block_options: object) -> _CodeFormatter:
    """CodeHilite's `pygments_formatter`: one cached formatter per language instead of one per code block.

    The per-block options (hl_lines, linenos, noclasses, ...) are ignored on purpose: the Markdown source must not
    reshape our HTML.
    """
    return _formatter(lang_str)


@functools.lru_cache(maxsize=64)
def code_block_open(lang: str) -> str:
    """The sanitized opening tags of a code block in `lang` ("" for none), as `render_markdown` writes them."""
    opened = _formatter(f"language-{lang or 'text'}").open_tag
    return sanitize(opened + CODE_BLOCK_CLOSE).removesuffix(CODE_BLOCK_CLOSE)


@functools.lru_cache(maxsize=64)
def _lexer(lang: str) -> Lexer:
    # No guessing: an unknown or missing language is plain text, as in render_markdown. stripnl=False keeps the
    # blank lines at the edges of a piece.
    try:
        return get_lexer_by_name(lang, stripnl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False)


@functools.lru_cache(maxsize=1)
def _spans() -> HtmlFormatter[str]:
    return HtmlFormatter(nowrap=True)


def highlight_lines(code: str, lang: str) -> str:
    """Sanitized highlighted HTML of a piece of a code block (its token spans only, without the wrapper)."""
    return sanitize(highlight(code, _lexer(lang), _spans()))


@functools.lru_cache(maxsize=8)
def pygments_css(style_light: str = "default", style_dark: str = "monokai") -> str:
    """CSS for the highlight classes: `style_light` by default, `style_dark` under JupyterLab's dark themes.

    Rules are scoped to `.mmchat-md .highlight`, so they touch nothing else on the page; the dark ones sit under
    `[data-jp-theme-light="false"]` (set by JupyterLab on <body>) and win by specificity. No external assets.
    Raises `pygments.util.ClassNotFound` for an unknown style name.
    """
    scope = f".{WRAPPER_CLASS} .{CODE_BLOCK_CLASS}"
    rules: list[str] = []
    for style, selector in ((style_light, scope), (style_dark, f'[data-jp-theme-light="false"] {scope}')):
        formatter = HtmlFormatter(style=style)
        # Not get_style_defs(): it also emits unscoped rules (`pre { line-height }`) that would restyle JupyterLab.
        rules += formatter.get_background_style_defs(selector)
        rules += formatter.get_token_style_defs(selector)
    return "\n".join(rules) + "\n"
