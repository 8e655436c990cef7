"""The panel's math typesetter: the vendored KaTeX (static/katex, see its README.md) as one ES module.

`typesetter_module()` is the source of an ES module the front end imports from a Blob URL the first time an answer
has a formula, so a panel without math never loads it and nothing is fetched from the network:

    const math = await import(URL.createObjectURL(new Blob([source], {type: "text/javascript"})));
    math.typeset(element);          // every not yet typeset .mmchat-math inside `element`, in place
    math.html(source, display);     // the KaTeX HTML of one formula as written (delimiters included): for tests

A formula element holds its LaTeX as written, delimiters included (render._math); `typeset` strips the delimiters,
renders with `trust: false` (no links, no requests, no raw HTML), bounded macro expansion and sizes, and leaves
the source in place (shown as is) when KaTeX cannot parse it. The CSS, with the woff2 fonts inlined, is added to
the document once.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path

__all__ = ["typesetter_module"]

KATEX = Path(__file__).resolve().parent.parent / "static" / "katex"
_FONT = re.compile(r"url\(fonts/([\w-]+)\.woff2\) format\(\"woff2\"\)(?:,url\(fonts/[\w-]+\.woff\) format\(\"woff\"\))?"
                   r"(?:,url\(fonts/[\w-]+\.ttf\) format\(\"truetype\"\))?")

_GLUE = r"""
const katex = module.exports;
const OPTIONS = { throwOnError: false, trust: false, strict: "ignore", maxExpand: 1000, maxSize: 30,
  output: "htmlAndMathml" };
const PAIRS = [["$$", "$$", true], ["\\[", "\\]", true], ["\\(", "\\)", false], ["$", "$", false]];

/** The LaTeX inside a formula's delimiters, and whether it is display math. */
function parse(source, display) {
  const text = source.trim();
  for (const [open, close, block] of PAIRS) {
    if (text.startsWith(open) && text.endsWith(close) && text.length >= open.length + close.length) {
      return [text.slice(open.length, text.length - close.length), block || display];
    }
  }
  return [text, true]; // \begin{env}...\end{env}: KaTeX takes the environment itself
}

export function html(source, display = false) {
  const [tex, block] = parse(source, display);
  return katex.renderToString(tex, { ...OPTIONS, displayMode: block });
}

export function typeset(root) {
  const document = root.ownerDocument;
  if (!document.getElementById("mmchat-katex-css")) {
    const style = document.createElement("style");
    style.id = "mmchat-katex-css";
    style.textContent = CSS;
    document.head.append(style);
  }
  for (const element of root.querySelectorAll(".mmchat-math:not([data-mmchat-typeset])")) {
    const source = element.textContent;
    try {
      element.innerHTML = html(source, element.classList.contains("mmchat-display"));
      element.dataset.mmchatTypeset = "1";
      element.title = source;
    } catch {
      element.dataset.mmchatTypeset = "error"; // shown as written
    }
  }
}
"""


@functools.lru_cache(maxsize=1)
def typesetter_module() -> str:
    """The ES module source (about 700 KB: KaTeX, its CSS and fonts); built once per process."""
    script = (KATEX / "katex.min.js").read_text(encoding="utf-8")
    css = _FONT.sub(_inline_font, (KATEX / "katex.min.css").read_text(encoding="utf-8"))
    return ("// KaTeX (MIT licence: mmchat_jupyter/static/katex/LICENSE), as an ES module for the ChatPanel.\n"
            "const module = { exports: {} };\nconst exports = module.exports;\n"
            f"{script}\nconst CSS = {json.dumps(css)};\n{_GLUE}")


def _inline_font(match: re.Match[str]) -> str:
    data = base64.b64encode((KATEX / "fonts" / f"{match.group(1)}.woff2").read_bytes()).decode("ascii")
    return f'url(data:font/woff2;base64,{data}) format("woff2")'
