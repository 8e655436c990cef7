"""The answer in flight: finished top-level blocks rendered once, only the open tail re-parsed at each update.

CommonMark decides block structure line by line and never goes back: once a new top-level block has begun, every
block before it is closed for good (only its inline content can still change, through a link reference defined
later, which `finish()` settles). So the renderer parses just the tail (the text after the last finished block);
every top-level block the parser reports there except the last is finished, rendered, cached and never parsed
again, and the tail moves on to the start of the last one.

Bounded tail: a single open block can be huge (a 5 MB paragraph, a 20,000-row table, a giant code fence or list).
Once the open block's source passes `PIECE_LIMIT` characters it is cut at a place where what follows parses as
the same kind of block on its own (a line of code, a table row, a list item, a quote's paragraph, a word in a
paragraph) into a finished piece and a continuation; a table continues under its header and delimiter rows
(whose `<thead>` is then dropped), a fence under its opening line. Pieces carry the classes `mmchat-cut` /
`mmchat-cont` so CSS can close the gaps between them. `finish()` renders the whole text in one go, so the final
blocks are exactly `render_blocks(text)`: the pieces, and anything a late reference changed, are replaced there.

No flashes of wrong structure: the line still arriving is held back while it holds only Markdown markers (`-`,
`1.`, `#`, `|`, fence characters...), which could turn the paragraph above into a heading or start something
else, and a line starting with `|` waits for the next line to say whether it heads a table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markdown_it.token import Token

from ._markdown import block_html, parse, top_level
from ._oneshot import render_blocks, wrap_html

if TYPE_CHECKING:
    from ..types import Completion

__all__ = ["PIECE_LIMIT", "BlockUpdate", "StreamingRenderer"]

PIECE_LIMIT = 2000
"""An open block whose source is longer than this (characters) is streamed in pieces."""

# A line still arriving that holds nothing but block markers so far (see the module docstring).
_MARKERS_ONLY = re.compile(r"[ \t>]*(?:\d{1,9}[.)]?)?[ \t]*[-+*=_#|:~`\t ]*")
_HEADER_LIMIT = 1000  # a `|` line longer than this is not waited for (it is no table header)
_QUOTE_LINE = re.compile(r" {0,3}>")
_THEAD = re.compile(r"<thead>.*?</thead>\n?", re.DOTALL)
_CUT, _CONT = "mmchat-cut", "mmchat-cont"


@dataclass(frozen=True)
class BlockUpdate:
    """What changed in the rendered answer: blocks[first:] are now `blocks` (and there are `total` blocks).

    The first `finished` blocks are final: they change only if the provider rewrites earlier text, or in the
    update after `finish()` (see the module docstring). The others are the open tail.
    """

    first: int
    blocks: tuple[str, ...]
    finished: int

    @property
    def total(self) -> int:
        return self.first + len(self.blocks)


@dataclass(frozen=True)
class _Context:
    """What the tail continues: nothing, or a block streamed in pieces (with the lines to parse before the tail)."""

    continued: bool = False
    prefix: str = ""  # a fence's opening line, or a table's header and delimiter rows
    table: bool = False


@dataclass(frozen=True)
class _Mark:
    """The state after a finished block: where the tail starts, what decided it, what the tail continues."""

    end: int  # offset (in the normalized text) where the tail starts after this block
    decided: int  # the text up to here was known when the block was finished
    context: _Context
    references: int  # how many link references were known


@dataclass
class _State:
    html: list[str] = field(default_factory=list)  # finished blocks
    marks: list[_Mark] = field(default_factory=list)  # one per finished block
    head: list[str] = field(default_factory=list)  # normalized text of the finished blocks, in pieces
    done: int = 0  # its length
    tail: str = ""  # normalized text after it
    context: _Context = _Context()
    references: dict[str, Any] = field(default_factory=dict)


def _normalize(text: str) -> str:
    """What markdown-it's normalize step does, so offsets here are the parser's."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")


def _line_starts(text: str, upto: int) -> list[int]:
    """Offsets of the starts of lines 0..upto of `text` (fewer if it has fewer lines)."""
    starts = [0]
    at = 0
    while len(starts) <= upto:
        at = text.find("\n", at) + 1
        if at == 0:
            break
        starts.append(at)
    return starts


