"""Do real model answers render as GitHub renders them, and does their LaTeX survive?

For every answer in the sample (tests/data/fixtures/llm-answers: AlpacaEval GPT-4, Gemini, Qwen2; GigaChat and
YandexGPT on MATH-500 and HumanEval) and in the out-of-sample set (tests/data/llm-answers-extra: other models,
see SOURCES.md there), prints per file and in total:

  * structure: the share of answers without math whose sequence of block and inline tags (paragraphs, lists and
    their nesting, code blocks, tables, headings, quotes, emphasis, links, rules) equals cmark-gfm's, GitHub's own
    renderer (`cmarkgfm`, a test-only dependency) with its GFM extensions; text, attributes and highlighting are
    ignored, and images count as links (we render them as links on purpose). Target: >= 99.5%.
  * math: the share of answers with math whose every formula ($…$, $$…$$, \\(…\\), \\[…\\], \\begin{env}…) reaches the
    HTML as its LaTeX source, delimiters included, as the text of one element marked as math (whitespace
    compared loosely: re-indenting a formula in a list item changes no LaTeX). Target: >= 99%. Formulas are found
    by an extractor written here, independently of the renderer, outside code spans and fences.

`--old` measures the previous renderer (python-markdown; needs the `markdown` package) the same way, except that
math counts as surviving when the formula's source appears in the HTML's text at all (it had no math elements).
`--show N` prints the first N failures of each kind. Run: python benchmarks/markdown_fidelity.py
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
from cmarkgfm.cmark import Options

from mmchat_jupyter.render import render_markdown

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SETS = {"sample": DATA / "fixtures" / "llm-answers", "out of sample": DATA / "llm-answers-extra"}

STRUCTURE_TAGS = {
    "p", "ul", "ol", "li", "pre", "code", "table", "thead", "tbody", "tr", "th", "td", "h1", "h2", "h3", "h4", "h5",
    "h6", "blockquote", "em", "strong", "del", "a", "hr",
}
_VOID = {"hr", "br"}
MATH_HINT = re.compile(r"\$|\\\(|\\\[|\\begin\{")


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.tags += ["<a>", "</a>"]
        elif tag in STRUCTURE_TAGS:
            self.tags.append(f"<{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in STRUCTURE_TAGS and tag not in _VOID:
            self.tags.append(f"</{tag}>")


def structure(html: str) -> list[str]:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    return parser.tags


def github(text: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(text, Options.CMARK_OPT_UNSAFE)


# --- formulas, found independently of the renderer --------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[ \t]*$|\Z)", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_ENVIRONMENT = (r"(?:equation|align|alignat|aligned|gather|gathered|multline|flalign|split|eqnarray|cases|array|"
                r"[pbBvV]?matrix)\*?")
_ANY = r"(?:(?!\n[ \t]*\n).)"  # any character, but a formula never spans a blank line (a paragraph break)
_FORMULA = re.compile(
    rf"\$\${_ANY}+?\$\$"
    rf"|\\\[{_ANY}+?\\\]"
    rf"|\\\({_ANY}+?\\\)"
    rf"|\\begin\{{({_ENVIRONMENT})\}}{_ANY}*?\\end\{{\1\}}"
    rf"|(?<![\\$])\$(?=\S)(?:\\.|(?!\n[ \t]*\n)[^$\\])+?(?<=\S)\$(?!\d)",
    re.S,
)


def formulas(text: str) -> list[str]:
    """The formulas of a Markdown answer, outside code: what a reader sees as math."""
    text = _FENCE.sub("\n", text)
    text = _CODE_SPAN.sub(" ", text)
    return [match.group(0) for match in _FORMULA.finditer(text)]


class _MathElements(HTMLParser):
    """The text of every element marked as math, and all text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.math: list[str] = []
        self.text: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if self._depth:
            self._depth += 1
        elif "mmchat-math" in classes:
            self._depth = 1
            self.math.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._depth:
            self.math[-1] += data


def _loose(text: str) -> str:
    return " ".join(text.split())


def math_survives(text: str, html: str, in_elements: bool) -> bool:
    parser = _MathElements()
    parser.feed(html)
    parser.close()
    if in_elements:
        shown = {_loose(unescape(math)) for math in parser.math}
        return all(_loose(formula) in shown for formula in formulas(text))
    whole = _loose("".join(parser.text))
    return all(_loose(formula) in whole for formula in formulas(text))


# --- the run ------------------------------------------------------------------------------------------------------


def answers(folder: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            yield path.stem, json.loads(line)["text"]


def old_renderer() -> Callable[[str], str]:
    """The python-markdown renderer this package used before (fenced_code, tables, sane_lists, no raw HTML)."""
    import markdown

    md = markdown.Markdown(extensions=["fenced_code", "sane_lists", "tables", "codehilite"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return lambda text: md.reset().convert(text)


def measure(render: Callable[[str], str], folder: Path, in_elements: bool, show: int) -> tuple[int, int, int, int]:
    per_file: dict[str, list[int]] = {}
    failures: dict[str, list[str]] = {"structure": [], "math": []}
    for name, text in answers(folder):
        counts = per_file.setdefault(name, [0, 0, 0, 0])  # structure ok, of, math ok, of
        html = render(text)
        if MATH_HINT.search(text) and formulas(text):
            counts[3] += 1
            if math_survives(text, html, in_elements):
                counts[2] += 1
            else:
                failures["math"].append(text)
        else:
            counts[1] += 1
            if structure(html) == structure(github(text)):
                counts[0] += 1
            else:
                failures["structure"].append(text)
    for name, (ok, of, math_ok, math_of) in per_file.items():
        print(f"  {name:<52} structure {_share(ok, of):>16}   math {_share(math_ok, math_of):>16}")
    totals = [sum(counts[i] for counts in per_file.values()) for i in range(4)]
    for kind, texts in failures.items():
        for text in texts[:show]:
            print(f"--- {kind} failure:\n{text[:1500]}\n")
    return totals[0], totals[1], totals[2], totals[3]


def _share(ok: int, of: int) -> str:
    return f"{ok / of:7.2%} ({ok}/{of})" if of else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", action="store_true", help="measure the previous python-markdown renderer")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print the first N failures of each kind")
    args = parser.parse_args()
    render = old_renderer() if args.old else render_markdown
    label = "old renderer (python-markdown)" if args.old else "markdown-it-py renderer"
    print(f"{label}; structure compared with cmark-gfm (cmarkgfm)")
    for set_name, folder in SETS.items():
        print(f"{set_name}: {folder.relative_to(DATA.parents[1])}")
        ok, of, math_ok, math_of = measure(render, folder, not args.old, args.show)
        print(f"  {'TOTAL':<52} structure {_share(ok, of):>16}   math {_share(math_ok, math_of):>16}"
              f"   (targets: >= 99.5%, >= 99%)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
