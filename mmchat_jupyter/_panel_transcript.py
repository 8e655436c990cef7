"""The transcript a ChatPanel leaves in the notebook: what a saved notebook shows without the kernel.

A widget view cannot fall back to another representation in JupyterLab: with its model gone (a kernel restart, a
notebook reopened) it shows "Error displaying widget: model not found", or nothing at all. So the panel displays a
second output beside itself, updated after every change: the newest messages as static HTML (the answers' HTML is
render.py's sanitized HTML, the questions are escaped text, nothing else is added but fixed markup) and as plain
text. nbconvert, GitHub and a notebook opened after a restart show it; while the panel is live in the page, its
front end hides it (a style rule keyed by the panel's id), so the conversation is not shown twice.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .i18n import _, ngettext

#: How many of the newest messages the transcript keeps (it is saved in the notebook: keep it a reasonable size).
MESSAGES = 30

#: The class of the transcript's outer element; `data-mmc-panel` on it holds the panel's id.
CLASS = "mmc-transcript"


def bundle(panel_id: str, chat_name: str, views: Sequence[dict[str, Any]], total: int) -> dict[str, str]:
    """The transcript's MIME bundle: text/html and text/plain."""
    views = list(views)[-MESSAGES:]
    if not views:
        title = _("Chat “{name}”: no messages yet.").format(name=chat_name)
    elif total > len(views):
        # TRANSLATORS: the plural form follows {total}; {n} is always more than one.
        title = ngettext("Chat “{name}”: the last {n} of {total} message.",
                         "Chat “{name}”: the last {n} of {total} messages.", total)
        title = title.format(name=chat_name, n=len(views), total=total)
    else:
        title = _("Chat “{name}”.").format(name=chat_name)
    parts = [f'<div class="{CLASS}" data-mmc-panel="{html.escape(panel_id)}">', f"<p><em>{html.escape(title)}</em></p>"]
    lines = [title]
    for view in views:
        if view["role"] == "user":
            who = _("You")
            parts.append(f"<p><strong>{html.escape(who)}</strong></p>")
            paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in _paragraphs(view["text"]))
            parts.append(f"<blockquote>{paragraphs}</blockquote>")
        else:
            who = _("Assistant")
            facts = " · ".join(fact for fact in (view.get("meta"), view.get("badge")) if fact)
            shown_facts = f" · {html.escape(facts)}" if facts else ""
            parts.append(f"<p><strong>{html.escape(who)}</strong>{shown_facts}</p>")
            parts.append(view.get("html") or f"<p>{html.escape(view.get('error') or '')}</p>")
            who += f" ({facts})" if facts else ""
        lines += ["", f"{who}:", view["text"] or view.get("error") or ""]
    parts.append("</div>")
    return {"text/html": "\n".join(parts), "text/plain": "\n".join(lines)}


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()] or [text]
