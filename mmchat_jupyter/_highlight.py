"""Pygments for the renderer: code blocks as CSS-classed HTML in a box that reads as code anywhere, and the CSS.

The box (background, border, padding, spacing) is written as inline `style` attributes, not only in our
stylesheet: JupyterLab's own CSS paints every `pre` with the page background and no padding, an untrusted
notebook strips `<style>` elements, and nbconvert or GitHub never see our stylesheet. Colours are translucent
greys, so the same box works on light and dark themes. Token colours come from `pygments_css()` when present.
"""

from __future__ import annotations

import functools
import html

from pygments import highlight
from pygments.formatters.html import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from ._sanitize import BOX_STYLE, CODE_BLOCK_CLASS, CODE_STYLE, PRE_STYLE, WRAPPER_CLASS

__all__ = ["code_block", "pygments_css"]


@functools.lru_cache(maxsize=64)
def _lexer(lang: str) -> Lexer:
    # No guessing: an unknown or missing language is plain text. stripnl=False keeps blank edge lines as written.
    try:
        return get_lexer_by_name(lang, stripnl=False) if lang else TextLexer(stripnl=False)
    except (ClassNotFound, ValueError):
        return TextLexer(stripnl=False)


_SPANS = HtmlFormatter(nowrap=True)


def code_block(code: str, lang: str, extra_class: str = "") -> str:
    """A highlighted code block: `<div class="highlight"><pre><code class="language-x">…</code></pre></div>`.

    The `language-x` class is the front end's hook for a Copy button ("text" when no language is given).
    `extra_class` marks a piece of a block streamed in pieces (see render._streaming).
    """
    language = html.escape(f"language-{lang or 'text'}", quote=True)
    classes = f"{CODE_BLOCK_CLASS} {extra_class}" if extra_class else CODE_BLOCK_CLASS
    body = highlight(code, _lexer(lang), _SPANS) if code else ""
    if body.endswith("\n") and not code.endswith("\n"):
        body = body[:-1]  # Pygments ends its output with a newline the source did not have
    return (f'<div class="{classes}" style="{BOX_STYLE}"><pre style="{PRE_STYLE}">'
            f'<code class="{language}" style="{CODE_STYLE}">{body}</code></pre></div>\n')


@functools.lru_cache(maxsize=8)
def pygments_css(style_light: str = "default", style_dark: str = "monokai") -> str:
    """CSS for the highlight token classes: `style_light` by default, `style_dark` under JupyterLab's dark themes.

    Rules are scoped to `.mmchat-md .highlight`, so they touch nothing else on the page; the dark ones sit under
    `[data-jp-theme-light="false"]` (set by JupyterLab on <body>) and win by specificity. Only token colours: the
    box itself is inline (see the module docstring). Raises `pygments.util.ClassNotFound` for an unknown style.
    """
    scope = f".{WRAPPER_CLASS} .{CODE_BLOCK_CLASS}"
    rules: list[str] = []
    for style, selector in ((style_light, scope), (style_dark, f'[data-jp-theme-light="false"] {scope}')):
        # Not get_style_defs(): it also emits unscoped rules (`pre { line-height }`) that would restyle JupyterLab.
        rules += HtmlFormatter(style=style).get_token_style_defs(selector)
    return "\n".join(rules) + "\n"
