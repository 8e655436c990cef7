"""render_markdown, pygments_css and Throttle: what a normal answer looks like once rendered."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mmchat_jupyter.render import Throttle, pygments_css, render_blocks, render_markdown, wrap_html

PYTHON_ANSWER = """Here is the function:

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```
"""


WRAP = '<div class="mmchat-md mathjax_ignore">'


def test_output_is_one_wrapper_div_around_the_blocks():
    assert render_markdown("Hello") == WRAP + "<p>Hello</p>\n</div>"
    text = "# T\n\nPara\n\n- a\n- b\n"
    assert render_blocks(text) == ["<h1>T</h1>\n", "<p>Para</p>\n", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"]
    assert render_markdown(text) == wrap_html("".join(render_blocks(text)))


def test_python_code_is_highlighted_with_classes_in_a_box_that_survives_host_css():
    html = render_markdown(PYTHON_ANSWER)
    assert ('<div class="highlight" style="background:rgba(127,127,127,.1);border:1px solid rgba(127,127,127,.25);'
            'border-radius:6px;margin:0 0 1em;overflow-x:auto"><pre style="margin:0;padding:.6em .8em;'
            'background:transparent;line-height:1.45"><code class="language-python" '
            'style="background:transparent;padding:0;border:0">') in html
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">greet</span>' in html


def test_code_language_alias_and_tilde_fences():
    html = render_markdown("~~~js\nlet x = 1;\n~~~")
    assert 'class="language-js"' in html and '<span class="kd">let</span>' in html


@pytest.mark.parametrize("fence", ["```", "```nosuchlang"])
def test_unknown_or_missing_language_is_plain_escaped_code(fence):
    html = render_markdown(f"{fence}\nimport os\nif a < b: pass\n```")
    assert "<span" not in html  # no guessing: plain text
    assert "import os\nif a &lt; b: pass" in html
    assert '<code class="language-' in html


def test_indented_code_block_is_plain_code():
    html = render_markdown("Text:\n\n    x = <1>\n")
    assert ">x = &lt;1&gt;\n</code></pre>" in html and "<code class=\"language-text\"" in html


def test_tables_align_cells_with_inline_styles_that_beat_jupyterlab_css():
    html = render_markdown("| Name | Qty | Note |\n|:-----|----:|---|\n| яблоко | 3 | x |\n")
    assert '<table style="margin:0 0 1em;table-layout:auto;border-collapse:collapse">' in html
    assert "<thead>" in html and "<tbody>" in html
    assert '<th style="text-align:left">Name</th>' in html
    assert '<td style="text-align:right">3</td>' in html
    assert '<td style="text-align:left">x</td>' in html  # unaligned reads left to right (JupyterLab: right)


def test_lists_render():
    html = render_markdown("- one\n- two\n\n1. first\n2. second\n\n    more\n")
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<ol>\n<li>\n<p>first</p>\n</li>\n<li>\n<p>second</p>\n<p>more</p>\n</li>\n</ol>" in html
    assert '<ol start="3">' in render_markdown("3. third\n4. fourth")


def test_headings_and_inline_formatting():
    html = render_markdown("# Title\n\n## Sub\n\n###### Six\n\n**bold** *em* `code`\n\n---\n\n> quoted")
    for fragment in ("<h1>Title</h1>", "<h2>Sub</h2>", "<h6>Six</h6>", "<strong>bold</strong>", "<em>em</em>",
                     "<code>code</code>", "<hr>", "<blockquote>"):
        assert fragment in html


def test_cyrillic_round_trips():
    text = "Привет, мир! Ёлка, щука, ъ — «кавычки»."
    assert render_markdown(text) == f"{WRAP}<p>{text}</p>\n</div>"


def test_no_nl2br_single_newline_stays_in_the_paragraph():
    assert render_markdown("one\ntwo") == f"{WRAP}<p>one\ntwo</p>\n</div>"
    assert "<br>" in render_markdown("one  \ntwo")  # Markdown's own hard break still works


def test_links_get_rel_and_target():
    html = render_markdown("[site](https://example.com/a?b=1&c=2 \"Title\") and <https://example.org>")
    assert ('<a href="https://example.com/a?b=1&amp;c=2" title="Title" target="_blank" '
            'rel="noopener noreferrer nofollow">site</a>') in html
    assert 'href="https://example.org"' in html


