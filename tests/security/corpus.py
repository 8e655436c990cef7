"""The third-party payload corpus (tests/data/xss-corpus/, see SOURCES.md there) and the judge of what comes out.

    payloads()              every distinct payload: (source, text), in a fixed order
    hazards(html)           what in an HTML document could run script or load something without a click,
                            judged on the tree a WHATWG-conformant parser (lexbor) builds, as a browser would
    markdown_hazards(md)    the same for Markdown, as two independent CommonMark renderers that pass raw HTML
                            show it (markdown-it-py, as in VS Code; mistune, as in nbconvert; JupyterLab's marked
                            is checked in a real JupyterLab by tests/e2e/test_export_safety.py)

The judge is written from what browsers do, not from our sanitizer's allow-list: a different policy that is also
safe passes, and a sanitizer that lets anything executable or fetching through fails.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import NamedTuple

import mistune
from markdown_it import MarkdownIt
from selectolax.lexbor import LexborHTMLParser

CORPUS = Path(__file__).parents[1] / "data" / "xss-corpus"


class Payload(NamedTuple):
    source: str
    text: str


@functools.cache
def payloads() -> tuple[Payload, ...]:
    found: dict[str, str] = {}
    for path in sorted((CORPUS / "payloadsallthethings").glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            if line.strip():
                found.setdefault(_valid(line), f"payloadsallthethings/{path.name}")
    for item in json.loads((CORPUS / "h5sc" / "items.json").read_text(encoding="utf-8")):
        found.setdefault(item["data"], f"h5sc/{item['id']}")
    for path in sorted((CORPUS / "markdown-sanitizers" / "bypass-attempts").glob("*.md")):
        found.setdefault(path.read_text(encoding="utf-8"), f"markdown-sanitizers/{path.name}")
    return tuple(Payload(source, text) for text, source in found.items())


def _valid(text: str) -> str:
    """Text a provider could send: undecodable bytes (a few lists hold Latin-1) as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


#: Elements that run script, embed another document, redirect, or change how the page loads things.
_ACTIVE = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "meta", "portal",
    "noscript", "template", "xml", "import", "fencedframe",
}
#: Attributes whose value the browser fetches on its own (or, srcdoc, renders as a document).
_FETCHING = {
    "src", "srcset", "poster", "background", "data", "codebase", "archive", "lowsrc", "dynsrc", "ping", "srcdoc",
    "manifest", "icon", "action", "formaction", "xlink:href", "longdesc", "imagesrcset",
}
#: Elements where `href` is fetched or used without a click (SVG images and references, feImage, ...).
_HREF_FETCH = {"image", "use", "feimage", "script", "link", "tref", "animate", "set", "animatemotion"}
#: Attributes that hold a URL (or, for SVG animation, a value an href takes).
_URL_VALUED = {"href", "xlink:href", "to", "from", "values", "by", "cite", "formaction", "action", "src", "data"}
_SCRIPT_URL = re.compile(r"^(?:javascript|vbscript|livescript|mocha|data):", re.IGNORECASE | re.ASCII)
_CSS_FETCH = re.compile(r"url\s*\(|@import|image-set|expression\s*\(|behavior\s*:|-moz-binding", re.IGNORECASE)
#: The WHATWG URL parser strips leading and trailing C0 controls and spaces and removes every tab and newline.
_URL_TRIM = "".join(map(chr, range(0x21)))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")


def hazards(html: str) -> list[str]:
    """Everything in `html` that could execute or fetch without a click (empty: inert)."""
    found: list[str] = []
    tree = LexborHTMLParser(html)
    for node in tree.root.traverse(include_text=False) if tree.root else ():
        tag = (node.tag or "").lower()
        if tag in ("html", "head", "body", "-text", "_comment"):
            continue
        if tag in _ACTIVE and not (tag == "meta" and _inert_meta(node.attributes)):
            found.append(f"<{tag}> element")
        if tag == "style" and _CSS_FETCH.search(node.text(deep=True)):
            found.append("<style> that loads")
        for raw_name, raw_value in node.attributes.items():
            name, value = raw_name.lower(), raw_value or ""
            compact = _TAB_NEWLINE.sub("", value.strip(_URL_TRIM))
            if name.startswith("on"):
                found.append(f"<{tag} {name}> event handler")
            elif name == "style" and _CSS_FETCH.search(value):
                found.append(f"<{tag} style> that loads")
            elif name in _FETCHING or (name == "href" and tag in _HREF_FETCH):
                found.append(f"<{tag} {name}> fetches")
            elif name in _URL_VALUED and _SCRIPT_URL.match(compact):
                found.append(f"<{tag} {name}={value[:40]!r}> script URL")
            elif name == "is":
                found.append(f"<{tag} is>")
    return found


def _inert_meta(attributes: dict[str, str | None]) -> bool:
    """`<meta charset>` or `<meta name content>` (a page's own head), not http-equiv (refresh, CSP, cookies)."""
    return set(attributes) <= {"charset", "name", "content"} and "http-equiv" not in attributes


@functools.cache
def _renderers() -> tuple:
    it = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    mist = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])
    return (it.render, mist)


def markdown_hazards(text: str) -> list[str]:
    """hazards() of `text` rendered by markdown-it and by mistune (CommonMark + GFM tables), raw HTML on, as a
    Markdown viewer that trusts its input would show it; images count as loads."""
    found: list[str] = []
    for render in _renderers():
        html = str(render(text))
        found += hazards(html)
        found += [f"<img> from Markdown: {m[:60]!r}" for m in re.findall(r"<img\b[^>]*>", html)]
    return found
