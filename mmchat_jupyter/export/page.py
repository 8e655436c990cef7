"""The HTML export: one standalone page that reads well offline, in light and dark mode.

Message text goes through `render_markdown`, which sanitizes it (model output is untrusted); everything else on
the page is our own template with escaped values. No scripts, no external assets: the styles, the code
highlighting CSS included, are inlined. `pygments_css()` switches to dark under JupyterLab's dark themes; a page
outside JupyterLab follows the reader's system instead, so the dark highlight rules are repeated inside a
`prefers-color-scheme: dark` block, where they win by coming later.
"""

from __future__ import annotations

from html import escape

from ..i18n import get_language
from ..render import pygments_css, render_markdown
from ..types import ChatRecord
from .transcript import Entry, entries, title

#: Pygments style for dark mode: the same one JupyterLab's dark themes get from `pygments_css`.
DARK_STYLE = "monokai"

#: The page's own styles; colours are variables so that one block switches them for dark mode.
PAGE_CSS = """\
:root { --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --user-bg: #f1f5fb; --answer-bg: #ffffff;
  --border: #d1d9e0; --note: #9a6700; --code-bg: #f6f8fa; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --user-bg: #151b23; --answer-bg: #0d1117;
    --border: #3d444d; --note: #d29922; --code-bg: #151b23; }
}
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 52rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
.about { color: var(--muted); margin: 0 0 1.5rem; }
article { border: 1px solid var(--border); border-radius: 8px; padding: .75rem 1rem; margin: 0 0 1rem;
  background: var(--answer-bg); }
article.user, article.system { background: var(--user-bg); }
article > h2 { font-size: .85rem; font-weight: 600; color: var(--muted); margin: 0 0 .5rem; }
.mmchat-md > :first-child { margin-top: 0; }
.mmchat-md > :last-child { margin-bottom: 0; }
.note { color: var(--note); font-size: .9rem; margin: .5rem 0 0; }
.highlight { border-radius: 6px; }
pre { padding: .75rem; overflow-x: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
:not(pre) > code { background: var(--code-bg); padding: .1em .3em; border-radius: 4px; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid var(--border); padding: .3rem .6rem; }
img { max-width: 100%; }
"""


def _article(entry: Entry) -> str:
    body = render_markdown(entry.content) if entry.content else ""
    notes = "".join(f'<p class="note">{escape(note)}</p>\n' for note in entry.notes)
    return (
        f'<article class="{escape(entry.role)}">\n<h2>{escape(entry.heading)}</h2>\n'
        f"{body}\n{notes}</article>"
    )


def to_html(chat: ChatRecord) -> str:
    """The chat as a standalone HTML document."""
    name, line = title(chat)
    articles = "\n".join(_article(entry) for entry in entries(chat))
    return f"""<!DOCTYPE html>
<html lang="{escape(get_language())}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mmchat-jupyter">
<title>{escape(name)}</title>
<style>
{PAGE_CSS}{pygments_css()}
@media (prefers-color-scheme: dark) {{
{pygments_css(DARK_STYLE, DARK_STYLE)}}}
</style>
</head>
<body>
<main>
<h1>{escape(name)}</h1>
<p class="about">{escape(line)}</p>
{articles}
</main>
</body>
</html>
"""