def test_mailto_autolink_survives():
    assert 'href="mailto:me@example.com"' in render_markdown("<me@example.com>")


def test_reference_links_resolve():
    html = render_markdown("See [docs][d].\n\n[d]: https://example.com/docs")
    assert 'href="https://example.com/docs"' in html


def test_images_become_links():
    html = render_markdown("![a chart](https://example.com/chart.png)")
    assert "<img" not in html
    link = '<a href="https://example.com/chart.png" target="_blank" rel="noopener noreferrer nofollow">a chart</a>'
    assert link in html


def test_raw_html_is_text():
    expected = f"{WRAP}<p>1 &lt; 2 and &lt;b&gt;x&lt;/b&gt;</p>\n</div>"
    assert render_markdown("1 < 2 and <b>x</b>") == expected


def test_entities_still_work():
    assert render_markdown("&copy; &amp;") == f"{WRAP}<p>© &amp;</p>\n</div>"


def test_pygments_css_is_scoped_for_light_and_dark():
    css = pygments_css()
    lines = [line for line in css.splitlines() if line.strip()]
    assert all(line.startswith((".mmchat-md .highlight", '[data-jp-theme-light="false"] .mmchat-md .highlight'))
               for line in lines)
    assert ".mmchat-md .highlight .k {" in css
    assert '[data-jp-theme-light="false"] .mmchat-md .highlight .k {' in css
    assert "url(" not in css and "@import" not in css
    assert pygments_css("friendly", "dracula") != css


def test_pygments_css_unknown_style():
    from pygments.util import ClassNotFound

    with pytest.raises(ClassNotFound):
        pygments_css("no-such-style")


# --- Throttle ----------------------------------------------------------------------------------------------------


def test_throttle_first_at_once_then_at_most_every_interval():
    throttle = Throttle(0.125)  # binary fractions: no rounding in the arithmetic below
    assert throttle.ready(now=100.0)
    assert not throttle.ready(now=100.0625)
    assert not throttle.ready(now=100.124)
    assert throttle.ready(now=100.125)
    assert not throttle.ready(now=100.2)
    assert throttle.ready(now=100.5)


def test_throttle_rate_under_a_chunk_flood():
    throttle = Throttle(0.1)
    sent = sum(throttle.ready(now=i / 200) for i in range(200 * 10))  # 200 chunks/s for 10 s
    assert 95 <= sent <= 101


def test_throttle_uses_the_monotonic_clock_by_default():
    throttle = Throttle(60)
    assert throttle.ready()
    assert not throttle.ready()


def test_throttle_rejects_negative_interval():
    with pytest.raises(ValueError, match="interval must be >= 0"):
        Throttle(-1)


@pytest.mark.parametrize("module", ["mmchat_jupyter", "mmchat_jupyter._throttle"])
def test_renderer_is_not_imported_with_the_package_or_the_throttle(module):
    heavy = "{'mmchat_jupyter.render', 'markdown_it', 'nh3'}"
    code = f"import sys, {module}; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- math ----------------------------------------------------------------------------------------------------------

INLINE = '<span class="mmchat-math mathjax_process">'
DISPLAY = '<span class="mmchat-math mmchat-display mathjax_process">'
BLOCK = '<div class="mmchat-math mmchat-display mathjax_process">'


@pytest.mark.parametrize(("text", "expected"), [
    ("Let $x_1 = a_1 * b_2$ and $y$.", f"{INLINE}$x_1 = a_1 * b_2$</span>"),
    ("Then \\(\\mathbf{x}_i^*\\) holds", f"{INLINE}\\(\\mathbf{{x}}_i^*\\)</span>"),
    ("so \\[a_1 + b_1\\] and on", f"{DISPLAY}\\[a_1 + b_1\\]</span>"),
    ("where $$\\sum_{i=1}^n i$$ is", f"{DISPLAY}$$\\sum_{{i=1}}^n i$$</span>"),
    ("Escaped: $\\$5 + \\{a\\}$", f"{INLINE}$\\$5 + \\{{a\\}}$</span>"),
    ("$a<b>c$", f"{INLINE}$a&lt;b&gt;c$</span>"),
])
def test_inline_math_is_latex_source_untouched_by_markdown(text, expected):
    assert expected in render_markdown(text)


