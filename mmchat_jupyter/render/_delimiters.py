"""Where formulas start and end in text: shared by the Markdown math rules and prompt interpolation.

Pure string functions, no parser: `opener(src, pos)` says whether a display or bracket formula opens at `pos`,
`closing(...)` where it closes, and `single_dollar(...)` where `$…$` math opening at `pos` ends (None when those
dollars are money or shell, see render._math for the rule).
"""

from __future__ import annotations

import re

__all__ = ["closing", "opener", "single_dollar"]

# Environments that are math by themselves (no $ needed): what models write and MathJax/KaTeX typeset.
_ENVIRONMENTS = (
    "equation", "align", "alignat", "aligned", "alignedat", "gather", "gathered", "multline", "flalign", "split",
    "eqnarray", "cases", "dcases", "rcases", "array", "matrix", "pmatrix", "bmatrix", "Bmatrix", "vmatrix",
    "Vmatrix", "smallmatrix", "subarray",
)
_BEGIN = re.compile(r"\\begin\{(" + "|".join(_ENVIRONMENTS) + r")(\*?)\}")
_PAIRS = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}


def closing(src: str, start: int, end: int, delimiter: str) -> tuple[int, str] | None:
    """Where the formula opened by `delimiter` (which ends at `start`) closes in src[:end]: (end offset, closer)."""
    if delimiter.startswith("\\begin"):
        match = _BEGIN.match(delimiter)
        assert match is not None
        closer = f"\\end{{{match.group(1)}{match.group(2)}}}"
    else:
        closer = _PAIRS[delimiter]
    at = src.find(closer, start, end)
    return None if at < 0 else (at + len(closer), closer)


def opener(src: str, pos: int) -> str | None:
    """The display/bracket opener at `pos` ($$, \\[, \\(, \\begin{env}), if any."""
    if src.startswith("$$", pos):
        return "$$"
    if src.startswith(("\\[", "\\("), pos):
        return src[pos:pos + 2]
    if src.startswith("\\begin{", pos):
        match = _BEGIN.match(src, pos)
        return match.group(0) if match else None
    return None


def single_dollar(src: str, pos: int, end: int) -> int | None:
    """The end of `$…$` math opening at `pos`, or None when these dollars are text (see the module docstring)."""
    if pos + 1 >= end or src[pos + 1].isspace():
        return None
    at = pos + 1
    while at < end:
        char = src[at]
        if char == "\\":
            at += 2
            continue
        if char == "$":
            break
        at += 1
    else:
        return None
    if src[at - 1].isspace() or (at + 1 < end and src[at + 1].isdigit()):
        return None
    return at + 1