class StreamingRenderer:
    """Render an answer while it streams, at a cost per update that does not grow with the answer.

        renderer = StreamingRenderer()
        for chunk in stream:
            renderer.append(chunk.text)          # or renderer.follow(answer): no rendering yet
            if throttle.ready():
                show(renderer.update())          # BlockUpdate: blocks[first:] changed
        renderer.finish()                        # the text is final ...
        show(renderer.update())                  # ... and this reports against render_blocks(text)

    Every block's HTML is balanced and sanitized on its own; "".join(blocks) after `finish()` is exactly the
    content of `render_markdown(text)`. See the module docstring for how the tail stays bounded.
    """

    def __init__(self) -> None:
        self._raw: list[str] = []
        self._raw_text: str | None = ""
        self._cr = ""  # a "\r" that may be the first half of "\r\n"
        self._state = _State()
        self._tail_html: list[str] = []
        self._fresh = True  # the tail's HTML is up to date
        self._final: list[str] | None = None
        self._shown: list[str] = []  # the blocks as of the previous update()
        self._stable = 0  # how many of them are known to be unchanged
        self._followed = 0

    # -- taking text ------------------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The Markdown received so far."""
        if self._raw_text is None:  # joined on demand: appends stay O(delta)
            self._raw_text = "".join(self._raw)
            self._raw = [self._raw_text]
        return self._raw_text

    def append(self, text_delta: str) -> None:
        """Add text without rendering; the next `update()` renders it."""
        if not text_delta:
            return
        self._raw.append(text_delta)
        if self._final is not None:  # more text after finish(): streaming resumes, the final blocks are void
            self._final, self._stable = None, 0
        self._raw_text = None
        text = self._cr + text_delta
        self._cr = "\r" if text.endswith("\r") else ""
        self._state.tail += _normalize(text[:-1] if self._cr else text)
        self._fresh = False

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

    def replace(self, full_text: str) -> None:
        """The provider rewrote the answer: `full_text` is the whole of it now.

        Finished blocks whose text (and the text that decided them) did not change stay; the next update()
        reports from the first block that did.
        """
        old = self.text
        if full_text.startswith(old):
            self.append(full_text[len(old):])
            return
        state, new = self._state, _normalize(full_text)
        old_norm = "".join(state.head) + state.tail
        kept = 0
        while kept < len(state.marks) and new[:state.marks[kept].decided] == old_norm[:state.marks[kept].decided]:
            kept += 1
        marks = state.marks[:kept]
        mark = marks[-1] if marks else _Mark(0, 0, _Context(), 0)
        references = dict(list(state.references.items())[:mark.references])
        self._state = _State(state.html[:kept], marks, [new[:mark.end]], mark.end, new[mark.end:], mark.context,
                             references)
        self._raw, self._raw_text, self._cr = [full_text], full_text, ""
        self._stable = min(self._stable, kept)
        self._final, self._fresh = None, False
        if full_text.endswith("\r"):  # keep "\r\n" split across this text and the next delta as one line break
            self._state.tail = self._state.tail[:-1]
            self._cr = "\r"

    # -- reporting --------------------------------------------------------------------------------------------

    @property
    def blocks(self) -> tuple[str, ...]:
        """The HTML of every block now (the final blocks after `finish()`)."""
        if self._final is not None:
            return tuple(self._final)
        self._advance()
        return (*self._state.html, *self._tail_html)

    @property
    def html(self) -> str:
        """The whole answer so far as one HTML string (wrapped); O(answer), for callers that need it whole."""
        return wrap_html("".join(self.blocks))

    def update(self) -> BlockUpdate:
        """Render what arrived and report which blocks changed since the previous `update()`.

        Costs O(tail): blocks that were finished at the previous update are not looked at again (unless the
        text was rewritten, or finished).
        """
        stable = min(self._stable, len(self._shown))
        if self._final is not None:
            blocks, finished = self._final[stable:], len(self._final)
        else:
            self._advance()
            finished = len(self._state.html)
            blocks = [*self._state.html[stable:], *self._tail_html]
        shown = self._shown
        first, limit = stable, min(stable + len(blocks), len(shown))
        while first < limit and blocks[first - stable] == shown[first]:
            first += 1
        shown[first:] = blocks[first - stable:]
        self._stable = finished
        return BlockUpdate(first, tuple(shown[first:]), finished)

    def finish(self) -> str:
        """The text is final: render it whole (== `render_markdown(text)`) and return that HTML.

        The next `update()` reports the difference between the streamed blocks and the final ones.
        """
        if self._final is None:
            if self._cr:
                self._state.tail += "\n"
                self._cr = ""
            self._final = render_blocks(self.text)
            self._stable = 0
        return wrap_html("".join(self._final))

    # -- the tail ---------------------------------------------------------------------------------------------

    def _advance(self) -> None:
        if self._fresh:
            return
        self._fresh = True
        text, tokens, ranges, env = self._parse_tail()
        open_from = len(ranges) - 1
        if ranges and tokens[ranges[-1][0]].meta.get("unclosed"):
            open_from -= 1  # display math still open: it may yet turn out to be inside the paragraph before it
        if open_from > 0:
            finished = [self._render(tokens[first:last], env, first == 0) for first, last in ranges[:open_from]]
            start = _line_starts(text, tokens[ranges[open_from][0]].map[0])[-1]  # type: ignore[index]
            self._state.references = env["references"]
            self._settle(finished, text, start, _Context())
            text, tokens, ranges, env = self._parse_tail()
        if ranges and self._cut(text, tokens, ranges[-1], env):
            text, tokens, ranges, env = self._parse_tail()
        self._tail_html = [self._render(tokens[first:last], env, first == 0) for first, last in ranges]

    def _parse_tail(self) -> tuple[str, list[Token], list[tuple[int, int]], dict[str, Any]]:
        state = self._state
        text = state.context.prefix + _settled(state.tail)
        env: dict[str, Any] = {"references": dict(state.references), "streaming": True}
        tokens = parse(text, env)
        return text, tokens, list(top_level(tokens)), env

    def _render(self, tokens: list[Token], env: dict[str, Any], first: bool, piece: bool = False) -> str:
        """A block's HTML; the tail's first block continues a block in pieces when the context says so."""
        context = self._state.context
        continues = first and context.continued
        classes = " ".join(name for name, on in ((_CUT, piece), (_CONT, continues)) if on)
        html = block_html(tokens, env, classes)
        return _THEAD.sub("", html, count=1) if continues and context.table else html

    def _settle(self, finished: list[str], text: str, start: int, context: _Context) -> None:
        """`finished` blocks are done and the tail now starts at `text[start:]` (text = context prefix + tail)."""
        state = self._state
        decided = state.done + len(state.tail)
        cut = start - len(state.context.prefix)
        state.head.append(state.tail[:cut])
        state.done += cut
        state.tail = state.tail[cut:]
        state.context = context
        for html in finished:
            state.html.append(html)
            state.marks.append(_Mark(state.done, decided, context, len(state.references)))

    def _cut(self, text: str, tokens: list[Token], block: tuple[int, int], env: dict[str, Any]) -> bool:
        """Cut the open block into a finished piece and a continuation if it is too long; True if it did."""
        first, last = block
        opening = tokens[first]
        begin_line = opening.map[0]  # type: ignore[index]
        starts = _line_starts(text, 1 << 62)
        begin = starts[begin_line]
        if len(text) - begin <= PIECE_LIMIT:
            return False
        last_line = len(starts) - 1 if starts[-1] < len(text) else len(starts) - 2
        floor = max(begin_line, self._state.context.prefix.count("\n"))  # never cut inside the context lines
        kind = opening.type
        cut_line, context = None, _Context(continued=True)
        if kind == "fence" and last_line > max(begin_line + 1, floor):
            cut_line, context = last_line, _Context(True, text[begin:starts[begin_line + 1]])
        elif kind == "table_open" and last_line > max(begin_line + 2, floor):
            cut_line, context = last_line, _Context(True, text[begin:starts[begin_line + 2]], table=True)
        elif kind in ("bullet_list_open", "ordered_list_open", "blockquote_open"):
            lines = [token.map[0] for token in tokens[first + 1:last]
                     if token.level == 1 and token.nesting == 1 and token.map is not None and token.map[0] > floor
                     and (kind != "blockquote_open" or _QUOTE_LINE.match(text, starts[token.map[0]]))]
            cut_line = lines[-1] if lines else None
        elif kind == "code_block":
            cut_line = last_line if last_line > floor else None
        elif kind == "paragraph_open":
            lines = [line for line in range(last_line, floor, -1) if text[starts[line]:starts[line] + 1].isalpha()]
            cut_line = lines[0] if lines else None
            if cut_line is None:
                return self._cut_words(text, begin, starts[last_line], env)
        if cut_line is None:
            return False
        closing = "\n" + opening.markup + "\n" if kind == "fence" else ""
        piece = self._piece(text[begin:starts[cut_line]] + closing, env, begin_line == 0)
        self._settle([piece], text, starts[cut_line], context)
        return True

    def _cut_words(self, text: str, begin: int, line_start: int, env: dict[str, Any]) -> bool:
        """A paragraph with no line to cut at: cut its last line before a word (never before a marker)."""
        at = len(text) - 1
        while True:
            at = text.rfind(" ", line_start, at)
            if at <= line_start:
                return False
            if text[at + 1].isalpha():
                break
        piece = self._piece(text[begin:at + 1], env, begin == 0)
        self._settle([piece], text, at + 1, _Context(continued=True))
        return True

    def _piece(self, source: str, env: dict[str, Any], first: bool) -> str:
        """The HTML of a finished piece of the open block (`source` parses as that block on its own)."""
        return self._render(parse(source, env), env, first, piece=True)


def _settled(tail: str) -> str:
    """The tail without the line still arriving when that line could still change what the lines above mean."""
    start = tail.rfind("\n") + 1
    arriving = tail[start:]
    if arriving and _MARKERS_ONLY.fullmatch(arriving):
        tail, arriving = tail[:start], ""
    # A `|` line right after a non-`|` line may head a table: wait for the line that says.
    line_start = tail.rfind("\n", 0, len(tail) - 1) + 1 if not arriving else start
    line = tail[line_start:]
    if line.lstrip(" ").startswith("|") and len(line) < _HEADER_LIMIT:
        before = tail.rfind("\n", 0, max(line_start - 1, 0)) + 1
        previous = tail[before:line_start] if line_start else ""
        if not previous.lstrip(" ").startswith("|"):
            return tail[:line_start]
    return tail
