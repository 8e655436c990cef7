"""Hostile Markdown must come out inert: checked structurally, element by element, with an HTML parser.

The allow-list below is written out independently of mmchat_jupyter/_sanitize.py on purpose: if the sanitizer's
policy loosens by accident, these tests fail instead of following it.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.token import STANDARD_TYPES

from mmchat_jupyter.render import StreamingRenderer, render_markdown

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set() for tag in (
        "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "em", "strong", "del", "pre", "blockquote",
        "ul", "li", "table", "thead", "tbody", "tr",
    )},
    "a": {"href", "title", "rel", "target"},
    "ol": {"start", "class"},
    "ul": {"class"},
    "p": {"class"},
    "li": {"class"},
    "table": {"class", "style"},
    "blockquote": {"class"},
    "th": {"style"},
    "td": {"style"},
    "code": {"class", "style"},
    "span": {"class"},
    "div": {"class", "style"},
    "pre": {"style"},
    "input": {"class", "type", "disabled", "checked"},
}
PYGMENTS_CLASSES = {name for name in STANDARD_TYPES.values() if name}
MATH = {"mmchat-math", "mmchat-display", "mathjax_process"}
PIECES = {"mmchat-cut", "mmchat-cont"}
ALLOWED_CLASSES = {
    "span": PYGMENTS_CLASSES | MATH, "div": {"mmchat-md", "mathjax_ignore", "highlight"} | MATH | PIECES,
    **dict.fromkeys(("p", "table", "blockquote"), PIECES), "ul": PIECES | {"contains-task-list"},
    "ol": PIECES | {"contains-task-list"}, "li": {"task-list-item"}, "input": {"task-list-item-checkbox"},
}
# Inline styles: only these exact strings (the code box and the table layout that must survive host CSS).
ALLOWED_STYLES = {
    "div": {("background:rgba(127,127,127,.1);border:1px solid rgba(127,127,127,.25);border-radius:6px;"
            "margin:0 0 1em;overflow-x:auto")},
    "pre": {"margin:0;padding:.6em .8em;background:transparent;line-height:1.45"},
    "code": {"background:transparent;padding:0;border:0"},
    "table": {"margin:0 0 1em;table-layout:auto;border-collapse:collapse"},
    "th": {"text-align:left", "text-align:center", "text-align:right"},
    "td": {"text-align:left", "text-align:center", "text-align:right"},
}
LINK_SCHEMES = {"http", "https", "mailto"}


class AllowListChecker(HTMLParser):
    """Collects every way an HTML string steps outside the allow-list."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)  # see raw text: a bare "<" in it would hint at a parser mismatch
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_ATTRIBUTES:
            self.problems.append(f"element <{tag}>")
            return
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES[tag]:
                self.problems.append(f"attribute {name!r} on <{tag}>")
            elif value is None and name not in ("disabled", "checked"):
                self.problems.append(f"valueless {name!r} on <{tag}>")
            elif value is None:
                continue
            else:
                self._check_value(tag, name, value)

    handle_startendtag = handle_starttag

    def _check_value(self, tag: str, name: str, value: str) -> None:
        if name == "href":
            scheme = urlsplit(value).scheme.lower()
            if scheme not in LINK_SCHEMES or value != value.strip() or re.search(r"[\x00-\x1f]", value):
                self.problems.append(f"href {value!r}")
        elif name == "class":
            classes = value.split()
            allowed = ALLOWED_CLASSES.get(tag)
            if tag == "code":
                ok = len(classes) == 1 and re.fullmatch(r"language-[\w#+.-]+", classes[0]) is not None
            else:
                ok = allowed is not None and set(classes) <= allowed
            if not ok:
                self.problems.append(f"class {value!r} on <{tag}>")
        elif name == "style" and value not in ALLOWED_STYLES.get(tag, ()):
            self.problems.append(f"style {value!r} on <{tag}>")
        elif name == "type" and value != "checkbox":
            self.problems.append(f"input type {value!r}")
        elif name in ("disabled", "checked") and value:
            self.problems.append(f"{name} {value!r}")
        elif name == "start" and not value.isdigit():
            self.problems.append(f"start {value!r}")
        elif name == "target" and value != "_blank":
            self.problems.append(f"target {value!r}")
        elif name == "rel" and set(value.split()) != {"noopener", "noreferrer", "nofollow"}:
            self.problems.append(f"rel {value!r}")

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.problems.append(f"unescaped markup in text {data!r}")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.text.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.text.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"unknown declaration {data!r}")


def problems(html: str) -> list[str]:
    checker = AllowListChecker()
    checker.feed(html)
    checker.close()
    if checker.rawdata:
        checker.problems.append(f"unparsed tail {checker.rawdata!r}")
    return checker.problems