@pytest.mark.parametrize("text", [
    "It costs $5 and $10.", "Between $5-$10 a month", "$HOME and $PATH", "A $ sign, then $ another",
    "US$100 or $200", "echo `$x$` and", "```sh\necho $a $b\n```",
])
def test_money_shell_and_code_dollars_stay_text(text):
    assert "mmchat-math" not in render_markdown(text)


def test_display_math_on_its_own_lines_is_a_block_even_with_markdown_lookalikes():
    text = "Solve:\n$$\n\\begin{aligned}\nx &= 1 \\\\\n- y &= 2 \\\\\n# z &= 3\n1. w &= 4\n\\end{aligned}\n$$\n"
    text += "so it is."
    html = render_markdown(text)
    formula = text[text.index("$$"):text.rindex("$$") + 2]
    assert f"{BLOCK}{formula.replace('&', '&amp;')}</div>" in html
    assert "<li>" not in html and "<h1>" not in html  # lines inside a formula are never list items or headings
    assert html.count("<p>") == 2


def test_math_environments_and_brackets_in_list_items():
    text = "1. Start:\n   \\[\n   x = \\frac{a}{b}\n   \\]\n2. Then \\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}."
    html = render_markdown(text)
    assert f"{BLOCK}\\[\nx = \\frac{{a}}{{b}}\n\\]</div>" in html  # the list item's indentation is not LaTeX
    assert f"{DISPLAY}\\begin{{pmatrix}} a &amp; b \\\\ c &amp; d \\end{{pmatrix}}</span>" in html


def test_unclosed_delimiters_are_text():
    for text in ("$$\nx = 1\n\nmore", "\\[ x", "\\begin{align} x", "a $x"):
        assert "mmchat-math" not in render_markdown(text), text


def test_the_answer_wrapper_keeps_mathjax_to_the_formulas():
    assert render_markdown("$x$").startswith('<div class="mmchat-md mathjax_ignore">')


def test_gfm_task_lists_strikethrough_and_bare_urls():
    html = render_markdown("- [x] done ~~old~~\n- [ ] todo\n\nSee www.example.com/a_b and https://ex.org/x.")
    assert '<input class="task-list-item-checkbox" disabled="" type="checkbox" checked="">' in html
    assert "<del>old</del>" in html
    assert '<a href="http://www.example.com/a_b"' in html and '<a href="https://ex.org/x"' in html


def test_list_shapes_models_write():
    # sub-lists indented by 2-3 spaces, a list right after a paragraph line, code in a numbered step, __init__
    text = ("Steps:\n1. Install:\n   ```bash\n   pip install x\n   ```\n2. Configure\n  - sub a\n  - sub b\n\n"
            "Call `__init__` and __init__ here.")
    html = render_markdown(text)
    assert "<p>Steps:</p>\n<ol>" in html
    assert '<code class="language-bash"' in html and "```" not in html
    assert "<ul>\n<li>sub a</li>" in html
    assert "<code>__init__</code> and <strong>init</strong> here" in html  # bare __init__ is bold on GitHub too


def test_autolink_rules_look_only_at_a_window_around_them(monkeypatch):
    # upstream they copy the rest of the paragraph at every trigger character: minutes for a 5 MB paragraph
    from mmchat_jupyter.render import _markdown

    seen: list[int] = []
    original = _markdown._bounded

    def spying(rule):
        def spy(state, silent):
            seen.append(max(state.posMax - state.pos, len(state.pending)))
            return rule(state, silent)
        return original(spy)

    monkeypatch.setattr(_markdown, "_bounded", spying)
    monkeypatch.setattr(_markdown, "_local", type(_markdown._local)())  # a fresh parser with the spy
    text = "see www.example.com: " * 2_000 + "and https://example.org/x."
    html = render_markdown(text)
    assert html.count('href="http://www.example.com"') == 2_000 and 'href="https://example.org/x"' in html
    assert seen and max(seen) <= _markdown._WINDOW
