"""Math in answers: `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]` and `\\begin{env}…\\end{env}` kept as LaTeX source.

Two markdown-it rules find math before Markdown can touch it (backslashes, underscores and asterisks in a formula
are LaTeX, not Markdown), and the renderer writes each formula as its source text, delimiters included, escaped,
in an element marked as math:

    <span class="mmchat-math mathjax_process">$x^2$</span>                       inline
    <span class="mmchat-math mmchat-display mathjax_process">\\[x^2\\]</span>      display inside a paragraph
    <div class="mmchat-math mmchat-display mathjax_process">$$…$$</div>           display on lines of its own

`mathjax_process` is the class JupyterLab's MathJax looks for inside the answer's `mathjax_ignore` wrapper, so
`%%chat` output is typeset by the host and nothing outside formulas is (money stays text); the panel typesets the
same elements with the vendored KaTeX. Exports keep the source as written.

Money: a `$` opens inline math only if a non-space follows it, and the next unescaped `$` closes it only if a
non-space precedes it and no digit follows it (Pandoc's rule, which GitHub follows too); otherwise both are text.
So `costs $5 and $10` stays text, `$x$` and `$5$` are math.
"""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from ._delimiters import closing, opener, single_dollar

__all__ = ["math_plugin"]

MATH_CLASS = "mmchat-math"
DISPLAY_CLASS = "mmchat-display"
PROCESS_CLASS = "mathjax_process"

def math_inline(state: StateInline, silent: bool) -> bool:
    src, pos, end = state.src, state.pos, state.posMax
    char = src[pos]
    if char not in "$\\":
        return False
    start = opener(src, pos)
    if start is not None:
        found = closing(src, pos + len(start), end, start)
        if found is None or found[0] == pos + 2 * len(start):  # nothing between: "$$$$" is not a formula
            return False
        close, display = found[0], start != "\\("
    elif char == "$":
        single = single_dollar(src, pos, end)
        if single is None:
            return False
        close, display = single, False
    else:
        return False
    if not silent:
        token = state.push("math_inline", "", 0)
        token.content = src[pos:close]
        token.meta = {"display": display}
    state.pos = close
    return True


def math_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Display math on lines of its own: the opener starts a line, the closer ends one (blank lines end the search).

    While an answer streams (env["streaming"]), a formula whose closer has not arrived yet runs to the end, as an
    unclosed code fence does, so it never flashes as a paragraph of LaTeX (meta "unclosed": the block before it
    is not known to be finished either, since the closer may yet be followed by text, making it all one paragraph).
    """
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False
    src = state.src
    pos = state.bMarks[start_line] + state.tShift[start_line]
    start = opener(src, pos)
    if start is None or start == "\\(":
        return False
    line = start_line
    search = pos + len(start)
    unclosed = False
    while True:
        found = closing(src, search, state.eMarks[line], start)
        if found is not None:
            if src[found[0]:state.eMarks[line]].strip():
                return False  # text after the closer: a formula inside a paragraph, the inline rule's
            break
        line += 1
        if line >= end_line or state.isEmpty(line) or state.sCount[line] < state.blkIndent:
            if not (state.env.get("streaming") and line >= end_line):
                return False
            line -= 1
            unclosed = True
            break
        search = state.bMarks[line] + state.tShift[line]
    if silent:
        return True
    token = state.push("math_block", "div", 0)
    token.content = state.getLines(start_line, line + 1, state.blkIndent, False).strip()
    token.map = [start_line, line + 1]
    token.block = True
    token.meta = {"unclosed": unclosed}
    state.line = line + 1
    return True


def _classes(display: bool) -> str:
    return f"{MATH_CLASS} {DISPLAY_CLASS} {PROCESS_CLASS}" if display else f"{MATH_CLASS} {PROCESS_CLASS}"


def _render_inline(self: object, tokens: Sequence[Token], idx: int, options: object, env: object) -> str:
    token = tokens[idx]
    return f'<span class="{_classes(bool(token.meta.get("display")))}">{escapeHtml(token.content)}</span>'


def _render_block(self: object, tokens: Sequence[Token], idx: int, options: object, env: object) -> str:
    return f'<div class="{_classes(True)}">{escapeHtml(tokens[idx].content)}</div>\n'


def math_plugin(md: MarkdownIt) -> None:
    """Add the math rules to `md` (before escapes, so `\\(` is math, not an escaped parenthesis)."""
    md.inline.ruler.before("escape", "math_inline", math_inline)
    md.block.ruler.before("fence", "math_block", math_block,
                          {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.add_render_rule("math_inline", _render_inline)
    md.add_render_rule("math_block", _render_block)
