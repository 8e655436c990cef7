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

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import markdown
from markdown.extensions.codehilite import CodeHiliteExtension
from markdown.extensions.fenced_code import FencedBlockPreprocessor
from markdown.extensions.tables import TableExtension
from markdown.treeprocessors import Treeprocessor

from ._highlight import CODE_BLOCK_CLOSE, code_block_open, formatter_for_block, highlight_lines, pygments_css
from ._sanitize import CODE_BLOCK_CLASS, WRAPPER_CLASS, sanitize
from ._throttle import Throttle

if TYPE_CHECKING:
    from collections.abc import Iterable
    from xml.etree.ElementTree import Element

    from .types import Completion

__all__ = ["StreamingRenderer", "Throttle", "pygments_css", "render_markdown"]

_OPEN = f'<div class="{WRAPPER_CLASS}">'
_CLOSE = "</div>"
_TAB_LENGTH = 4  # python-markdown's default; the block splitter below must see lines as it does


class _FencedBlocks(FencedBlockPreprocessor):
    """fenced_code, minus `{ key=value }` options on the opening fence.

    Upstream hands those options to Pygments' lexer and formatter: an answer containing `{ .py tabsize=abc }` would
    make the whole render raise (OptionError), and others change our markup. `{ .lang }` still names the language.
    """

    def handle_attrs(self, attrs: Iterable[tuple[str, str]]) -> tuple[str, list[str], dict[str, Any]]:
        block_id, classes, _options = super().handle_attrs(attrs)
        return block_id, classes, {}


class _ImagesAsLinks(Treeprocessor):
    """Turn `![alt](url)` into a link to `url` reading `alt`: we never let the browser fetch images on its own."""

    def run(self, root: Element) -> None:
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
            CodeHiliteExtension(css_class=CODE_BLOCK_CLASS, guess_lang=False, pygments_formatter=formatter_for_block),
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


# --- streaming ---------------------------------------------------------------------------------------------------

_EOL = re.compile(r"\r\n?|\n")  # python-markdown reads a lone \r as a line break too
# An opening fence exactly as python-markdown's fenced_code accepts it (the closing one is the same fence alone).
_FENCE_OPEN = re.compile(r"""(`{3,}|~{3,}) *(?:\{(.*)\}|\.?([\w#.+-]*) *(?:hl_lines=(["']).*?\4 *)?)""")
_FIRST_CLASS = re.compile(r"\.([\w#.+-]+)")  # in `{ .lang #id }`, the language
_LIST_ITEM = re.compile(r"(?:[*+-]|\d+\.) ")
# Past this many characters, an open fence's code is highlighted piecewise: settled lines once, in pieces of
# about this size, and only the newest piece at each update.
_CODE_PIECE = 1000


@dataclass
class _OpenFence:
    """A code fence whose closing line has not arrived yet (offsets are in the tail)."""

    marker: str  # "```", "~~~~", ...
    line: int  # the opening line
    code: int  # the first line of code
    lang: str
    cut: int  # the code before this offset is highlighted in `html`
    html: str = ""
    head: str | None = None  # rendered text of the group before the fence


@dataclass(frozen=True)
class BlockUpdate:
    """What changed since the previous `StreamingRenderer.update()`: blocks from `first` on (contract 1)."""

    first: int
    blocks: tuple[str, ...]
    total: int


@dataclass(frozen=True)
class _Block:
    """A finished run of top-level Markdown blocks, ending at `end` in the answer; final since `decided` arrived."""

    end: int
    decided: int
    html: str


