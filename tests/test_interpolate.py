"""`{name}` placeholders in `%%chat` prompts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmchat_jupyter.errors import ConfigError
from mmchat_jupyter.interpolate import escape, interpolate


class Config:
    name = "cfg"

    def __str__(self) -> str:
        return "<Config>"


NS = {"x": 5, "df": "a table", "In": ["", "a = 1", "a * 2"], "Out": {2: 2}, "d": {"k": [1, 2, 3]}, "cfg": Config()}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{x} and {df}", "5 and a table"),
        ("{In[1]} -> {Out[2]}", "a = 1 -> 2"),
        ("{d['k'][-1]} {d[\"k\"][0]} {cfg.name} {cfg}", "3 1 cfg <Config>"),
        ("{{x}} {{{x}}} a}}b {{", "{x} {5} a}b {"),
        ("{undefined} {a: 1} f\"{y!r}\" {} { x }", "{undefined} {a: 1} f\"{y!r}\" {} { x }"),
        ("lone } and { braces", "lone } and { braces"),
        ("", ""),
    ],
)
def test_placeholders(text, expected):
    assert interpolate(text, NS) == expected


@pytest.mark.parametrize("text, error", [("{Out[9]}", "KeyError"), ("{x.nope}", "AttributeError"),
                                         ("{In[99]}", "IndexError")])
def test_failed_lookup_on_a_defined_name_is_one_line(text, error):
    with pytest.raises(ConfigError) as raised:
        interpolate(text, NS)
    message = str(raised.value)
    assert text in message and error in message and "\n" not in message


def test_a_broken_str_is_reported_not_raised():
    class Broken:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(ConfigError, match="RuntimeError: boom"):
        interpolate("{b}", {"b": Broken()})


@given(st.text())
def test_escaped_text_comes_back_unchanged(text):
    # What export does to a prompt so that the %%chat cell hands it back byte for byte.
    assert interpolate(escape(text), NS) == text  # not every brace doubled: `\{`, code and math stay as written


# --- LaTeX and code are never touched -----------------------------------------------------------------------------


class Everything(dict):
    """A namespace where every name is defined: the worst case for a prompt full of braces."""

    def __contains__(self, name: object) -> bool:
        return True

    def __missing__(self, name: str) -> str:
        return "<FILLED>"


@pytest.mark.parametrize("text", [
    "$\\mathbf{x}$", "$$\\frac{a}{b}$$", "\\(\\sum_{i} x_{i}\\)", "\\[ \\{ x \\} \\]",
    "\\begin{pmatrix} {a} & b \\end{pmatrix}", "`{x}`", "``f\"{x}\"``", "```python\nprint(f'{x}')\n```",
    "~~~\n{x}\n~~~", "```\nunclosed {x}",
])
def test_latex_and_code_stay_byte_identical_even_when_every_name_is_defined(text):
    assert interpolate(text, Everything()) == text


def test_only_prose_placeholders_are_filled_next_to_formulas_and_code():
    text = "Value {x}: $\\mathbf{x}_{i}$, `{x}` and\n```\n{x}\n```\nthen {x} again; money $5 {x} and $10."
    assert interpolate(text, {"x": 5}) == (
        "Value 5: $\\mathbf{x}_{i}$, `{x}` and\n```\n{x}\n```\nthen 5 again; money $5 5 and $10.")


def formulas_and_code(text: str) -> list[str]:
    """Independently of interpolate.py: fenced blocks, code spans and the usual formula delimiters."""
    import re

    found = [m.group(0) for m in re.finditer(r"^(```|~~~)[^\n]*\n.*?^\1", text, flags=re.M | re.S)]
    rest = re.sub(r"^(```|~~~)[^\n]*\n.*?^\1", "", text, flags=re.M | re.S)
    found += re.findall(r"`[^`\n]+`", rest)
    found += re.findall(r"\$\$[^$]+\$\$|\\\[.+?\\\]|\\\(.+?\\\)", rest, flags=re.S)
    return found


def test_the_latex_and_code_of_real_answers_survive_interpolation():
    import json

    from tests.conftest import FIXTURES

    checked = 0
    for path in sorted((FIXTURES / "llm-answers").glob("simple-evals-ru-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            filled = interpolate(text, Everything())
            for piece in formulas_and_code(text):
                assert piece in filled, piece
                checked += 1
    assert checked > 2000


@given(st.lists(st.sampled_from([*"{}$`\\()[]x ab\n~", "{x}", "$$", "```\n", "\\begin{align}"]), max_size=40)
       .map("".join))
def test_escape_is_what_interpolate_undoes(text):
    assert interpolate(escape(text), Everything()) == text
