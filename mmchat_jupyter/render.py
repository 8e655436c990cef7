"""Markdown answers -> safe HTML: python-markdown + Pygments, then the nh3 allow-list in `_sanitize`.

    render_markdown(text)          one-shot, for finished messages and exports
    StreamingRenderer()            for the answer in flight: caches finished blocks, re-renders only the open tail
    pygments_css()                 the highlight colours (light theme, and dark under JupyterLab's dark themes)
    Throttle(0.1)                  when a streaming display may update (re-exported from `_throttle`)

Every HTML string this module returns is one `<div class="mmchat-md">...</div>`: the wrapper is added here and
only here, so callers (magic, widget, export) never wrap again and CSS can scope on `.mmchat-md`.

Model output is untrusted. Raw HTML in the Markdown is not interpreted: python-markdown's raw-HTML block
preprocessor and inline pattern are removed, so `<b>` in an answer shows as the text `<b>`. Whatever HTML
python-markdown and Pygments produce then goes through the allow-list (`_sanitize.sanitize`), images become links
(see `_sanitize` for why), and fenced code is highlighted with CSS classes, never guessing a language.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable, TextIO

import markdown
from markdown.extensions.codehilite import CodeHiliteExtension
from markdown.extensions.fenced_code import FencedBlockPreprocessor
from markdown.extensions.tables import TableExtension
from markdown.treeprocessors import Treeprocessor
from pygments.formatters.html import HtmlFormatter

from ._sanitize import CODE_BLOCK_CLASS, WRAPPER_CLASS, sanitize
from ._throttle import Throttle

__all__ = ["StreamingRenderer", "Throttle", "pygments_css", "render_markdown"]

_OPEN = f'<div class="{WRAPPER_CLASS}">'
_CLOSE = "</div>"
_TAB_LENGTH = 4  # python-markdown's default; the block splitter below must see lines as it does


class _CodeFormatter(HtmlFormatter):
    """Pygments HTML with CSS classes in `<div class="highlight"><pre><code class="language-x">`.

    The `language-x` class is the front end's hook for a Copy button. We write the wrapper ourselves (Pygments'
    own adds a trailing newline that would make a code block's HTML depend on what follows it, see
    StreamingRenderer) and let Pygments write only the highlighted lines (`nowrap`).
    """

    def __init__(self, language_class: str) -> None:
        super().__init__(nowrap=True)
        self._open = f'<div class="{CODE_BLOCK_CLASS}"><pre><code class="{html.escape(language_class)}">'

    def format_unencoded(self, tokensource: Iterable[tuple[Any, str]], outfile: TextIO) -> None:
        """Write the highlighted tokens inside our wrapper."""
        outfile.write(self._open)
        super().format_unencoded(tokensource, outfile)
        outfile.write("</code></pre></div>")


@functools.lru_cache(maxsize=64)
def _formatter(language_class: str) -> _CodeFormatter:
    return _CodeFormatter(language_class)


def _formatter_for_block(lang_str: str, **_block_options: object) -> _CodeFormatter:
    # CodeHilite builds a formatter per code block; we hand out one per language instead. The per-block options
    # (hl_lines, linenos, noclasses, ...) are ignored on purpose: the Markdown source must not reshape our HTML.
    return _formatter(lang_str)


class _FencedBlocks(FencedBlockPreprocessor):
    """fenced_code, minus `{ key=value }` options on the opening fence.

    Upstream hands those options to Pygments' lexer and formatter, so an answer could set e.g. `tabsize=99999999`
    and make us allocate gigabytes. `{ .lang }` still names the language.
    """

    def handle_attrs(self, attrs):  # type: ignore[no-untyped-def]  # upstream signature
        block_id, classes, _options = super().handle_attrs(attrs)
        return block_id, classes, {}


class _ImagesAsLinks(Treeprocessor):
    """Turn `![alt](url)` into a link to `url` reading `alt`: we never let the browser fetch images on its own."""

    def run(self, root):  # type: ignore[no-untyped-def]  # upstream signature
        for element in root.iter("img"):
            url = element.attrib.pop("src", "")
            alt = element.attrib.pop("alt", "")
            element.tag = "a"
            element.set("href", url)
            element.text = alt or url


def _new_markdown() -> markdown.Markdown:
    md = markdown.Markdown(
        extensions=[
            "fenced_code",
            "sane_lists",
            TableExtension(use_align_attribute=True),  # `align=`, since `style` never passes the sanitizer
            CodeHiliteExtension(
                css_class=CODE_BLOCK_CLASS, guess_lang=False, pygments_formatter=_formatter_for_block
            ),
        ],
        tab_length=_TAB_LENGTH,
    )
    md.preprocessors.deregister("html_block")  # raw HTML blocks become paragraphs of escaped text
    md.inlinePatterns.deregister("html")  # and so do inline tags; entities and <http://autolinks> still work
    md.preprocessors.register(_FencedBlocks(md, {"lang_prefix": "language-"}), "fenced_code_block", 25)
    md.treeprocessors.register(_ImagesAsLinks(md), "images_as_links", 15)  # after "inline" (20) made the <img>s
    return md


# A Markdown instance is reused (`reset()` is far cheaper than building one) but is not thread-safe: one per thread.
_local = threading.local()


def _fragment(text: str) -> str:
    """Markdown -> sanitized HTML, without the wrapper."""
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _new_markdown()
    return sanitize(md.reset().convert(text))


def render_markdown(text: str) -> str:
    """Render Markdown `text` to sanitized HTML wrapped in `<div class="mmchat-md">`.

    Extensions: fenced_code, tables, sane_lists, Pygments highlighting with CSS classes (see `pygments_css`).
    Raw HTML in `text` shows as text. The result is safe to insert into a page as is.
    """
    return _OPEN + _fragment(text) + _CLOSE


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


# --- streaming ---------------------------------------------------------------------------------------------------

_EOL = re.compile(r"\r\n?|\n")  # python-markdown reads a lone \r as a line break too
# An opening fence exactly as python-markdown's fenced_code accepts it (the closing one is the same fence alone).
_FENCE_OPEN = re.compile(r"""(`{3,}|~{3,}) *(?:\{.*\}|\.?[\w#.+-]* *(?:hl_lines=(["']).*?\2 *)?)""")
_LIST_ITEM = re.compile(r"(?:[*+-]|\d+\.) ")


@dataclass(frozen=True)
class _Block:
    """A finished run of top-level Markdown blocks: `text[start:end]`, final since `text[:decided]` arrived."""

    end: int
    decided: int
    html: str


class StreamingRenderer:
    """Render an answer while it streams, at a cost per update that does not grow with the answer.

    The text so far splits into finished top-level blocks and an open tail. A block is finished once a blank line
    (outside fenced code) is followed by a line that starts a new block rather than continuing the old one
    (indented text, another item of the same list, more of the same quote continue it). Finished blocks are
    rendered once and cached; each update renders only the tail. While a ``` fence is open, the tail is rendered
    with the fence closed, so code shows as code as it arrives.

    `finish()` renders the whole text once more, from scratch: a few constructs reach across blocks (a reference
    link whose definition comes later), and one full render per answer is cheap. So the final HTML is exactly
    `render_markdown(text)`. Each fragment is sanitized on its own, so every intermediate HTML is as safe.

    Throttled displays call `append()` per chunk and read `html` only when they show an update (see `Throttle`).
    """

    def __init__(self) -> None:
        self._text = ""
        self._html: str | None = None  # the current streaming render; None once the text changed
        self._final: str | None = None
        self._restart(0, [])

    @property
    def text(self) -> str:
        """The Markdown received so far."""
        return self._text

    @property
    def html(self) -> str:
        """The current HTML (rendered now if the text changed since the last read); after `finish()`, the final one."""
        if self._final is not None:
            return self._final
        if self._html is None:
            self._scan()
            body = "\n".join(part for part in (self._done_html, self._render_tail()) if part)
            self._html = _OPEN + body + _CLOSE
        return self._html

    def append(self, text_delta: str) -> None:
        """Add text without rendering; the next read of `html` renders it."""
        if text_delta:
            self._text += text_delta
            self._html = self._final = None

    def feed(self, text_delta: str) -> str:
        """Add text and return the HTML of the whole answer so far."""
        self.append(text_delta)
        return self.html

    def replace(self, full_text: str) -> str:
        """The server rewrote the answer: `full_text` is the whole of it now. Returns the HTML.

        Finished blocks whose text (and the line that closed them) did not change stay cached.
        """
        if full_text.startswith(self._text):
            return self.feed(full_text[len(self._text):])
        old, kept, limit = self._text, 0, len(self._blocks)
        while kept < limit:  # binary search: a block's prefix unchanged => so are all earlier ones
            middle = (kept + limit + 1) // 2
            decided = self._blocks[middle - 1].decided
            if full_text[:decided] == old[:decided]:
                kept = middle
            else:
                limit = middle - 1
        blocks = self._blocks[:kept]
        self._text = full_text
        self._html = self._final = None
        self._restart(blocks[-1].end if blocks else 0, blocks)
        return self.html

    def finish(self) -> str:
        """Render the whole answer from scratch (equal to `render_markdown(text)`) and return it."""
        if self._final is None:
            self._final = render_markdown(self._text)
        return self._final

    # Splitting. State covers the group of blocks after the last finished one, up to `_pos` (start of the line
    # still arriving).

    def _restart(self, done_end: int, blocks: list[_Block]) -> None:
        """Keep `blocks` (ending at `done_end`, outside any fence) and rescan the text after them."""
        self._blocks = blocks
        self._done_html = "\n".join(block.html for block in blocks if block.html)
        self._done_end = self._pos = done_end
        self._fence: str | None = None  # the open fence's marker, e.g. "```"
        self._blank = False  # a blank line ended the last block of the group
        self._has_content = self._has_list = self._has_quote = False

    def _scan(self) -> None:
        text, pos = self._text, self._pos
        while (eol := _EOL.search(text, pos)) is not None:
            if eol.end() == len(text) and eol.group() == "\r":
                break  # maybe half of a "\r\n"
            self._scan_line(text[pos:eol.start()].expandtabs(_TAB_LENGTH), pos, eol.end())
            pos = eol.end()
        self._pos = pos

    def _scan_line(self, line: str, start: int, end: int) -> None:
        if self._fence is not None:
            if line.rstrip(" ") == self._fence:
                self._fence = None
            return
        if not line.strip(" "):
            self._blank = self._has_content
            return
        if self._blank and not self._continues(line):
            self._finish_group(start, end)
        self._blank = False
        self._has_content = True
        if line[0] == ">":
            self._has_quote = True
        elif _LIST_ITEM.match(line):
            self._has_list = True
        fence = _FENCE_OPEN.fullmatch(line)
        if fence:
            self._fence = fence.group(1)

    def _continues(self, line: str) -> bool:
        """Does `line`, after a blank line, continue the group (merging is always safe, splitting is not)?"""
        return (
            line[0] == " "
            or (self._has_list and _LIST_ITEM.match(line) is not None)
            or (self._has_quote and line[0] == ">")
        )

    def _finish_group(self, start: int, decided: int) -> None:
        fragment = _fragment(self._text[self._done_end:start])
        self._blocks.append(_Block(start, decided, fragment))
        if fragment:
            self._done_html = f"{self._done_html}\n{fragment}" if self._done_html else fragment
        self._done_end = start
        self._has_list = self._has_quote = False

    def _render_tail(self) -> str:
        tail = self._text[self._done_end:]
        arriving = self._text[self._pos:].expandtabs(_TAB_LENGTH).rstrip(" \r")
        if self._fence is not None:
            if arriving and self._fence.startswith(arriving):  # the closing fence, half here: leave it out
                tail = self._text[self._done_end:self._pos]
            elif self._pos < len(self._text):
                tail += "\n"
            tail += self._fence + "\n"
        elif arriving and (not arriving[:3].strip("`") or not arriving[:3].strip("~")):
            # maybe an opening fence, half here: wait for its line rather than flash it as text
            tail = self._text[self._done_end:self._pos]
        return _fragment(tail) if tail else ""
