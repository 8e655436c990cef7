"""The panel's vendored math typesetter (KaTeX as one ES module), run in Node: it renders the formulas models write,
offline, and a formula can produce no link, request or markup of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mmchat_jupyter.render import render_markdown, typesetter_module

FORMULAS = [
    ("$x^2$", False), ("\\(\\frac{a}{b}\\)", False), ("$$\\sum_{i=1}^n i = \\frac{n(n+1)}{2}$$", True),
    ("\\[\\sqrt{x}\\]", True), ("\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}", True),
    ("$$\\begin{aligned} x &= 1 \\\\ y &= 2 \\end{aligned}$$", True), ("\\begin{align*} a &= b \\end{align*}", True),
    ("$\\boxed{42}$", False), ("$\\text{Ответ: } 5$", False),
]
HOSTILE = [
    "$\\href{javascript:alert(1)}{x}$", "$\\url{https://evil.example/}$", "$\\includegraphics{https://evil.example/a.png}$",
    "$\\htmlClass{x}{y}$", "$\\htmlStyle{background:url(https://evil.example)}{y}$", "$<img src=x onerror=alert(1)>$",
    "$\\def\\a{\\a\\a}\\a$", "$\\rule{100000em}{100000em}$",
]


@pytest.fixture(scope="module")
def katex(tmp_path_factory) -> object:
    if shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the typesetter tests")
        pytest.skip("node is not installed")
    module = tmp_path_factory.mktemp("katex") / "typeset.mjs"
    module.write_text(typesetter_module(), encoding="utf-8")

    def render(sources: list[tuple[str, bool]]) -> list[str]:
        script = ("const m = await import(process.argv[1]); const input = JSON.parse(process.argv[2]);"
                  "console.log(JSON.stringify(input.map(([s, d]) => m.html(s, d))));")
        result = subprocess.run(["node", "--input-type=module", "-e", script, Path(module).as_uri(),
                                 json.dumps(sources)], capture_output=True, text=True, check=True, timeout=60)
        return json.loads(result.stdout)

    return render


def test_the_formulas_models_write_are_typeset(katex):
    for (source, display), html in zip(FORMULAS, katex(FORMULAS), strict=True):
        assert 'class="katex' in html and "katex-error" not in html, source
        assert ('class="katex-display"' in html) == display, source


def test_a_formula_can_produce_no_link_request_or_markup(katex):
    import re

    for source, html in zip(HOSTILE, katex([(s, False) for s in HOSTILE]), strict=True):
        tags = " ".join(re.findall(r"<[^>]*>", html))  # markup only: the formula's own text may say anything
        assert not re.search(r"<(a|img|script|iframe|object|link)\b|href=|src=|url\(|\son\w+=", tags), source


def test_the_module_is_offline_and_the_math_elements_are_what_it_reads():
    source = typesetter_module()
    assert "url(fonts/" not in source and source.count("data:font/woff2;base64,") == 20
    html = render_markdown("Inline $x$ and\n\n$$\ny\n$$")
    assert 'class="mmchat-math mathjax_process">$x$<' in html and 'mmchat-display mathjax_process">$$\ny\n$$<' in html