class StreamingRenderer:
    """Render an answer while it streams, at a cost per update that does not grow with the answer.

    The text so far splits into finished top-level blocks and an open tail. A block is finished once a blank line
    (outside fenced code) is followed by a line that starts a new block rather than continuing the old one
    (indented text, another item of the same list, more of the same quote continue it). Finished blocks are
    rendered once and cached; each update renders only the tail. While a ``` fence is open, the tail is rendered
    with the fence closed, so code shows as code as it arrives; a long open fence is highlighted piecewise (the
    lexer restarts at each piece, so a string spanning two may look wrong until the fence closes).

    `finish()` renders the whole text once more, from scratch: a few constructs reach across blocks (a reference
    link whose definition comes later), and one full render per answer is cheap. So the final HTML is exactly
    `render_markdown(text)`. Each fragment is sanitized on its own, so every intermediate HTML is as safe.

    Throttled displays call `follow(answer)` (or `append()`) per chunk and read `html` only when they show an
    update (see `Throttle`).
    Appending copies only the tail; building `html` is the one step that touches the whole answer (one join).
    """

    def __init__(self) -> None:
        self._text: str | None = None  # the Markdown so far, joined on demand
        self._html: str | None = None  # the current streaming render; None once the text changed
        self._final: str | None = None
        self._followed = 0  # chunks of the answer `follow()` has taken
        self._reported: tuple[str, ...] = ()
        self._restart("", [])

    @property
    def text(self) -> str:
        """The Markdown received so far."""
        if self._text is None:  # joined on demand and kept until the next append: appends stay O(delta)
            self._text = "".join([*self._head, self._tail])
        return self._text

    @property
    def html(self) -> str:
        """The current HTML (rendered now if the text changed since the last read); after `finish()`, the final one."""
        if self._final is not None:
            return self._final
        if self._html is None:
            self._scan()
            tail = self._render_tail()
            if tail and self._parts:
                tail = "\n" + tail
            self._html = "".join([_OPEN, *self._parts, tail, _CLOSE])
        return self._html

    @property
    def blocks(self) -> tuple[str, ...]:
        """Every block's HTML as of the last `update()`, each sanitized on its own; joined, the content of `html`."""
        return self._reported

    def update(self) -> BlockUpdate:
        """Render what arrived and report the blocks that changed since the previous call."""
        self._scan()
        tail = self._render_tail()
        blocks = (*self._parts, *((("\n" if self._parts else "") + tail,) if tail else ()))
        old, first = self._reported, 0
        while first < min(len(old), len(blocks)) and old[first] == blocks[first]:
            first += 1
        self._reported = blocks
        return BlockUpdate(first, blocks[first:], len(blocks))

    def append(self, text_delta: str) -> None:
        """Add text without rendering; the next read of `html` renders it."""
        if text_delta:
            self._tail += text_delta
            self._text = self._html = self._final = None

    def follow(self, answer: Completion) -> None:
        """Catch up with a streaming `answer` without rendering.

        Called after each of its chunks this appends just that chunk's delta; otherwise (a chunk the caller
        skipped, a provider that revised earlier text, a cached answer arriving whole) it takes the whole text.
        """
        last = answer.last
        if last is not None and not last.replace and answer.chunks == self._followed + 1:
            self.append(last.text)
        elif answer.chunks != self._followed or not answer.chunks:
            self.replace(answer.text)
        self._followed = answer.chunks

    def feed(self, text_delta: str) -> str:
        """Add text and return the HTML of the whole answer so far."""
        self.append(text_delta)
        return self.html

    def replace(self, full_text: str) -> str:
        """The server rewrote the answer: `full_text` is the whole of it now. Returns the HTML.

        Finished blocks whose text (and the line that closed them) did not change stay cached.
        """
        old = self.text
        if full_text.startswith(old):
            return self.feed(full_text[len(old):])
        kept, limit = 0, len(self._blocks)
        while kept < limit:  # binary search: a block's prefix unchanged => so are all earlier ones
            middle = (kept + limit + 1) // 2
            decided = self._blocks[middle - 1].decided
            if full_text[:decided] == old[:decided]:
                kept = middle
            else:
                limit = middle - 1
        self._html = self._final = None
        self._restart(full_text, self._blocks[:kept])
        return self.html

    def finish(self) -> str:
        """Render the whole answer from scratch (equal to `render_markdown(text)`) and return it."""
        if self._final is None:
            self._final = render_markdown(self.text)
        return self._final

    # Splitting. The state describes the tail (the text after the last finished block) up to `_pos`, the start of
    # the line still arriving; offsets are in the tail.

    def _restart(self, text: str, blocks: list[_Block]) -> None:
        """Keep `blocks`, which cover the start of `text` and end outside any fence, and rescan the rest."""
        done = blocks[-1].end if blocks else 0
        self._blocks = blocks
        self._parts = [block.html for block in blocks if block.html]  # the HTML of finished blocks,
        self._parts[1:] = ["\n" + part for part in self._parts[1:]]  # each after its separator
        self._head, self._tail = [text[:done]], text[done:]  # the text of finished blocks (in pieces), the rest
        self._text = text
        self._done = done  # the length of the text before the tail
        self._pos = 0
        self._fence: _OpenFence | None = None
        self._blank = False  # a blank line ended the last block of the group
        self._has_content = self._has_list = self._has_quote = False

    def _scan(self) -> None:
        while (eol := _EOL.search(self._tail, self._pos)) is not None:
            if eol.end() == len(self._tail) and eol.group() == "\r":
                break  # maybe half of a "\r\n"
            start, self._pos = self._pos, eol.end()
            self._scan_line(self._tail[start:eol.start()].expandtabs(_TAB_LENGTH), start)

    def _scan_line(self, line: str, start: int) -> None:
        if self._fence is not None:
            if line.rstrip(" ") == self._fence.marker:
                self._fence = None
            return
        if not line.strip(" "):
            self._blank = self._has_content
            return
        if self._blank and not self._continues(line):
            self._finish_group(start)
            start = 0
        self._blank = False
        self._has_content = True
        if line[0] == ">":
            self._has_quote = True
        elif _LIST_ITEM.match(line):
            self._has_list = True
        fence = _FENCE_OPEN.fullmatch(line)
        if fence:
            lang = fence.group(3) if fence.group(2) is None else _first_class(fence.group(2))
            self._fence = _OpenFence(fence.group(1), start, self._pos, lang or "", self._pos)

    def _continues(self, line: str) -> bool:
        """Does `line`, after a blank line, continue the group (merging is always safe, splitting is not)?"""
        return (
            line[0] == " "
            or (self._has_list and _LIST_ITEM.match(line) is not None)
            or (self._has_quote and line[0] == ">")
        )

    def _finish_group(self, end: int) -> None:
        """The tail's text before `end` is finished: render it once, and start the tail at `end`."""
        group, self._tail = self._tail[:end], self._tail[end:]
        self._head.append(group)
        self._done += end
        self._pos -= end
        fragment = _fragment(group)
        self._blocks.append(_Block(self._done, self._done + self._pos, fragment))
        if fragment:
            self._parts.append("\n" + fragment if self._parts else fragment)
        self._has_list = self._has_quote = False

    def _render_tail(self) -> str:
        text, fence = self._tail, self._fence
        arriving = text[self._pos:].expandtabs(_TAB_LENGTH).rstrip(" \r")
        if fence is None:
            if arriving and (not arriving[:3].strip("`") or not arriving[:3].strip("~")):
                # maybe an opening fence, half here: wait for its line rather than flash it as text
                text = text[:self._pos]
            return _fragment(text) if text else ""
        # Render with the fence closed, leaving out a closing fence that is half here.
        end = self._pos if arriving and fence.marker.startswith(arriving) else len(text)
        if end - fence.code > _CODE_PIECE:
            return self._render_long_fence(fence, end)
        text = text[:end]
        return _fragment(text + ("" if text.endswith(("\n", "\r")) else "\n") + fence.marker + "\n")

    def _render_long_fence(self, fence: _OpenFence, end: int) -> str:
        text = self._tail
        while self._pos - fence.cut > _CODE_PIECE:  # highlight settled lines, cut after a blank line if any
            blank = text.rfind("\n\n", fence.cut, self._pos)
            cut = blank + 2 if blank >= 0 else self._pos
            fence.html += highlight_lines(_code(text[fence.cut:cut], first=fence.cut == fence.code), fence.lang)
            fence.cut = cut
        if fence.head is None:
            fence.head = _fragment(text[:fence.line])
        newest = highlight_lines(_code(text[fence.cut:end], first=fence.cut == fence.code), fence.lang)
        code = code_block_open(fence.lang) + fence.html + newest
        return "\n".join(part for part in (fence.head, code + CODE_BLOCK_CLOSE) if part)


def _first_class(attributes: str) -> str:
    match = _FIRST_CLASS.search(attributes)
    return match.group(1) if match else ""


def _code(piece: str, first: bool = False) -> str:
    """A piece of fenced code as python-markdown hands it to Pygments: newlines normalized, tabs expanded."""
    piece = _EOL.sub("\n", piece).expandtabs(_TAB_LENGTH)
    return piece.lstrip("\n") if first else piece