def visible_text(html: str) -> str:
    checker = AllowListChecker()
    checker.feed(html)
    checker.close()
    return unescape("".join(checker.text))


def assert_inert(html: str) -> None:
    assert problems(html) == [], html


PAYLOADS = [
    # script elements
    "<script>alert(1)</script>",
    "<SCRIPT>alert(1)</SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)<</script>/script>",
    "<script src=//evil.example/x.js></script>",
    "text\n\n<script>\nalert(1)\n</script>\n\nmore",
    "**<script>**alert(1)**</script>**",
    "\x00<script>alert(1)</script>",
    # event handlers
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<body onload=alert(1)>",
    '<a href="http://ok.example" onmouseover="alert(1)">x</a>',
    '<div onclick="alert(1)">click</div>',
    "<details open ontoggle=alert(1)>x</details>",
    # dangerous URLs in Markdown links, autolinks and reference links
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;&#x76;&#x61;script:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](jav\tascript:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x](//evil.example/relative)",
    "<javascript:alert(1)>",
    "<http://ok.example/\"onmouseover=\"alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x][r]\n\n[r]: data:text/html,<script>alert(1)</script>",
    "[x]\n\n[x]: vbscript:msgbox(1)",
    # SVG / MathML / parser-confusion tricks
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=javascript:alert(1)><text>x</text></a></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<xmp><script>alert(1)</script></xmp>",
    "<template><script>alert(1)</script></template>",
    # embedding and navigation
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="http://evil.example/x.css">',
    # unclosed tags
    '<img src="x" onerror="alert(1)"',
    "<a href='javascript:alert(1)'>never closed",
    # HTML inside code
    "```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```",
    "```\n<iframe src=javascript:alert(1)>\n```",
    "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>",
    "```{ .python onclick=alert(1) noclasses=true tabsize=abc }\n\tprint(1)\n```",
    '```python" onmouseover="alert(1)\nx = 1\n```',
    # images and attribute breaking
    '![x](x" onerror="alert(1))',
    '![x](http://ok.example/a.png" onerror="alert(1))',
    "![x](javascript:alert(1))",
    "![<svg onload=alert(1)>](http://ok.example/a.png)",
    "[<img src=x onerror=alert(1)>](http://ok.example)",
    '[x](http://ok.example "title\\" onmouseover=\\"alert(1)")',
    "[x](http://ok.example 'a\" onclick=\"alert(1)')",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [y](javascript:alert(1)) |",
    # CSS
    '<div style="width: expression(alert(1))">x</div>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    "<!-- <script>alert(1)</script> -->",
    # math: formulas are kept as text, never as markup
    "$<img src=x onerror=alert(1)>$",
    "$$<script>alert(1)</script>$$",
    "\\(</span><script>alert(1)</script>\\)",
    "\\[</div><img src=x onerror=alert(1)>\\]",
    "$$\n</div><svg onload=alert(1)>\n$$",
    "\\begin{align}</span><script>alert(1)</script>\\end{align}",
    "$x$<script>alert(1)</script>$y$",
    "| $a<b$ | $<img src=x onerror=alert(1)>$ |\n|---|---|\n| 1 | 2 |",
    # autolinks of bare URLs
    "javascript:alert(1)",
    "www.javascript:alert(1)",
    "http://ok.example/<script>alert(1)</script>",
    "see https://ok.example/\"onmouseover=\"alert(1) now",
    "mail me@evil.example?<img src=x onerror=alert(1)>",
    "- [x] <img src=x onerror=alert(1)>",
]


def test_there_are_enough_payloads():
    assert len(PAYLOADS) >= 30


@pytest.mark.parametrize("payload", PAYLOADS)
def test_render_markdown_output_is_inert(payload):
    assert_inert(render_markdown(payload))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_streaming_one_char_chunks_every_update_is_inert(payload):
    renderer = StreamingRenderer()
    for char in payload:
        renderer.append(char)
        for block in renderer.update().blocks:
            assert_inert(block)
    assert_inert(renderer.finish())


@pytest.mark.parametrize("size", [2, 3, 7])
def test_streaming_all_payloads_in_one_answer_is_inert(size):
    answer = "\n\n".join(PAYLOADS)
    renderer = StreamingRenderer()
    for start in range(0, len(answer), size):
        renderer.append(answer[start:start + size])
        if start % (size * 16) == 0:
            assert_inert(renderer.html)
    assert_inert(renderer.html)
    assert_inert(renderer.finish())


@pytest.mark.parametrize("opening", ["```html", "~~~{ .js onclick=alert(1) }", "```nosuchlang", "````"])
def test_long_open_fence_streamed_is_inert(opening):
    # past PIECE_LIMIT characters an open fence streams in pieces: each piece must be as inert
    body = "</code></pre></div><script>alert(1)</script>\n<img src=x onerror=alert(1)>\n\n" * 60
    text = "Intro <b>x</b>\n" + opening + "\n" + body
    renderer = StreamingRenderer()
    for start in range(0, len(text), 97):
        renderer.append(text[start:start + 97])
        for block in renderer.update().blocks:
            assert_inert(block)
    # streamed in pieces (one code box each): the code is all there, in order
    assert body.replace("\n", "") in visible_text(renderer.html).replace("\n", "")
    assert "Intro <b>x</b>" in visible_text(renderer.html)


def test_script_split_across_chunks():
    renderer = StreamingRenderer()
    for chunk in ["Hi <scr", "ipt>alert(1)</sc", "ript> and <img sr", "c=x onerr", "or=alert(1)>"]:
        renderer.append(chunk)
        assert_inert(renderer.html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in renderer.finish()


def test_replace_with_hostile_text_is_inert():
    renderer = StreamingRenderer()
    renderer.append("Safe text\n\nmore safe text\n\n")
    _ = renderer.update()
    renderer.replace("Safe text\n\n<script>alert(1)</script> [x](javascript:alert(1))")
    assert_inert(renderer.html)


def test_raw_html_stays_visible_as_text():
    html = render_markdown("Use <b>bold</b> and <script>alert(1)</script>\n\n<div onclick=x>\nblock\n</div>")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;div onclick=x&gt;" in html


def test_html_in_code_fence_is_shown_highlighted_not_executed():
    html = render_markdown("```html\n<script>alert(1)</script>\n```")
    assert_inert(html)
    assert 'class="language-html"' in html
    assert '<span class="nt">script</span>' in html
    assert "<script>alert(1)</script>" in visible_text(html)


def test_dangerous_links_keep_their_text_but_lose_the_url():
    html = render_markdown("[click me](javascript:alert(1)) and [ok](https://ok.example/)")
    assert_inert(html)
    assert 'href="javascript' not in html and "click me" in visible_text(html)  # the parser refuses the link
    assert 'href="https://ok.example/"' in html


@pytest.mark.parametrize("options", ["tabsize=abc", "stripnl=maybe", "linenos=table noclasses=true",
                                     "use_pygments=false"])
def test_fence_options_cannot_reach_pygments(options):
    # the info string names the language; nothing else in it reaches Pygments or our markup
    html = render_markdown(f"```python {options}\nx = 1\n```")
    assert ('<code class="language-python" style="background:transparent;padding:0;border:0">'
            '<span class="n">x</span>') in html and "<table" not in html


def test_checker_catches_what_it_should():
    assert problems('<div class="mmchat-md"><p>ok</p></div>') == []
    assert problems('<td style="text-align:left">x</td>') == []
    assert problems('<td style="text-align:left;background:url(x)">x</td>')
    assert problems('<input type="text">')
    assert problems("<script>x</script>")
    assert problems('<a href="javascript:x">x</a>')
    assert problems('<a href="/relative">x</a>')
    assert problems('<p onclick="x">x</p>')
    assert problems('<span class="k evil">x</span>')
    assert problems('<p style="color:red">x</p>')
    assert problems("<!-- x -->")
    assert problems("<p>a < b</p>")


MARKUP_TEXT = st.lists(
    st.sampled_from([*"<>&\"'`*_[]()!#:;=/\\ \n\t-.{}~|x1я\u2028", "script", "onerror", "javascript:", "```", "<img",
                     "$", "$$", "\\(", "\\]", "www.", "https://", "\\begin{align}", "\\end{align}"]),
    max_size=80,
).map("".join)


def test_math_is_text_in_a_math_element():
    html = render_markdown("$<img src=x onerror=alert(1)>$ and \\(</span><script>alert(1)</script>\\)")
    assert_inert(html)
    assert '<span class="mmchat-math mathjax_process">$&lt;img src=x onerror=alert(1)&gt;$</span>' in html
    assert "\\(&lt;/span&gt;&lt;script&gt;alert(1)&lt;/script&gt;\\)</span>" in html


def test_bare_javascript_urls_are_not_linked():
    html = render_markdown("javascript:alert(1) www.example.com/x https://ok.example/a")
    assert_inert(html)
    assert html.count("<a ") == 2 and 'href="javascript' not in html


@settings(max_examples=300, deadline=None)
@given(st.one_of(MARKUP_TEXT, st.text(max_size=200)))
def test_any_text_renders_without_error_and_inert(text):
    assert_inert(render_markdown(text))
    renderer = StreamingRenderer()
    for start in range(0, len(text), 7):
        renderer.append(text[start:start + 7])
        if start % 21 == 0:
            assert_inert(renderer.html)
    assert_inert(renderer.html)
    assert renderer.finish() == render_markdown(text)
